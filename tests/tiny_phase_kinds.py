"""A plugin's phase kind (test-only): ``target_finetune``, cross-entropy of
M on the target pseudo-labels alone (no source term, no discriminator).

The kind only names its term; the term (registered here too) computes the
loss, and M's own ``train_step`` runs it.
"""
from mmbdl.engine.runner.phase_kinds import PSEUDO_LABELS, PhaseKind
from mmbdl.models.uda_terms import UDALossTerm
from mmbdl.registry import LOSS_TERMS, PHASE_KINDS


@LOSS_TERMS.register_module(name=['TargetCE', 'target_ce'], force=True)
class TargetCE(UDALossTerm):
    """The decode head's losses on the target pseudo-labels (``tgt.*``)."""

    name = 'target_ce'
    reads = ('target', 'target_labels')
    loss_keys = ('tgt.decode.loss_ce', )

    def loss(self, step):
        seg = step.model.segmentor
        losses = seg.loss(step.target, step.target_samples)
        return {f'tgt.{k}': v for k, v in losses.items()}


@PHASE_KINDS.register_module(name='target_finetune', force=True)
class TargetFinetunePhase(PhaseKind):
    """Cross-entropy of M on the target pseudo-labels only."""

    name = 'target_finetune'
    consumes = (PSEUDO_LABELS, )
    terms = ('target_ce', )

    def model_name(self, k: int, i: int) -> str:
        return f'M_ft^({k})'
