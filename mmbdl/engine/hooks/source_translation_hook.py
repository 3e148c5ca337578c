"""Hook that writes the translated source set S' = F(S) after a translation
phase of the BDL loop."""
import os.path as osp
from typing import Optional, Sequence

from mmengine.runner import Runner

from mmbdl.engine.translation import list_images, translate_directory
from mmbdl.engine.translation.image_translation import (COMPLETE_FILE,
                                                        PROGRESS_FILE)
from mmbdl.registry import HOOKS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.model_utils import get_translator
from .bdl_hook import BDLHook, PhaseArtifacts
from .phase_outputs import claim_phase_outputs, planned_phases, serves

ARTIFACT = 'translated_source'


@HOOKS.register_module()
class SourceTranslationHook(BDLHook):
    """Translate every source image after each translation phase.

    On ``after_phase`` of a phase whose kind produces the translated source
    set (its spec's ``produces``: translation; or a kind in ``kinds``) the
    trained
    source-to-target generator of the model's translator
    (``get_translator(runner.model)``) is applied to every image below
    ``img_dir`` at full training resolution (``scale``; the generator is fully
    convolutional, nothing is cropped). PNGs with the same relative names go
    to ``runner.work_dir/translated/k{phase.k}/``, written atomically, a rerun
    skips finished files, and ``.complete.json`` is written last. The folder
    is returned as ``PhaseArtifacts(translated_source_dir=path)``; the loop
    hands it to the next phases' ``UDADataset``. In distributed runs the
    files are split among ranks.

    The image folder is checked in ``before_run``, so a missing or empty
    folder stops the run before any training.

    A fresh (not resumed) run owns the ``k{k}`` folders it will write: ones
    left by another run in the same place are replaced, with a warning
    naming them, before any training (``keep_previous=True`` refuses
    instead); see :mod:`.phase_outputs`. The ``PseudoLabelHook`` does the
    same with its round folders.

    Args:
        img_dir (str): Source image root: the source dataset's ``data_root``
            joined with its ``data_prefix['img_path']``.
        img_suffix (str): Ending of the source images. Defaults to '.png'.
        scale (Sequence[int], optional): ``(width, height)`` of the source
            images during segmentation training (GTA5 ``(1280, 720)``,
            SYNTHIA ``(1280, 760)``). Defaults to None (original size).
        interpolation (str): Resize interpolation. Defaults to 'bicubic'.
        batch_size (int): Images per generator call. Defaults to 1.
        num_workers (int): Threads reading and writing images. Defaults to 4.
        out_root (str, optional): Folder holding the ``k{k}`` folders.
            Defaults to None (``runner.work_dir/translated``).
        target_domain (str): Output domain of the generator. Defaults to
            'target'.
        keep_previous (bool): In a fresh run, refuse (before training) to
            replace translated images another run left in this run's
            folders. Defaults to False (replace them, with a warning).
        kinds (Sequence[str], optional): Phase kinds after which to
            translate. Defaults to None (the kinds producing the translated
            source set).
    """

    priority = 'NORMAL'

    def __init__(self,
                 img_dir: str,
                 img_suffix: str = '.png',
                 scale: Optional[Sequence[int]] = None,
                 interpolation: str = 'bicubic',
                 batch_size: int = 1,
                 num_workers: int = 4,
                 out_root: Optional[str] = None,
                 target_domain: str = 'target',
                 keep_previous: bool = False,
                 kinds: Optional[Sequence[str]] = None) -> None:
        if scale is not None and len(scale) != 2:
            raise ConfigCheckError(
                f'scale must be (width, height), got {scale}')
        if batch_size < 1:
            raise ConfigCheckError(
                f'batch_size must be >= 1, got {batch_size}')
        self.img_dir = img_dir
        self.img_suffix = img_suffix
        self.scale = tuple(scale) if scale is not None else None
        self.interpolation = interpolation
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.out_root = out_root
        self.target_domain = target_domain
        self.keep_previous = keep_previous
        self.kinds = None if kinds is None else tuple(kinds)

    def before_run(self, runner: Runner) -> None:
        """Fail early when the source image folder is missing or empty, or
        the translator translates every batch itself (``online``).

        Args:
            runner (Runner): The runner.
        """
        translator = get_translator(runner.model)
        if getattr(translator, 'online', False):
            raise ConfigCheckError(
                f'{type(translator).__name__} has online=True: it '
                'translates the source images of every training batch, so '
                "S' written by SourceTranslationHook would be translated "
                'twice; remove the hook and set '
                'train_cfg.translate_source=False, or set the '
                "translator's online=False")
        images = list_images(self.img_dir, self.img_suffix)
        runner.logger.info(f'SourceTranslationHook: {len(images)} source '
                           f'images in {self.img_dir}')

    def before_train(self, runner: Runner) -> None:
        """A fresh run takes over the folders of its translation phases.

        Args:
            runner (Runner): The runner.
        """
        folders = [self.out_dir(runner, p.k)
                   for p in planned_phases(runner, self.kinds, ARTIFACT,
                                           'produces')]
        claim_phase_outputs(
            runner, folders, 'translated source images',
            'SourceTranslationHook', self.keep_previous,
            lambda path: any(osp.isfile(osp.join(path, name))
                             for name in (COMPLETE_FILE, PROGRESS_FILE)))

    def out_dir(self, runner: Runner, k: int) -> str:
        """Output folder of outer round ``k``.

        Args:
            runner (Runner): The runner.
            k (int): Outer round.

        Returns:
            str: ``<out_root>/k{k}``.
        """
        root = self.out_root or osp.join(runner.work_dir, 'translated')
        return osp.join(root, f'k{k}')

    def after_phase(self, runner: Runner,
                    phase) -> Optional[PhaseArtifacts]:
        """Translate the source set after a translation phase.

        Args:
            runner (Runner): The runner.
            phase (Phase): The finished phase.

        Returns:
            PhaseArtifacts | None: The translated source folder.
        """
        if not serves(phase, self.kinds, ARTIFACT, 'produces'):
            return None
        out_dir = self.out_dir(runner, phase.k)
        translator = get_translator(runner.model)
        meta = translate_directory(
            translator,
            self.img_dir,
            out_dir,
            img_suffix=self.img_suffix,
            scale=self.scale,
            interpolation=self.interpolation,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            target_domain=self.target_domain,
            extra_meta=dict(phase=phase.name, k=phase.k, iter=runner.iter))
        runner.logger.info(
            f'translated source set of round k={phase.k}: {out_dir} '
            f"({meta['num_images']} images)")
        return PhaseArtifacts(translated_source_dir=out_dir)
