from .border_ignore_mask import (BorderIgnoreMask, PackSegInputsWithIgnoreMask,
                                 SegFieldsPad, SegFieldsRandomFlip,
                                 SegFieldsRandomResize, border_ignore_mask)
from .load_pseudo_label import LoadPseudoLabel
from .pack_bdl_seg_inputs import PackBDLSegInputs
from .resize_width import ResizeWidth

__all__ = [
    'BorderIgnoreMask', 'LoadPseudoLabel', 'PackBDLSegInputs',
    'PackSegInputsWithIgnoreMask', 'ResizeWidth', 'SegFieldsPad',
    'SegFieldsRandomFlip', 'SegFieldsRandomResize', 'border_ignore_mask'
]
