"""Backbones of mmbdl."""
from .deeplabv2_resnet import DeepLabV2ResNet
from .dinov2_vit import DINOv2VisionTransformer
from .vgg16_fcn import VGG16FCN

__all__ = ['DeepLabV2ResNet', 'DINOv2VisionTransformer', 'VGG16FCN']
