"""Loading the frozen perceptual model M of :class:`PerceptualCycleGAN`."""
import os.path as osp
from typing import Dict, Iterable, Mapping, Optional

from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor

from mmbdl.utils.errors import ConfigCheckError, MissingFileError


class PerceptualWeightsMixin:
    """M's weights from a checkpoint file or from a segmentor's state dict.

    Needs ``self.perceptual_model`` (a segmentor or None) and the
    ``perceptual_loaded`` buffer, which is set once M holds real weights.
    """

    def _load_perceptual_checkpoint(self, filename: str) -> None:
        if not osp.isfile(filename):
            raise MissingFileError(
                f'perceptual_checkpoint {filename} does not exist; set '
                'perceptual_checkpoint to a checkpoint of the segmentor M '
                '(e.g. the source-only model) or to None')
        checkpoint = CheckpointLoader.load_checkpoint(
            filename, map_location='cpu')
        state_dict = checkpoint.get('state_dict', checkpoint) \
            if isinstance(checkpoint, dict) else checkpoint
        self.load_perceptual_weights(state_dict, source=filename)
        own = len(self.perceptual_model.state_dict())
        MMLogger.get_current_instance().info(
            f'perceptual model loaded from {filename}: {own}/{own} keys of '
            f'M matched, 0 missing, {len(state_dict) - own} other keys in '
            'the checkpoint (other parts of the model) not used')

    def load_perceptual_weights(self, state_dict: Mapping[str, Tensor],
                                source: str = 'the given state dict') -> None:
        """Copy a segmentor's weights into the frozen perceptual model.

        Keys may carry a prefix (``module.``, ``segmentor.segmentor.``...):
        the shortest prefix under which every key of M is found is used
        (so in a whole BDL checkpoint the segmentor wins over the
        translator's own copy of M). Values are
        copied, so later training of the segmentor does not change M.

        Args:
            state_dict (Mapping[str, Tensor]): Weights of a segmentor with the
                architecture of ``perceptual_model``, e.g.
                ``get_inference_segmentor(model).state_dict()``.
            source (str): Name used in error messages. Defaults to
                'the given state dict'.

        Raises:
            RuntimeError: If no perceptual model is configured.
            ValueError: If keys or shapes do not match M's config.
        """
        if self.perceptual_model is None:
            raise RuntimeError(
                'load_perceptual_weights called but this PerceptualCycleGAN '
                'has no perceptual_model configured')
        own = self.perceptual_model.state_dict()
        weights = _select_prefixed(state_dict, own.keys())
        if weights is None:
            missing = sorted(set(own) - set(state_dict))
            unexpected = sorted(set(state_dict) - set(own))
            raise ConfigCheckError(
                f'{source} does not match the perceptual_model config: '
                f'{len(missing)} keys missing (e.g. {missing[:3]}), '
                f'{len(unexpected)} unexpected (e.g. {unexpected[:3]}). Use a '
                'checkpoint of the segmentor architecture given in '
                'perceptual_model, or change perceptual_model to match it.')
        bad = [(k, tuple(weights[k].shape), tuple(v.shape))
               for k, v in own.items() if weights[k].shape != v.shape]
        if bad:
            raise ConfigCheckError(
                f'{source} does not match the perceptual_model config: '
                f'{len(bad)} tensors differ in shape, e.g. '
                + ', '.join(f'{k}: {a} in checkpoint vs {b} in model'
                            for k, a, b in bad[:3])
                + ' (a different class count or depth?). Use a checkpoint of '
                'the configured segmentor or fix perceptual_model.')
        self.perceptual_model.load_state_dict(weights, strict=True)
        self.perceptual_model.requires_grad_(False)
        self.perceptual_model.eval()
        self.perceptual_loaded.fill_(1)
        self._perceptual_checked = True


def _select_prefixed(state_dict: Mapping[str, Tensor],
                     keys: Iterable[str]) -> Optional[Dict[str, Tensor]]:
    """Find the prefix under which all ``keys`` exist in ``state_dict``.

    Args:
        state_dict (Mapping[str, Tensor]): Possibly prefixed weights.
        keys (Iterable[str]): Keys the target module needs.

    Returns:
        dict | None: ``{key: tensor}`` for every key, or None if no prefix
        gives all of them.
    """
    keys = list(keys)
    if not keys:
        return {}
    first = keys[0]
    prefixes = sorted({k[:-len(first)] for k in state_dict
                       if k.endswith(first)}, key=len)
    for prefix in prefixes:
        if prefix and not prefix.endswith('.'):
            continue
        if all(prefix + k in state_dict for k in keys):
            return {k: state_dict[prefix + k] for k in keys}
    return None
