"""Hook that shows real / translated / reconstructed images while the
translator trains."""
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch import Tensor

from mmbdl.engine.translation import write_png_atomic
from mmbdl.registry import HOOKS
from mmbdl.utils.errors import ConfigCheckError
from mmbdl.utils.model_utils import get_translator, unwrap_model


@HOOKS.register_module()
class TranslationVisualizationHook(Hook):
    """Every ``interval`` iterations, draw a translation grid.

    For the first ``max_samples`` samples of the current translator batch
    (one with ``img_{domain}`` inputs; other batches, e.g. segmentation
    phases of the BDL loop, are ignored) the grid has, per sample, one row per
    direction: ``real a | G_b(a) | G_a(G_b(a))``. It is written to
    ``work_dir/<save_dir>/iter_<n>.png`` and passed to the runner's
    visualizer (``add_image('translation', ...)``), i.e. to every configured
    backend such as TensorBoard.

    Args:
        interval (int): Draw every ``interval`` training iterations.
            Defaults to 1000.
        max_samples (int): Samples per grid. Defaults to 2.
        save_dir (str, optional): Folder under ``work_dir`` for the PNGs;
            None writes only to the visualizer. Defaults to 'translation_vis'.
        name (str): Image name given to the visualizer. Defaults to
            'translation'.
    """

    priority = 'LOW'

    def __init__(self,
                 interval: int = 1000,
                 max_samples: int = 2,
                 save_dir: Optional[str] = 'translation_vis',
                 name: str = 'translation') -> None:
        if interval < 1 or max_samples < 1:
            raise ConfigCheckError('interval and max_samples must be >= 1')
        self.interval = interval
        self.max_samples = max_samples
        self.save_dir = save_dir
        self.name = name

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Draw the grid when the iteration is due.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch in the epoch.
            data_batch (dict, optional): The batch just trained on.
            outputs (dict, optional): Outputs of ``train_step``.
        """
        if not self.every_n_train_iters(runner, self.interval):
            return
        translator = get_translator(runner.model)
        if not _is_translation_batch(data_batch, translator):
            return
        grid = self.make_grid(translator, data_batch)
        self._publish(runner, grid)

    @master_only
    def _publish(self, runner: Runner, grid: np.ndarray) -> None:
        step = runner.iter + 1
        if self.save_dir is not None:
            path = osp.join(runner.work_dir, self.save_dir,
                            f'iter_{step}.png')
            write_png_atomic(grid[..., ::-1].copy(), path)
        runner.visualizer.add_image(self.name, grid, step=step)

    @torch.no_grad()
    def make_grid(self, translator, data_batch: dict) -> np.ndarray:
        """Build the RGB uint8 grid for a translator batch.

        Args:
            translator (BaseTranslator): The translator.
            data_batch (dict): A translator batch (before preprocessing).

        Returns:
            np.ndarray: ``(H, W, 3)`` uint8 RGB grid.
        """
        translator = unwrap_model(translator)
        data = translator.data_preprocessor(data_batch, True)
        inputs: Dict[str, Tensor] = data['inputs']
        norm = translator.input_normalization
        rows = []
        for domain in translator.domains:
            other = translator.opposite_domain(domain)
            real = inputs[f'img_{domain}'][:self.max_samples]
            fake = translator.translate(real, target_domain=other)
            rec = translator.translate(fake, target_domain=domain)
            for idx in range(real.shape[0]):
                rows.append([_to_rgb_uint8(t[idx], norm)
                             for t in (real, fake, rec)])
        return _assemble(rows)


def _is_translation_batch(data_batch, translator) -> bool:
    """Whether ``data_batch`` holds ``img_<domain>`` inputs."""
    # a run without a translator (get_translator gives the segmentor) or
    # with one that does not train has no translation batches
    if not isinstance(data_batch, dict) or not getattr(
            translator, 'trains', False):
        return False
    inputs = data_batch.get('inputs')
    if isinstance(inputs, (list, tuple)) and inputs:
        inputs = inputs[0]
    if not isinstance(inputs, dict):
        return False
    return all(f'img_{d}' in inputs for d in translator.domains)


def _to_rgb_uint8(img: Tensor, norm) -> np.ndarray:
    """Generator-space ``(3, H, W)`` tensor to RGB uint8 ``(H, W, 3)``."""
    pixel = img.detach().float().cpu() * norm.std + norm.mean
    if norm.channel_order == 'BGR':
        pixel = pixel.flip(0)
    pixel = pixel.clamp(0, 255).round().to(torch.uint8)
    return pixel.permute(1, 2, 0).numpy()


def _assemble(rows: List[List[np.ndarray]], gap: int = 4) -> np.ndarray:
    """Tile rows of images (padded to a common cell size) with white gaps."""
    cell_h = max(img.shape[0] for row in rows for img in row)
    cell_w = max(img.shape[1] for row in rows for img in row)
    ncol = max(len(row) for row in rows)
    height = len(rows) * cell_h + (len(rows) - 1) * gap
    width = ncol * cell_w + (ncol - 1) * gap
    grid = np.full((height, width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            y, x = r * (cell_h + gap), c * (cell_w + gap)
            grid[y:y + img.shape[0], x:x + img.shape[1]] = img
    return grid
