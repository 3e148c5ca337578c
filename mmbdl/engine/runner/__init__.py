from .bidirectional_loop import BidirectionalTrainLoop, Phase, plan_phases
from .round_table import format_round_table

__all__ = [
    'BidirectionalTrainLoop', 'Phase', 'plan_phases', 'format_round_table'
]
