"""The per-round result table of the BDL loop (the paper's Table 2 shape):
its rows as ``work_dir/bdl_rounds.json`` and as Markdown
(``bdl_rounds.md``, also logged)."""
import json
import math
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence

from mmbdl.utils.atomic_write import atomic_open

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


def headline_value(row: Mapping) -> Optional[float]:
    """The value of a row's headline column (its ``headline``, else mIoU)."""
    value = row.get('headline')
    return row.get('mIoU') if value is None else value


RULE_TITLES = dict(last='last iter.', best='best on val')
# the means of the BDL protocol; SYNTHIA is reported as mIoU16 / mIoU13
MEANS = ('mIoU', 'mIoU16', 'mIoU13')


def format_round_table(rows: List[dict],
                       class_names: Sequence[str] = (),
                       selection: Optional[str] = None,
                       report_metric: str = 'mIoU') -> str:
    """Markdown table: model, per-class IoU, headline metric, gain, best on
    val, SSL pixel ratio.

    The headline column is ``report_metric`` by the selection rule named in
    its header (``'last'``: the phase's last iteration; ``'best'``: the best
    evaluation on val within the phase); ``gain`` is its change relative to
    the previous row, so the table shows what each phase contributed. Rows
    with selection data (``best``) also get the best-on-val column (value @
    iteration) and, when the headline is not the last-iteration mIoU, a
    last-iteration mIoU column. With a headline other than mIoU (SYNTHIA:
    mIoU13 or mIoU16) the rows' other means of mIoU, mIoU16 and mIoU13 get
    a column each (the headline's own too when it is the best on val).
    Per-class IoUs are the last iteration's.

    Args:
        rows (list[dict]): Rows made by the loop (``model``, ``mIoU``,
            ``per_class``, ``ssl_pixel_ratio``; optional ``headline``,
            ``best``).
        class_names (Sequence[str]): Column order of the classes.
            Defaults to ().
        selection (str, optional): Rule of the headline column, 'last' or
            'best'. Defaults to None (rows without selection data: the
            last-iteration mIoU, header ``mIoU``).
        report_metric (str): Headline metric. Defaults to 'mIoU'.

    Returns:
        str: The table, one line per row plus the header.
    """
    names = [c for c in class_names
             if any(c in (row.get('per_class') or {}) for row in rows)]
    with_best = any(row.get('best') for row in rows)
    title = report_metric
    if selection is not None:
        title = f'{report_metric} ({RULE_TITLES[selection]})'
    show_last = with_best and (selection == 'best' or report_metric != 'mIoU')
    # a headline other than mIoU (SYNTHIA) shows all three means as well
    means = [m for m in MEANS if report_metric != 'mIoU'
             and (m != report_metric or selection == 'best')
             and any(row.get(m) is not None for row in rows)]
    if means:
        show_last = False  # the means columns hold the last-iteration mIoU
    header = ['model'] + names + [title, 'gain']
    if show_last:
        header.append('mIoU (last iter.)')
    header += [f'{m} (last iter.)' if selection == 'best' else m
               for m in means]
    if with_best:
        header.append(f'best {report_metric} on val @ iter')
    header.append('SSL pixel ratio')
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join([' --- '] * len(header)) + '|']
    previous = None
    for row in rows:
        value = headline_value(row)
        gain = None
        if value is not None and previous is not None:
            gain = value - previous
        ratio = row.get('ssl_pixel_ratio')
        cells = [row['model']]
        cells += [_fmt((row.get('per_class') or {}).get(c)) for c in names]
        cells += [_fmt(value), '-' if gain is None else f'{gain:+.1f}']
        if show_last:
            cells.append(_fmt(row.get('mIoU')))
        cells += [_fmt(row.get(m)) for m in means]
        if with_best:
            best = row.get('best') or {}
            cells.append('-' if best.get('value') is None else
                         f'{best["value"]:.1f} @ {best["iter"]}')
        cells.append('-' if ratio is None else f'{100 * ratio:.0f}%')
        lines.append('| ' + ' | '.join(cells) + ' |')
        if value is not None:
            previous = value
    return '\n'.join(lines)


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Args:
        path (str): Destination.
        text (str): File content.
    """
    with atomic_open(path, 'w', what='round table') as f:
        f.write(text)


def write_round_files(work_dir: str, rows: List[dict],
                      class_names: Sequence[str], **table_info) -> str:
    """Write ``bdl_rounds.json`` and ``bdl_rounds.md`` into ``work_dir``.

    Args:
        work_dir (str): Run directory.
        rows (list[dict]): Table rows.
        class_names (Sequence[str]): Class names (column order).
        **table_info: What the table states about itself (``selection``,
            ``report_metric``, ``val_interval``, ``continue_from``), stored
            at the top of the json; the first two go to
            :func:`format_round_table`.

    Returns:
        str: The Markdown table.
    """
    table = format_round_table(
        rows, class_names, table_info.get('selection'),
        table_info.get('report_metric', 'mIoU'))
    write_atomic(
        osp.join(work_dir, 'bdl_rounds.json'),
        json.dumps(dict(classes=list(class_names), **table_info, rows=rows),
                   indent=2))
    write_atomic(osp.join(work_dir, 'bdl_rounds.md'), table + '\n')
    return table
