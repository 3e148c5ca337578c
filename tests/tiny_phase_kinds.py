"""A plugin's phase kind (test-only): ``target_finetune``, cross-entropy of
M on the target pseudo-labels alone (no source term, no discriminator)."""
from mmbdl.engine.runner.phase_kinds import PSEUDO_LABELS, PhaseKind
from mmbdl.registry import PHASE_KINDS


@PHASE_KINDS.register_module(name='target_finetune', force=True)
class TargetFinetunePhase(PhaseKind):
    """Cross-entropy of M on the target pseudo-labels only."""

    name = 'target_finetune'
    consumes = (PSEUDO_LABELS, )

    def model_name(self, k: int, i: int) -> str:
        return f'M_ft^({k})'

    def train_step(self, model, data, optim_wrapper):
        seg = model.inference_segmentor
        wrapper = optim_wrapper['segmentor']
        with wrapper.optim_context(seg):
            batch = model.segmentor.data_preprocessor(data, True)
            losses = seg.loss(batch['inputs']['target'],
                              batch['data_samples']['target'])
            loss, log_vars = seg.parse_losses(
                {f'tgt.{k}': v for k, v in losses.items()})
        wrapper.update_params(loss)
        return log_vars
