"""Backbones of mmbdl."""
from .deeplabv2_resnet import DeepLabV2ResNet
from .dinov2_vit import DINOv2VisionTransformer, vfm_input_size
from .vgg16_fcn import VGG16FCN

__all__ = [
    'DeepLabV2ResNet', 'DINOv2VisionTransformer', 'VGG16FCN',
    'vfm_input_size'
]
