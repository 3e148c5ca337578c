from .bdl_iou_metric import BDLIoUMetric
from .prediction_writer import PredictionWriter
from .round_table import format_round_table

__all__ = ['BDLIoUMetric', 'PredictionWriter', 'format_round_table']
