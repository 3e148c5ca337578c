"""Image translators (BDL's translation model F) and their contract."""
from .base_translator import (BaseTranslator, build_translator,
                              check_translator, missing_contract_members)
from .fda import fda_source_to_target
from .fda_translator import FDATranslator
from .perceptual_cyclegan import PerceptualCycleGAN
from .utils import (ImageNormalization, generator_to_segmentor_input,
                    get_generator_normalization, get_segmentor_normalization)

__all__ = [
    'BaseTranslator', 'build_translator', 'check_translator',
    'missing_contract_members', 'fda_source_to_target', 'FDATranslator',
    'PerceptualCycleGAN', 'ImageNormalization',
    'generator_to_segmentor_input', 'get_generator_normalization',
    'get_segmentor_normalization'
]
