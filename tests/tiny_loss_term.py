"""A plugin's loss term (test-only): entropy of M's target predictions
(AdvEnt's direct entropy minimisation), imported through
``custom_imports``."""
from mmbdl.models.uda_terms import UDALossTerm
from mmbdl.registry import LOSS_TERMS


@LOSS_TERMS.register_module(name=['TargetEntropy'], force=True)
class TargetEntropy(UDALossTerm):
    """``weight * mean_p(-sum_c p_c log p_c)`` of M on the target."""

    name = 'target_entropy'
    reads = ('target', )
    loss_keys = ('ent.loss_ent', )

    def __init__(self, weight: float = 0.01) -> None:
        self.weight = weight

    def loss(self, step):
        probs = step.model.probs(step.target_logits(), step.target.shape[2:])
        ent = -(probs * probs.clamp(min=1e-12).log()).sum(1).mean()
        return {'ent.loss_ent': self.weight * ent}
