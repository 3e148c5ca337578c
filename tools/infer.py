"""Segment your own images, folders of images or videos with an mmbdl model.

Writes, under ``--out-dir``:

- ``vis/<name>``: the image with the prediction painted over it (a video:
  ``vis/<name>.mp4``);
- ``pred/<name>.png``: the raw label map (train ids, or Cityscapes label ids
  with ``--label-ids``; a video: ``pred/<name>/<frame>.png``).

Folders are searched recursively and their layout is kept. The checkpoint may
come from any phase of a BDL run (its segmentor is used), from an adaptation
run or a plain segmentor. A file that cannot be read is named, skipped and
listed at the end (exit status 1 then).

Example:
    python tools/infer.py configs/bdl/bdl_demo.py \\
        work_dirs/bdl_demo/k2_self_training_i1.pth \\
        data/demo/cityscapes/leftImg8bit/val --out-dir work_dirs/demo_infer
"""
import argparse
import os
import os.path as osp
import sys
from contextlib import ExitStack
from typing import Callable, Iterator, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='Segment images, folders or videos with an mmbdl model')
    parser.add_argument('config', help='config file of the run')
    parser.add_argument('checkpoint', help='checkpoint of any phase')
    parser.add_argument('input', help='an image, a folder or a video')
    parser.add_argument(
        '--allow-partial', action='store_true',
        help='run a checkpoint that lacks some of the segmentor\'s weights '
        '(warning; refused otherwise)')
    parser.add_argument('--out-dir', required=True,
                        help='output folder (vis/ and pred/ inside)')
    parser.add_argument('--device', default=None,
                        help='device (default: cuda if available, else cpu)')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='images per forward pass')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='weight of the colour overlay, in (0, 1]')
    parser.add_argument(
        '--label-ids', action='store_true',
        help='write Cityscapes label ids instead of train ids')
    parser.add_argument('--no-overlay', action='store_true',
                        help='write the raw label maps only')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


def find_inputs(path: str) -> Tuple[List[Tuple[str, str]], str]:
    """The files to segment, each with its name relative to the input.

    Args:
        path (str): An image, a video or a folder (searched recursively).

    Returns:
        tuple: ``[(file, relative name)]`` and ``'image'``, ``'video'`` or
        ``'folder'``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If it is a file of an unknown kind or a folder without
            images or videos.
    """
    from mmbdl.utils import ConfigCheckError, MissingFileError
    if osp.isdir(path):
        found = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                if name.lower().endswith(IMG_EXTENSIONS + VIDEO_EXTENSIONS):
                    full = osp.join(root, name)
                    found.append((full, osp.relpath(full, path)))
        if not found:
            raise ConfigCheckError(
                f'{path} holds no images or videos (looked for '
                f'{", ".join(IMG_EXTENSIONS + VIDEO_EXTENSIONS)})')
        return found, 'folder'
    if not osp.exists(path):
        raise MissingFileError(f'input {path} does not exist; pass an '
                               'image, a folder or a video')
    lower = path.lower()
    if lower.endswith(VIDEO_EXTENSIONS):
        return [(path, osp.basename(path))], 'video'
    if lower.endswith(IMG_EXTENSIONS):
        return [(path, osp.basename(path))], 'image'
    raise ConfigCheckError(f'{path}: unknown file type; pass an image '
                           f'({", ".join(IMG_EXTENSIONS)}), a video '
                           f'({", ".join(VIDEO_EXTENSIONS)}) or a folder')


def atomic_imwrite(img_bgr, path: str) -> None:
    """Encode an image by its extension and move it into place."""
    import cv2

    from mmbdl.utils import ConfigCheckError
    from mmbdl.utils.atomic_write import atomic_open
    ext = osp.splitext(path)[1] or '.png'
    ok, buf = cv2.imencode(ext, img_bgr)
    if not ok:
        raise ConfigCheckError(
            f'cannot encode an image as {ext} for {path}; use another '
            'output name')
    with atomic_open(path, 'wb', what='output image') as f:
        f.write(buf.tobytes())


def read_image(path: str) -> Tuple[Optional[object], str]:
    """``(BGR image, '')``, or ``(None, reason)`` if it cannot be read."""
    import mmcv
    try:
        img = mmcv.imread(path, flag='color', channel_order='bgr')
    except OSError as err:
        return None, err.strerror or str(err)
    if img is None:
        return None, 'not a readable image'
    return img, ''


def video_frames(path: str) -> Tuple[Optional[Iterator], dict]:
    """A frame iterator and ``fps``/``size``/``count``, or None if the video
    cannot be opened."""
    import cv2
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        return None, {}
    ok, first = cap.read()
    if not ok:
        cap.release()
        return None, {}
    info = dict(fps=cap.get(cv2.CAP_PROP_FPS) or 25.0,
                size=(first.shape[1], first.shape[0]),
                count=int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1)

    def frames():
        frame = first
        try:
            while frame is not None:
                yield frame
                ok, frame = cap.read()
                if not ok:
                    frame = None
        finally:
            cap.release()

    return frames(), info


class Outputs:
    """Writes overlays and label maps under ``out_dir``."""

    def __init__(self, inferencer, out_dir: str, label_ids: bool,
                 overlay: bool) -> None:
        from mmbdl.evaluation import PredictionWriter
        self.inferencer = inferencer
        self.vis_dir = osp.join(out_dir, 'vis')
        self.pred_dir = osp.join(out_dir, 'pred')
        self.writer = PredictionWriter(
            self.pred_dir,
            'cityscapes_label_ids' if label_ids else 'train_ids')
        self.overlay = overlay
        self.num_preds = 0
        self.num_overlays = 0

    def label_map(self, pred, source: str, name: str) -> None:
        stem = osp.splitext(name)[0]
        self.writer.write(pred.pred_sem_seg.data.squeeze(0), source,
                          filename=f'{stem}.png')
        self.num_preds += 1

    def painted(self, img_bgr, pred):
        return self.inferencer.overlay(img_bgr, pred)[..., ::-1]


def segment_images(items: List[Tuple[str, str]], outputs: Outputs,
                   batch_size: int, skipped: List[Tuple[str, str]],
                   tick: Callable[[], None]) -> None:
    """Segment image files in batches; unreadable ones go to ``skipped``."""
    batch: List[Tuple[str, str, object]] = []

    def flush():
        if not batch:
            return
        preds = outputs.inferencer.predict([img for _, _, img in batch])
        for (path, name, img), pred in zip(batch, preds):
            outputs.label_map(pred, path, name)
            if outputs.overlay:
                atomic_imwrite(outputs.painted(img, pred),
                               osp.join(outputs.vis_dir, name))
                outputs.num_overlays += 1
            tick()
        batch.clear()

    for path, name in items:
        img, reason = read_image(path)
        if img is None:
            print(f'\nwarning: skipped {path}: {reason}', file=sys.stderr)
            skipped.append((path, reason))
            tick()
            continue
        batch.append((path, name, img))
        if len(batch) == batch_size:
            flush()
    flush()


def segment_video(path: str, name: str, outputs: Outputs, frames: Iterator,
                  info: dict, tick: Callable[[], None]) -> None:
    """Segment every frame; write an overlay video and one PNG per frame."""
    import cv2
    import numpy as np

    from mmbdl.utils import ConfigCheckError
    from mmbdl.utils.atomic_write import atomic_path
    stem = osp.splitext(name)[0]
    writer = None
    with ExitStack() as stack:
        if outputs.overlay:
            final = osp.join(outputs.vis_dir, f'{stem}.mp4')
            # the writer picks the container by the name's ending
            tmp = stack.enter_context(
                atomic_path(final, what='overlay video', suffix='.mp4'))
            writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*'mp4v'),
                                     info['fps'], info['size'])
            stack.callback(writer.release)  # before the file is moved
            if not writer.isOpened():
                raise ConfigCheckError(
                    f'cannot write the overlay video {final} (OpenCV '
                    'without an mp4v encoder?); use --no-overlay')
        for index, frame in enumerate(frames):
            pred = outputs.inferencer.predict([frame])[0]
            outputs.label_map(pred, f'{path}#{index}',
                              osp.join(stem, f'{index:06d}.png'))
            if writer is not None:
                writer.write(np.ascontiguousarray(
                    outputs.painted(frame, pred)))
            tick()
    if writer is not None:
        outputs.num_overlays += 1


def main(argv=None) -> None:
    from mmbdl.utils import ConfigCheckError, MissingFileError
    args = parse_args(argv)
    from mmengine.utils import ProgressBar

    from mmbdl.apis import BDLSegInferencer
    from mmbdl.apis.test_options import check_writable_dir
    from mmbdl.utils import load_config, register_all_modules

    if not osp.isfile(args.checkpoint):
        raise MissingFileError(
            f'checkpoint {args.checkpoint} does not exist; pass a .pth file '
            'written by tools/train.py (any phase)')
    if not 0 < args.opacity <= 1:
        raise ConfigCheckError(
            f'--opacity must be in (0, 1], got {args.opacity}')
    if args.batch_size < 1:
        raise ConfigCheckError(
            f'--batch-size must be >= 1, got {args.batch_size}')
    items, kind = find_inputs(args.input)
    check_writable_dir(args.out_dir, '--out-dir')
    register_all_modules(init_default_scope=True)
    cfg = load_config(args.config, args.cfg_options)
    inferencer = BDLSegInferencer(cfg, args.checkpoint, device=args.device,
                                  opacity=args.opacity,
                                  allow_partial=args.allow_partial)
    outputs = Outputs(inferencer, args.out_dir, args.label_ids,
                      not args.no_overlay)

    images = [(p, n) for p, n in items if not p.lower().endswith(
        VIDEO_EXTENSIONS)]
    videos = []
    skipped: List[Tuple[str, str]] = []
    total = len(images)
    for path, name in items:
        if path.lower().endswith(VIDEO_EXTENSIONS):
            frames, info = video_frames(path)
            if frames is None:
                print(f'warning: skipped {path}: not a readable video',
                      file=sys.stderr)
                skipped.append((path, 'not a readable video'))
                continue
            videos.append((path, name, frames, info))
            total += info['count']
    progress = ProgressBar(max(total, 1))
    segment_images(images, outputs, args.batch_size, skipped,
                   progress.update)
    for path, name, frames, info in videos:
        segment_video(path, name, outputs, frames, info, progress.update)
    print()
    print(f'{outputs.num_preds} label maps in {outputs.pred_dir}'
          + (f', {outputs.num_overlays} overlays in {outputs.vis_dir}'
             if outputs.overlay else ''))
    if skipped:
        print(f'skipped {len(skipped)} of {len(items)} files:',
              file=sys.stderr)
        for path, reason in skipped:
            print(f'  {path}: {reason}', file=sys.stderr)
        if outputs.num_preds == 0:
            raise ConfigCheckError(f'no file of {args.input} could be read')
        sys.exit(1)


if __name__ == '__main__':
    try:
        import mmbdl  # noqa: F401  (checks the installed dependency versions)
    except ImportError as err:
        sys.exit(f'error: {err}')
    from mmbdl.utils import run_cli
    run_cli(main)
