from .bdl_iou_metric import BDLIoUMetric
from .prediction_writer import PredictionWriter

__all__ = ['BDLIoUMetric', 'PredictionWriter']
