"""Segmentors of mmbdl."""
from .adv_self_training_segmentor import AdvSelfTrainingSegmentor
from .bdl_encoder_decoder import BDLEncoderDecoder
from .bdl_seg_tta_model import BDLSegTTAModel
from .ema_teacher_segmentor import EMATeacherSegmentor

__all__ = [
    'AdvSelfTrainingSegmentor', 'BDLEncoderDecoder', 'BDLSegTTAModel',
    'EMATeacherSegmentor'
]
