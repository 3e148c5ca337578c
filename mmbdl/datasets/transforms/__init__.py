from .load_pseudo_label import LoadPseudoLabel
from .pack_bdl_seg_inputs import PackBDLSegInputs
from .resize_width import ResizeWidth

__all__ = ['LoadPseudoLabel', 'PackBDLSegInputs', 'ResizeWidth']
