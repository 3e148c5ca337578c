from mmbdl.evaluation.round_table import format_round_table
from .bdl_runner import BDLRunner
from .bidirectional_loop import BidirectionalTrainLoop, Phase, plan_phases
from .phase_kinds import PhaseKind, paper_plan, phase_kind, set_model_phase

__all__ = [
    'BDLRunner', 'BidirectionalTrainLoop', 'Phase', 'PhaseKind',
    'paper_plan', 'phase_kind', 'plan_phases', 'format_round_table',
    'set_model_phase'
]
