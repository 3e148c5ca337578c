"""A grid of same-sized image tiles with a caption left of every row, and
label maps in class colours (``tools/analysis/demo_grid.py``).

Everything is BGR uint8, as OpenCV reads and writes images.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.4
LINE_GAP = 4  # pixels between caption lines
CAPTION_MARGIN = 6  # pixels left and right of the captions


def colourise(label: np.ndarray, palette: Sequence[Sequence[int]],
              ignore_colour: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """Paint a label map with a class palette.

    Args:
        label (np.ndarray): ``(H, W)`` integer class ids (train ids).
        palette (Sequence[Sequence[int]]): RGB colour of every class (as
            in MMSegmentation's ``metainfo['palette']``).
        ignore_colour (Sequence[int]): RGB colour of the values without a
            class (e.g. 255, ignore). Defaults to black.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8, BGR.
    """
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    label = np.asarray(label).astype(np.int64)
    # the last row (and every id past the palette) is the ignore colour
    size = max(len(palette), int(label.max(initial=0)) + 1)
    lut = np.empty((size + 1, 3), np.uint8)
    lut[:] = ignore_colour
    lut[:len(palette)] = palette
    index = np.where(label >= 0, label, size)
    return np.ascontiguousarray(lut[index][..., ::-1])


def fit_tile(img: np.ndarray, size: Tuple[int, int],
             is_label: bool = False) -> np.ndarray:
    """Resize an image (or a colourised label map) to a tile.

    Label maps and enlarged images use nearest neighbours (pixels stay
    sharp, no mixed class colours); shrunk images use area averaging.

    Args:
        img (np.ndarray): ``(H, W, 3)`` uint8.
        size (tuple[int, int]): ``(width, height)`` of the tile.
        is_label (bool): Whether ``img`` shows classes. Defaults to False.

    Returns:
        np.ndarray: ``(height, width, 3)`` uint8.
    """
    if (img.shape[1], img.shape[0]) == tuple(size):
        return img
    grows = size[0] >= img.shape[1] and size[1] >= img.shape[0]
    mode = cv2.INTER_NEAREST if is_label or grows else cv2.INTER_AREA
    return cv2.resize(img, tuple(size), interpolation=mode)


@dataclass(frozen=True)
class GridLayout:
    """Where the tiles of a captioned grid lie.

    Attributes:
        tile (tuple[int, int]): ``(width, height)`` of every tile.
        caption_width (int): Width of the caption column on the left.
        pad (int): White gap around and between the tiles.
    """
    tile: Tuple[int, int]
    caption_width: int
    pad: int = 2

    def size(self, rows: int, cols: int) -> Tuple[int, int]:
        """``(width, height)`` of a grid of ``rows x cols`` tiles."""
        w, h = self.tile
        return (self.caption_width + cols * (w + self.pad) + self.pad,
                rows * (h + self.pad) + self.pad)

    def origin(self, row: int, col: int) -> Tuple[int, int]:
        """``(x, y)`` of the top left pixel of a tile."""
        w, h = self.tile
        return (self.caption_width + self.pad + col * (w + self.pad),
                self.pad + row * (h + self.pad))


def caption_width(captions: Sequence[str]) -> int:
    """Width of a caption column fitting the widest caption line."""
    widest = max((cv2.getTextSize(line, FONT, FONT_SCALE, 1)[0][0]
                  for text in captions for line in text.split('\n')),
                 default=0)
    return widest + 2 * CAPTION_MARGIN


def compose_grid(rows: Sequence[Sequence[np.ndarray]],
                 captions: Sequence[str],
                 layout: Optional[GridLayout] = None) -> np.ndarray:
    """Draw rows of tiles, each row's caption on its left.

    Args:
        rows (Sequence[Sequence[np.ndarray]]): Rows of ``(H, W, 3)`` uint8
            tiles, all of ``layout.tile`` size (see :func:`fit_tile`).
        captions (Sequence[str]): One caption per row; ``\\n`` breaks a
            line.
        layout (GridLayout, optional): Defaults to the first tile's size
            and :func:`caption_width` of the captions.

    Returns:
        np.ndarray: The grid, uint8 BGR, white between the tiles.
    """
    if len(rows) != len(captions) or not rows or not rows[0]:
        raise ValueError(f'{len(rows)} rows (the first of '
                         f'{len(rows[0]) if rows else 0} tiles) and '
                         f'{len(captions)} captions')
    if layout is None:
        first = rows[0][0]
        layout = GridLayout((first.shape[1], first.shape[0]),
                            caption_width(captions))
    width, height = layout.size(len(rows), max(len(r) for r in rows))
    grid = np.full((height, width, 3), 255, np.uint8)
    w, h = layout.tile
    for r, (row, text) in enumerate(zip(rows, captions)):
        for c, tile in enumerate(row):
            if tile.shape[:2] != (h, w):
                raise ValueError(f'tile ({r}, {c}) is {tile.shape[1]}x'
                                 f'{tile.shape[0]}, not {w}x{h}')
            x, y = layout.origin(r, c)
            grid[y:y + h, x:x + w] = tile
        _draw_caption(grid, text, layout.origin(r, 0)[1], h)
    return grid


def _draw_caption(grid: np.ndarray, text: str, top: int,
                  height: int) -> None:
    """Black caption lines, centred vertically on a row."""
    lines = text.split('\n')
    line_h = cv2.getTextSize('Ag', FONT, FONT_SCALE, 1)[0][1]
    block = len(lines) * line_h + (len(lines) - 1) * LINE_GAP
    y = top + (height - block) // 2 + line_h
    for line in lines:
        cv2.putText(grid, line, (CAPTION_MARGIN, y), FONT, FONT_SCALE,
                    (0, 0, 0), 1, cv2.LINE_AA)
        y += line_h + LINE_GAP
