"""Checkpoints and weight formats, in one place (the utils layer).

Which module does what:

- :mod:`.safe_load`: loading MMEngine/mmbdl checkpoints under torch's
  ``weights_only=True``: the allow-list of the classes they hold
  (:func:`register_checkpoint_safe_globals`, called when ``mmbdl`` is
  imported) and one-line errors for a refused class or an unreadable file;
  it also installs the ``bdl://`` scheme.
- :mod:`.checkpoint_files`: the checkpoint files of a work dir: whether one
  can be read (a truncated zip) and the one ``--resume`` continues from.
- :mod:`.key_match`: how a checkpoint's keys fit a module (matched /
  missing / unexpected / another shape), the stop when too few match and
  the likely prefix fix.
- :mod:`.partial_load`: the stricter rule of evaluations: refuse a
  checkpoint that leaves any weight of the evaluated module unloaded
  (``--allow-partial``).
- :mod:`.state_dict_load`: reading a checkpoint's state dict and loading
  the part of it whose names and shapes fit a module.
- :mod:`.pretrained_weights`: pretrained weights: the known sources, where
  their files are looked for and downloaded, and the ``bdl://`` scheme that
  converts a release file on load.
- :mod:`.release_state_dict`: the key layouts of the BDL release (and
  torchvision's VGG-16) converted to mmbdl's names, shared by
  ``tools/model_converters/bdl_to_mmbdl.py`` and ``bdl://``.
- :mod:`.dinov2_state_dict`: the key layout of the official DINOv2
  checkpoints converted to mmbdl's ViT backbone, and the checks that a
  file fits the configured backbone.

Weight code that lives outside this package, and why:

- ``mmbdl/models/utils/checked_pretrained_init.py``: the checked
  ``Pretrained`` init (``init_cfg=dict(type='Pretrained', ...)``). It is
  registered in ``mmbdl.registry.WEIGHT_INITIALIZERS``, whose lazy-import
  locations are ``mmbdl.models``, and a utils module may not use a
  registry of a higher layer (``tests/test_layering.py``); it uses
  :mod:`.key_match` for the check itself.
- ``mmbdl/engine/runner/loop_state.py``: the weights a phase of the
  bidirectional loop restarts from: the ``'initial'`` policy, the run's
  ``bdl_initial_weights.pth`` in the work dir, where that restart point
  comes from (``train_cfg.initial_weights``, ``load_from``) and the
  refusal of a random backbone. All of it is loop knowledge; the state
  dicts themselves are written with plain ``torch.save``, the
  ``initial_weights`` file read and loaded with :mod:`.state_dict_load`.
- ``mmbdl/engine/runner/phase_context.py``: which part of the BDL model a
  phase trains, and the translator's perceptual copy of the segmentor.
- ``mmbdl/engine/hooks/weights_check_hook.py``: the checks of
  ``load_from`` / evaluated checkpoints against the runner's model, built
  on :mod:`.key_match` and :mod:`.partial_load`.
"""
from .checkpoint_files import (UnreadableCheckpointError, resolve_in_work_dir,
                               resume_checkpoint, unreadable_message,
                               unreadable_reason)
from .dinov2_state_dict import (check_dinov2_fit, convert_dinov2,
                                fit_mask_token, is_dinov2)
from .key_match import (KeyMatch, check_key_match, match_keys,
                        suggest_prefix_fix)
from .partial_load import (ALLOW_PARTIAL_KEY, allow_partial_in, is_complete,
                           partial_load_message, require_complete_load)
from .pretrained_weights import (KNOWN_WEIGHTS, SCHEME, find_weights,
                                 load_converted, register_pretrained_scheme,
                                 resolve_weights)
from .release_state_dict import (ARCHS, convert_release_state_dict,
                                 detect_arch, torchvision_vgg16_names,
                                 unwrap_state_dict)
from .safe_load import CheckpointRefusedError, register_checkpoint_safe_globals
from .state_dict_load import load_fitting_weights, read_state_dict

__all__ = [
    'register_checkpoint_safe_globals', 'CheckpointRefusedError',
    'UnreadableCheckpointError', 'unreadable_reason', 'unreadable_message',
    'resolve_in_work_dir', 'resume_checkpoint', 'KeyMatch', 'match_keys',
    'check_key_match', 'suggest_prefix_fix', 'ALLOW_PARTIAL_KEY',
    'allow_partial_in', 'is_complete', 'partial_load_message',
    'require_complete_load', 'read_state_dict', 'load_fitting_weights',
    'KNOWN_WEIGHTS', 'SCHEME', 'find_weights', 'resolve_weights',
    'load_converted', 'register_pretrained_scheme', 'ARCHS',
    'convert_release_state_dict', 'detect_arch', 'unwrap_state_dict',
    'torchvision_vgg16_names', 'convert_dinov2', 'is_dinov2',
    'check_dinov2_fit', 'fit_mask_token'
]
