"""The per-round result table of the BDL loop (the paper's Table 2 shape)."""
import json
import math
import os
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence

# keys under which pseudo-label statistics may report the kept-pixel ratio
_RATIO_KEYS = ('pixel_ratio', 'kept_ratio', 'kept_pixel_ratio', 'ratio',
               'ssl_pixel_ratio')


def _plain(value):
    """Turn numpy / torch scalars into plain Python floats."""
    if hasattr(value, 'item'):
        try:
            return value.item()
        except (ValueError, RuntimeError):
            return value
    return value


def find_pixel_ratio(stats: Optional[Mapping]) -> Optional[float]:
    """The overall kept-pixel ratio from pseudo-label statistics.

    Args:
        stats (Mapping, optional): The ``pseudo_label_stats`` message-hub
            info of the pseudo-label hook.

    Returns:
        float | None: A ratio in [0, 1], or None if not found.
    """
    if not isinstance(stats, Mapping):
        return None
    for key in _RATIO_KEYS:
        value = _plain(stats.get(key))
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, Mapping):
            for sub in ('overall', 'all', 'total', 'mean'):
                inner = _plain(value.get(sub))
                if isinstance(inner, (int, float)):
                    return float(inner)
    return None


def find_per_class_iou(metrics: Mapping,
                       class_names: Sequence[str]) -> Dict[str, float]:
    """Per-class IoU (in %) from a metric dict.

    Looks for ``IoU.<class>``, ``IoU_<class>``, ``<class>.IoU`` and a nested
    ``per_class`` / ``IoU`` mapping.

    Args:
        metrics (Mapping): Metrics returned by the val loop.
        class_names (Sequence[str]): Class names of the data set.

    Returns:
        dict[str, float]: IoU per found class.
    """
    found = {}
    nested = None
    for key in ('per_class', 'per_class_iou', 'IoU', 'iou'):
        if isinstance(metrics.get(key), Mapping):
            nested = metrics[key]
            break
    for name in class_names:
        candidates = [f'IoU.{name}', f'IoU_{name}', f'{name}.IoU',
                      f'IoU/{name}', f'iou.{name}']
        value = None
        for cand in candidates:
            if cand in metrics:
                value = metrics[cand]
                break
        if value is None and nested is not None and name in nested:
            value = nested[name]
            if isinstance(value, Mapping):
                value = value.get('IoU', value.get('iou'))
        value = _plain(value)
        if isinstance(value, (int, float)) and not math.isnan(value):
            found[name] = float(value)
    return found


def _fmt(value: Optional[float], digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:.{digits}f}'


def format_round_table(rows: List[dict],
                       class_names: Sequence[str] = ()) -> str:
    """Markdown table: model, per-class IoU, mIoU, gain, SSL pixel ratio.

    ``gain`` is the mIoU change relative to the previous row, so the table
    shows what each phase contributed.

    Args:
        rows (list[dict]): Rows made by the loop (``model``, ``mIoU``,
            ``per_class``, ``ssl_pixel_ratio``).
        class_names (Sequence[str]): Column order of the classes.
            Defaults to ().

    Returns:
        str: The table, one line per row plus the header.
    """
    names = [c for c in class_names
             if any(c in (row.get('per_class') or {}) for row in rows)]
    header = ['model'] + names + ['mIoU', 'gain', 'SSL pixel ratio']
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join([' --- '] * len(header)) + '|']
    previous = None
    for row in rows:
        miou = row.get('mIoU')
        gain = None
        if miou is not None and previous is not None:
            gain = miou - previous
        ratio = row.get('ssl_pixel_ratio')
        cells = [row['model']]
        cells += [_fmt((row.get('per_class') or {}).get(c)) for c in names]
        cells += [
            _fmt(miou),
            '-' if gain is None else f'{gain:+.1f}',
            '-' if ratio is None else f'{100 * ratio:.0f}%'
        ]
        lines.append('| ' + ' | '.join(cells) + ' |')
        if miou is not None:
            previous = miou
    return '\n'.join(lines)


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Args:
        path (str): Destination.
        text (str): File content.
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp.{os.getpid()}'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


def write_round_files(work_dir: str, rows: List[dict],
                      class_names: Sequence[str]) -> str:
    """Write ``bdl_rounds.json`` and ``bdl_rounds.md`` into ``work_dir``.

    Args:
        work_dir (str): Run directory.
        rows (list[dict]): Table rows.
        class_names (Sequence[str]): Class names (column order).

    Returns:
        str: The Markdown table.
    """
    table = format_round_table(rows, class_names)
    write_atomic(
        osp.join(work_dir, 'bdl_rounds.json'),
        json.dumps(dict(classes=list(class_names), rows=rows), indent=2))
    write_atomic(osp.join(work_dir, 'bdl_rounds.md'), table + '\n')
    return table
