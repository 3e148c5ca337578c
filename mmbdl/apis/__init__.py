"""High-level inference APIs of mmbdl."""
from .bdl_seg_inferencer import BDLSegInferencer

__all__ = ['BDLSegInferencer']
