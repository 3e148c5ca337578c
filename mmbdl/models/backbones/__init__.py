"""Backbones of mmbdl."""
from .deeplabv2_resnet import DeepLabV2ResNet
from .vgg16_fcn import VGG16FCN

__all__ = ['DeepLabV2ResNet', 'VGG16FCN']
