"""Hook that pseudo-labels the target training set before every
self-training round of the BDL loop (the SSL step of Algorithm 1)."""
import copy
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

from mmbdl.engine.pseudo_labeling import (PseudoLabeler, prepare_round_dir,
                                          round_dir_state)
from mmbdl.engine.pseudo_labeling.pseudo_labeler import (dataset_class_names,
                                                         dataset_img_root)
from mmbdl.models.utils.pseudo_label_rules import build_pseudo_label_rule
from mmbdl.registry import DATASETS, HOOKS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.runner_internals import resume_requested
from .bdl_hook import BDLHook, PhaseArtifacts
from .phase_outputs import claim_phase_outputs, planned_phases, serves

DEFAULT_CFG_KEY = 'pseudo_label_dataloader'
ARTIFACT = 'pseudo_labels'


@HOOKS.register_module()
class PseudoLabelHook(BDLHook):
    """Write pseudo-labels of the target training set for a self-training
    round and return their folder.

    On ``before_phase(runner, phase)`` of a phase whose kind consumes
    pseudo-labels (its spec's ``consumes``: self-training; or a kind in
    ``kinds``) the current inference segmentor
    (``get_inference_segmentor(runner.model)``, i.e. M_{i-1}) labels every
    target training image and the labels go to
    ``<out_root>/k{phase.k}_i{phase.i}/<rel>.png`` (uint8, 255 = ignore;
    ``<rel>.weight.png`` too for a rule with weights, e.g. soft).
    ``.complete.json`` is written last; the folder and the round's statistics
    (``stats['kept_ratio']`` is the paper's pixel ratio) are returned as
    ``PhaseArtifacts(pseudo_label_dir=..., pseudo_label_stats=...)``, which
    the loop hands to the phase's ``UDADataset`` and round-table row. The
    same work is available without the loop through :meth:`label_round`.

    A round folder that is complete for the same weights and settings is
    reused; an unfinished one is emptied and redone. A complete folder made
    by other weights is reused when the run resumed inside that round
    (``runner.iter`` past the iteration the labels were made at), redone when
    the run resumed before it or ``overwrite`` is set, and otherwise refused
    (e.g. by ``tools/pseudo_label.py`` into an existing folder). Folders
    with other content are never touched.

    A fresh (not resumed) run of the loop owns the round folders it will
    write: rounds left there by another run are replaced, with a warning
    naming them, before any training (``keep_previous=True`` refuses
    instead); see :mod:`.phase_outputs`. The ``SourceTranslationHook`` does
    the same with its folders.

    The target data is an mmseg-style dataset of the target TRAIN images
    whose pipeline loads and resizes images to the segmentation input size
    (and may load labels, used only for statistics), e.g.::

        pseudo_label_dataloader = dict(
            batch_size=1, num_workers=2,
            dataset=dict(
                type='CityscapesDataset', data_root='data/cityscapes',
                data_prefix=dict(img_path='leftImg8bit/train'),
                pipeline=[dict(type='LoadImageFromFile'),
                          dict(type='Resize', scale=(1024, 512),
                               keep_ratio=False),
                          dict(type='PackSegInputs')]))

    Args:
        dataloader (dict, optional): ``batch_size``, ``num_workers`` and
            ``dataset`` (config). Defaults to None: the runner config's
            ``pseudo_label_dataloader``. A sampler in it is ignored (ranks
            take every world-size-th image).
        policy (str | dict): The pseudo-label rule (``TASK_UTILS``, see
            :mod:`mmbdl.models.utils.pseudo_label_rules`):
            'classwise_median' (default, the released rule,
            ``dict(type=..., cap=0.9)``), 'fixed' (``threshold=0.9``, the
            paper), 'soft', 'top_fraction' (``fraction``, ``cap``),
            'daformer_quality', or a plugin's registered rule.
        flip (bool): Flip-averaged inference. Defaults to False.
        scales (Sequence[float], optional): Multi-scale inference factors.
            Defaults to None (single scale).
        label_size (Sequence[int], optional): ``(height, width)`` of the
            labels. Defaults to None (the network input size).
        ignore_margin (Sequence[int]): Label rows ``(top, bottom)`` always
            ignored. Defaults to (0, 0).
        data_preprocessor (dict, optional): Preprocessor config overriding
            the segmentor's. Defaults to None.
        img_root (str, optional): Root the label names are relative to.
            Defaults to None (the dataset's ``data_prefix['img_path']``, as
            the UDADataset expects).
        out_root (str, optional): Folder of the round folders. Defaults to
            None (``runner.work_dir/pseudo_labels``).
        cache_dir (str, optional): Folder in which a private subfolder holds
            the temporary per-image cache (5 bytes per label pixel, 6 with
            target labels). Defaults to None (inside the round folder).
        overwrite (bool): Replace complete rounds made by other weights or
            settings. Defaults to False.
        kinds (Sequence[str], optional): Phase kinds to act on. Defaults to
            None (the kinds consuming pseudo-labels).
        progress (bool): Show a progress bar. Defaults to True.
        keep_previous (bool): In a fresh run, refuse (before training) to
            replace rounds another run left in this run's round folders.
            Defaults to False (replace them, with a warning).
    """

    priority = 'NORMAL'

    def __init__(self,
                 dataloader: Optional[dict] = None,
                 policy: Union[str, dict] = 'classwise_median',
                 flip: bool = False,
                 scales: Optional[Sequence[float]] = None,
                 label_size: Optional[Sequence[int]] = None,
                 ignore_margin: Sequence[int] = (0, 0),
                 data_preprocessor: Optional[dict] = None,
                 img_root: Optional[str] = None,
                 out_root: Optional[str] = None,
                 cache_dir: Optional[str] = None,
                 overwrite: bool = False,
                 kinds: Optional[Sequence[str]] = None,
                 progress: bool = True,
                 keep_previous: bool = False) -> None:
        self.dataloader_cfg = copy.deepcopy(dataloader)
        self.labeler_cfg = dict(policy=policy, flip=flip, scales=scales,
                                label_size=label_size,
                                ignore_margin=ignore_margin,
                                data_preprocessor=data_preprocessor)
        # validate the settings now (policy names, sizes)
        build_pseudo_label_rule(policy)
        self.img_root = img_root
        self.out_root = out_root
        self.cache_dir = cache_dir
        self.overwrite = overwrite
        self.kinds = None if kinds is None else tuple(kinds)
        self.progress = progress
        self.keep_previous = keep_previous

    # ------------------------------------------------------------ helpers
    def _dataloader_cfg(self, runner) -> Dict:
        cfg = self.dataloader_cfg
        if cfg is None:
            cfg = runner.cfg.get(DEFAULT_CFG_KEY, None) if getattr(
                runner, 'cfg', None) is not None else None
        if cfg is None or 'dataset' not in cfg:
            raise ConfigCheckError(
                'PseudoLabelHook needs the target training images: set '
                f'`{DEFAULT_CFG_KEY} = dict(batch_size=1, num_workers=2, '
                'dataset=dict(...))` in the config or pass dataloader=... to '
                'the hook')
        cfg = copy.deepcopy(dict(cfg))
        if hasattr(cfg['dataset'], 'to_dict'):
            cfg['dataset'] = cfg['dataset'].to_dict()
        return cfg

    def build_dataset(self, runner):
        """Build the target dataset from the hook's dataloader config.

        Args:
            runner (Runner): The runner.

        Returns:
            Dataset: The target training dataset.
        """
        cfg = self._dataloader_cfg(runner)
        dataset = cfg['dataset']
        if isinstance(dataset, dict):
            dataset = DATASETS.build(copy.deepcopy(dataset))
        return dataset

    def out_dir(self, runner, k: int, i: int) -> str:
        """Folder of round ``(k, i)``: ``<out_root>/k{k}_i{i}``."""
        root = self.out_root or osp.join(runner.work_dir, 'pseudo_labels')
        return osp.join(root, f'k{k}_i{i}')

    def _labeler(self, runner) -> PseudoLabeler:
        return PseudoLabeler(runner.model, **self.labeler_cfg)

    # ------------------------------------------------------------ events
    def before_run(self, runner) -> None:
        """Fail early on a missing target config, an empty target set or a
        class-count mismatch.

        Args:
            runner (Runner): The runner.
        """
        dataset = self.build_dataset(runner)
        names = dataset_class_names(dataset)
        self._labeler(runner).check_num_classes(len(names))
        root = self.img_root or dataset_img_root(dataset)
        if len(dataset) == 0:
            raise ConfigCheckError(
                f'PseudoLabelHook: the target dataset below {root} holds no '
                'images')
        runner.logger.info(f'PseudoLabelHook: {len(dataset)} target images '
                           f'below {root}, {len(names)} classes')

    def before_train(self, runner) -> None:
        """A fresh run takes over the folders of its self-training rounds.

        Args:
            runner (Runner): The runner.
        """
        folders = [self.out_dir(runner, p.k, p.i)
                   for p in planned_phases(runner, self.kinds, ARTIFACT,
                                           'consumes')]
        claim_phase_outputs(
            runner, folders, 'pseudo-labels', 'PseudoLabelHook',
            self.keep_previous,
            lambda path: round_dir_state(path) in ('complete', 'incomplete',
                                                   'empty'))

    def before_phase(self, runner, phase) -> Optional[PhaseArtifacts]:
        """Label the target set before a self-training round.

        Args:
            runner (Runner): The runner.
            phase (Phase): The phase about to start.

        Returns:
            PhaseArtifacts | None: The round's folder and statistics.
        """
        if not serves(phase, self.kinds, ARTIFACT, 'consumes'):
            return None
        return self.label_round(runner, phase.k, phase.i,
                                phase_name=phase.name)

    def label_round(self, runner, k: int, i: int,
                    phase_name: Optional[str] = None) -> PhaseArtifacts:
        """Make (or reuse) the pseudo-labels of round ``(k, i)``.

        Args:
            runner (Runner): The runner (model, work_dir, message hub).
            k (int): Outer round.
            i (int): Self-training round.
            phase_name (str, optional): Stored in the metadata.

        Returns:
            PhaseArtifacts: ``pseudo_label_dir`` (the round folder) and
            ``pseudo_label_stats``.
        """
        logger = runner.logger
        out_dir = self.out_dir(runner, k, i)
        cfg = self._dataloader_cfg(runner)
        dataset = self.build_dataset(runner)
        labeler = self._labeler(runner)
        img_root = self.img_root or dataset_img_root(dataset)
        signature = dict(fingerprint=labeler.fingerprint(),
                         img_root=osp.abspath(img_root),
                         num_images=len(dataset), **labeler.settings())
        resumed = resume_requested(runner)
        it = int(runner.iter)

        def resolve(meta: Dict, differing: List[str]) -> str:
            if differing == ['fingerprint']:
                made_at = meta.get('iter')
                if made_at is not None and it > made_at:
                    logger.info(f'reusing the pseudo-labels in {out_dir}, '
                                f'made at iteration {made_at} of this run')
                    return 'reuse'
                if self.overwrite or resumed:
                    return 'regenerate'
                return 'refuse'
            return 'regenerate' if self.overwrite else 'refuse'

        meta = prepare_round_dir(
            out_dir, signature, overwrite=self.overwrite, resolve=resolve,
            info=dict(k=k, i=i, iter=it), logger=logger)
        if meta is None:
            meta = labeler.label_dataset(
                dataset,
                out_dir,
                batch_size=int(cfg.get('batch_size', 1)),
                num_workers=int(cfg.get('num_workers', 0)),
                img_root=img_root,
                cache_dir=self.cache_dir,
                extra_meta=dict(signature=signature, k=k, i=i, iter=it,
                                phase=phase_name or f'k{k}_i{i}'),
                progress=self.progress,
                logger=logger)
        else:
            logger.info(f'pseudo-labels of round k={k} i={i} already '
                        f'complete in {out_dir}')
        stats = dict(meta.get('stats', {}))
        stats.update(k=k, i=i, pseudo_label_dir=out_dir)
        return PhaseArtifacts(pseudo_label_dir=out_dir,
                              pseudo_label_stats=stats)
