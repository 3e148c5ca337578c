"""Decode heads of mmbdl."""
from .deeplabv2_head import DeepLabV2Head
from .fcn8s_head import FCN8sHead
from .vfm_light_head import LayerNorm2d, VFMLightHead

__all__ = ['DeepLabV2Head', 'FCN8sHead', 'LayerNorm2d', 'VFMLightHead']
