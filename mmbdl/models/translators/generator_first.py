"""The CycleGAN update order of the BDL release: generators first."""
from typing import Dict

import torch
from mmagic.models.utils import set_requires_grad
from mmengine import MessageHub
from mmengine.optim import OptimWrapperDict
from torch import Tensor

from .perceptual_memory import loss_scale_of


class GeneratorFirstStepMixin:
    """``_generator_first_step`` for a subclass of MMagic's ``CycleGAN``.

    The release (``cyclegan/cycle_gan_model.py``, ``optimize_parameters``)
    runs the generators forward, updates them with both discriminators
    frozen, then updates the discriminators on the generated images drawn
    from the image pools. MMagic's ``CycleGAN.train_step`` updates the
    discriminators first, so its generators step against the updated
    discriminators.
    """

    def _forward_generators(self, inputs: Dict[str, Tensor]
                            ) -> Dict[str, Tensor]:
        """Translate and reconstruct both domains (CycleGAN's forward).

        Args:
            inputs (dict): ``img_{domain}`` batches.

        Returns:
            dict: ``real_{d}``, ``fake_{d}`` and ``cycle_{d}`` images.
        """
        outputs = {}
        for target_domain in self._reachable_domains:
            source_domain = self.get_other_domains(target_domain)[0]
            results = self(inputs[f'img_{source_domain}'], test_mode=False,
                           target_domain=target_domain)
            outputs[f'real_{source_domain}'] = results['source']
            outputs[f'fake_{target_domain}'] = results['target']
            results = self(results['target'], test_mode=False,
                           target_domain=source_domain)
            outputs[f'cycle_{source_domain}'] = results['target']
        return outputs

    def _generator_first_step(self, data: dict,
                              optim_wrapper: OptimWrapperDict
                              ) -> Dict[str, Tensor]:
        """The release's order: generators (D frozen), then discriminators.

        The generators are updated on the iterations where MMagic's order
        updates them (``discriminator_steps``, ``disc_init_steps``); the
        discriminators see the fakes of this step's forward pass through the
        image pools, detached, as in the release.

        Args:
            data (dict): Unpaired batch.
            optim_wrapper (OptimWrapperDict): ``'generators'`` and
                ``'discriminators'`` wrappers.

        Returns:
            dict: Log variables.
        """
        curr_iter = MessageHub.get_current_instance().get_info('iter') or 0
        data = self.data_preprocessor(data, True)
        gen_wrapper = optim_wrapper['generators']
        disc_wrapper = optim_wrapper['discriminators']
        log_vars = {}
        update_gen = ((curr_iter + 1) % (
            self.discriminator_steps * disc_wrapper._accumulative_counts) == 0
            and curr_iter >= self.disc_init_steps)
        inputs = data['inputs']
        num = next(iter(inputs.values())).shape[0]
        micro = getattr(self, 'generator_micro_batch', 0)
        set_requires_grad(self.discriminators, False)
        try:
            if update_gen and 0 < micro < num:
                outputs, log_vars_g = self._accumulated_generator_update(
                    inputs, gen_wrapper, micro, num)
                log_vars.update(log_vars_g)
            else:
                with gen_wrapper.optim_context(self.generators), \
                        torch.set_grad_enabled(update_gen):
                    outputs = self._forward_generators(inputs)
                    if update_gen:
                        loss_g, log_vars_g = self._get_gen_loss(outputs)
                        gen_wrapper.update_params(loss_g)
                        log_vars.update(log_vars_g)
                        del loss_g
        finally:
            set_requires_grad(self.discriminators, True)
        # the generator graph is gone; the discriminators need values only
        outputs = {k: v.detach() for k, v in outputs.items()}
        with disc_wrapper.optim_context(self.discriminators):
            loss_d, log_vars_d = self._get_disc_loss(outputs)
            disc_wrapper.update_params(loss_d)
            log_vars.update(log_vars_d)
        return log_vars

    def _accumulated_generator_update(self, inputs: Dict[str, Tensor],
                                      gen_wrapper, micro: int, num: int):
        """The generator update of a batch, ``micro`` samples at a time.

        Every sample's loss terms are means over equally sized images and
        the generators, discriminators and M normalise per sample (instance
        norm, eval-mode BN), so the batch loss is the sample-weighted mean
        of the micro-batch losses: their parameter gradients are summed
        with those weights (each micro-batch's graph freed before the
        next), then handed to the wrapper in one ``update_params`` through
        :class:`InjectParamGradients` (AMP loss scaling and accumulation
        counts work as for one loss).

        Returns:
            tuple: The detached outputs of the whole batch and the log
            variables (sample-weighted means).
        """
        params = [p for p in self.generators.parameters() if p.requires_grad]
        total = [torch.zeros_like(p) for p in params]
        # the AMP loss scale as a device scalar (no host sync); None: 1
        scale = loss_scale_of(gen_wrapper,
                              next(iter(inputs.values())).device)
        parts, logs, value = [], {}, 0.0
        for start in range(0, num, micro):
            sl = slice(start, min(start + micro, num))
            weight = (sl.stop - sl.start) / num
            with gen_wrapper.optim_context(self.generators):
                outputs = self._forward_generators(
                    {k: v[sl] for k, v in inputs.items()})
                loss, log_vars = self._get_gen_loss(outputs)
            scaled = loss * weight if scale is None else \
                loss * (scale * weight)
            grads = torch.autograd.grad(scaled, params, allow_unused=True)
            for acc, grad in zip(total, grads):
                if grad is None:
                    continue
                if scale is None:
                    acc.add_(grad.to(acc.dtype))
                else:
                    acc.add_(grad.to(acc.dtype) / scale.to(acc.dtype))
            value = value + weight * loss.detach().float()
            for key, val in log_vars.items():
                logs[key] = logs.get(key, 0.0) + weight * (
                    val.detach().float() if torch.is_tensor(val) else val)
            parts.append({k: v.detach() for k, v in outputs.items()})
            del outputs, loss, grads
        gen_wrapper.update_params(
            InjectParamGradients.apply(value, *params, *total))
        outputs = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return outputs, logs


class InjectParamGradients(torch.autograd.Function):
    """``value`` forward; ``grad_out * grads[i]`` for ``params[i]`` back.

    ``InjectParamGradients.apply(value, *params, *grads)``.
    """

    @staticmethod
    def forward(ctx, value: Tensor, *tensors: Tensor) -> Tensor:
        num = len(tensors) // 2
        ctx.num = num
        ctx.save_for_backward(*tensors[num:])
        return value.detach().clone()

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        grads = ctx.saved_tensors
        return (None, *[grad_out * g for g in grads], *([None] * ctx.num))
