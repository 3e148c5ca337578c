"""Config changes behind ``tools/test.py``'s ``--out``, ``--format-only``
and ``--tta``."""
import os
import os.path as osp
import tempfile
from typing import List

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from mmbdl.utils.errors import ConfigCheckError

# TTA models that would apply a softmax to BDLEncoderDecoder's probabilities
MMSEG_TTA_TYPES = ('SegTTAModel', 'mmseg.SegTTAModel')


def check_writable_dir(path: str, what: str) -> None:
    """Create ``path`` if needed and make sure files can be written there.

    Args:
        path (str): The folder.
        what (str): How the user named it (e.g. ``'--out'``).

    Raises:
        ConfigCheckError: If it cannot be created or written to.
    """
    if osp.exists(path) and not osp.isdir(path):
        raise ConfigCheckError(f'{what} {path} is a file; pass a folder')
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix='.write_check_', dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise ConfigCheckError(
            f'{what} {path} is not a writable folder '
            f'({err.strerror or err}); pass a folder you can write to'
        ) from None


def _metric_cfgs(evaluator) -> List[dict]:
    """The metric configs of a ``test_evaluator`` (dict, list, Evaluator)."""
    if isinstance(evaluator, (list, tuple)):
        return list(evaluator)
    if 'metrics' in evaluator and 'type' not in evaluator:
        metrics = evaluator['metrics']
        return list(metrics) if isinstance(metrics, (list, tuple)) \
            else [metrics]
    return [evaluator]


def _accepts(metric_cfg: dict, arg: str) -> bool:
    import inspect

    from mmbdl.registry import METRICS
    metric_cls = METRICS.get(metric_cfg.get('type'))
    if metric_cls is None:
        return False
    return arg in inspect.signature(metric_cls.__init__).parameters


def _drop_annotations(pipeline: list) -> list:
    """The pipeline without ``LoadAnnotations`` (also inside TTA lists)."""
    kept = []
    for transform in pipeline:
        if isinstance(transform, (list, tuple)):
            kept.append(_drop_annotations(transform))
            continue
        kind = str(transform.get('type', '')).split('.')[-1]
        if kind == 'LoadAnnotations':
            continue
        if kind == 'TestTimeAug':
            transform = ConfigDict(transform)
            transform['transforms'] = [
                _drop_annotations(step) for step in transform['transforms']
            ]
            # a step that only loaded annotations is now empty
            transform['transforms'] = [
                step for step in transform['transforms'] if step
            ]
        kept.append(transform)
    return kept


def set_prediction_output(cfg: Config, out_dir: str,
                          format_only: bool = False) -> None:
    """Make the test metrics write one prediction PNG per image.

    Args:
        cfg (Config): The config to update in place.
        out_dir (str): Folder for the PNGs.
        format_only (bool): Cityscapes label ids, no evaluation: the test
            data set is read without its labels, so splits without ground
            truth (Cityscapes test) work. Defaults to False.

    Raises:
        ConfigCheckError: If no test metric can write predictions (or, for
            ``format_only``, write Cityscapes label ids).
    """
    metrics = _metric_cfgs(cfg.test_evaluator)
    writers = [m for m in metrics if _accepts(m, 'output_dir')]
    if not writers:
        kinds = [m.get('type') for m in metrics]
        raise ConfigCheckError(
            f'--out: no test metric ({kinds}) writes predictions; use '
            "test_evaluator = dict(type='BDLIoUMetric')")
    if format_only:
        bad = [m.get('type') for m in writers
               if not _accepts(m, 'output_format')]
        if bad:
            raise ConfigCheckError(
                f'--format-only writes Cityscapes label ids, which {bad} '
                "cannot; use test_evaluator = dict(type='BDLIoUMetric')")
    for metric in writers:
        metric['output_dir'] = out_dir
        if format_only:
            metric['format_only'] = True
            metric['output_format'] = 'cityscapes_label_ids'
    if format_only:
        dataset = cfg.test_dataloader.dataset
        if 'seg_map_path' in (dataset.get('data_prefix') or {}):
            dataset.data_prefix.pop('seg_map_path')
        if 'pipeline' in dataset:
            dataset.pipeline = _drop_annotations(dataset.pipeline)


def use_tta(cfg: Config, config_path: str) -> None:
    """Switch the test to the config's ``tta_pipeline`` and ``tta_model``.

    A missing ``tta_model`` becomes ``BDLSegTTAModel``, and MMSegmentation's
    ``SegTTAModel`` is replaced by it (with a message): ``SegTTAModel``
    applies a softmax to ``seg_logits``, which ``BDLEncoderDecoder`` fills
    with probabilities; ``BDLSegTTAModel`` averages probabilities for every
    segmentor.

    Args:
        cfg (Config): The config to update in place.
        config_path (str): The config's path (for messages).

    Raises:
        ConfigCheckError: If the config has no ``tta_pipeline``.
    """
    if not cfg.get('tta_pipeline'):
        raise ConfigCheckError(
            f'{config_path}: --tta needs a `tta_pipeline` in the config '
            "(LoadImageFromFile, then dict(type='TestTimeAug', transforms="
            '[[resizes], [flips], [LoadAnnotations], [PackSegInputs]]))')
    tta_model = cfg.get('tta_model') or ConfigDict(type='BDLSegTTAModel')
    if tta_model.get('type') in MMSEG_TTA_TYPES:
        print_log(
            f"{config_path}: tta_model {tta_model['type']} would apply a "
            'second softmax to the probabilities of BDLEncoderDecoder; '
            'using BDLSegTTAModel', logger='current')
        tta_model = ConfigDict(tta_model, type='BDLSegTTAModel')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    tta_model['module'] = cfg.model
    cfg.model = tta_model
