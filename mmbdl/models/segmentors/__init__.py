"""Segmentors of mmbdl."""
from .adv_self_training_segmentor import AdvSelfTrainingSegmentor
from .bdl_encoder_decoder import BDLEncoderDecoder
from .ema_teacher_segmentor import EMATeacherSegmentor

__all__ = [
    'AdvSelfTrainingSegmentor', 'BDLEncoderDecoder', 'EMATeacherSegmentor'
]
