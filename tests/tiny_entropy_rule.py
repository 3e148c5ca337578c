"""A plugin's pseudo-label rule (test-only): keep a pixel iff the entropy
of its class probabilities, normalised by ``log(C)``, is at most
``max_entropy``; weight it by ``1 - entropy``. It needs every class's
probability, not only the maximum."""
import math

from mmbdl.models.utils import IGNORE_INDEX, PseudoLabelRule
from mmbdl.registry import TASK_UTILS


@TASK_UTILS.register_module(force=True)
class EntropyRule(PseudoLabelRule):
    """Low-entropy pixels keep their label, weighted by ``1 - entropy``."""

    name = 'EntropyRule'
    weighted = True
    uses_max_prob = False

    def __init__(self, max_entropy: float = 0.5) -> None:
        self.max_entropy = float(max_entropy)

    def entropy(self, prob):
        """Normalised entropy per pixel of ``(N, C, H, W)`` probabilities.
        """
        ent = -(prob * prob.clamp(min=1e-12).log()).sum(dim=1)
        return ent / math.log(prob.shape[1])

    def select(self, prob):
        ent = self.entropy(prob)
        label = prob.argmax(dim=1).masked_fill(ent > self.max_entropy,
                                               IGNORE_INDEX)
        return label, (1.0 - ent).clamp(0.0, 1.0)

    def to_dict(self):
        return dict(type=self.name, max_entropy=self.max_entropy)
