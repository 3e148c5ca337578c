"""The CycleGAN update order of the BDL release: generators first."""
from typing import Dict

import torch
from mmagic.models.utils import set_requires_grad
from mmengine import MessageHub
from mmengine.optim import OptimWrapperDict
from torch import Tensor


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
        set_requires_grad(self.discriminators, False)
        try:
            with gen_wrapper.optim_context(self.generators), \
                    torch.set_grad_enabled(update_gen):
                outputs = self._forward_generators(data['inputs'])
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
