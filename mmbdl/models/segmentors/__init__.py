"""Segmentors of mmbdl."""
from .adv_self_training_segmentor import AdvSelfTrainingSegmentor
from .bdl_encoder_decoder import BDLEncoderDecoder

__all__ = ['AdvSelfTrainingSegmentor', 'BDLEncoderDecoder']
