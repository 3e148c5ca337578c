from .bdl_runner import BDLRunner
from .bidirectional_loop import BidirectionalTrainLoop, Phase, plan_phases
from .round_table import format_round_table

__all__ = [
    'BDLRunner', 'BidirectionalTrainLoop', 'Phase', 'plan_phases',
    'format_round_table'
]
