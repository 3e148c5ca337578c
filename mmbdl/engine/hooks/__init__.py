from .bdl_hook import BDLHook, PhaseArtifacts  # noqa: F401
from .ema_teacher_hook import EMATeacherHook  # noqa: F401
from .pseudo_label_hook import PseudoLabelHook  # noqa: F401
from .source_translation_hook import SourceTranslationHook  # noqa: F401
from .translation_visualization_hook import \
    TranslationVisualizationHook  # noqa: F401
from .weights_check_hook import WeightsCheckHook  # noqa: F401
