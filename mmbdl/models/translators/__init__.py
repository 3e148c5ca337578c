"""Image translators (BDL's translation model F)."""
from .perceptual_cyclegan import PerceptualCycleGAN
from .utils import (ImageNormalization, generator_to_segmentor_input,
                    get_generator_normalization, get_segmentor_normalization)

__all__ = [
    'PerceptualCycleGAN', 'ImageNormalization',
    'generator_to_segmentor_input', 'get_generator_normalization',
    'get_segmentor_normalization'
]
