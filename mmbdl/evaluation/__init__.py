from .bdl_iou_metric import BDLIoUMetric

__all__ = ['BDLIoUMetric']
