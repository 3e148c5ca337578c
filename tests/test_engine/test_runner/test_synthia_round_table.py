"""SYNTHIA-style reporting: the round table carries mIoU, mIoU16 and mIoU13,
its headline and gains use the config's ``report_metric``."""
import json
import os.path as osp

import pytest
from bdl_tiny import real_bdl_cfg, write_bdl_data
from mmengine.config import Config
from mmengine.runner import Runner

from mmbdl.evaluation.round_table import format_round_table


@pytest.fixture(scope='module')
def synthia_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthia')
    data_root = write_bdl_data(str(root / 'data'))
    work = str(root / 'work')
    cfg = real_bdl_cfg(data_root, work, num_rounds=1, num_ssl_rounds=1,
                       iters=dict(source_only=2, translation=2, adaptation=2,
                                  self_training=2))
    # the toy's 3 classes with SYNTHIA-like subsets: "mIoU16" drops one
    # class, "mIoU13" two (19 classes use the paper's subsets by default)
    cfg['val_evaluator'] = dict(type='BDLIoUMetric',
                                class_subsets=dict(mIoU16=(0, 1),
                                                   mIoU13=(1, )))
    cfg['report_metric'] = 'mIoU13'
    Runner.from_cfg(Config(cfg)).train()
    with open(osp.join(work, 'bdl_rounds.json')) as f:
        table = json.load(f)
    with open(osp.join(work, 'bdl_rounds.md')) as f:
        md = f.read()
    return table, md


def test_json_rows_carry_the_three_means(synthia_run):
    table, _ = synthia_run
    assert table['report_metric'] == 'mIoU13'
    assert [r['phase'] for r in table['rows']] == [
        'k0_source_only', 'k1_adaptation', 'k1_self_training_i1']
    for row in table['rows']:
        for mean in ('mIoU', 'mIoU16', 'mIoU13'):
            assert row[mean] == row['metrics'][mean]
        # the subsets are means over their classes
        iou = row['per_class']
        assert row['mIoU13'] == pytest.approx(iou['square'], abs=0.01)
        assert row['mIoU16'] == pytest.approx(
            (iou['background'] + iou['square']) / 2, abs=0.01)
        assert row['headline'] == row['mIoU13']


def test_markdown_headline_and_gains_use_report_metric(synthia_run):
    table, md = synthia_run
    header, _, *lines = md.strip().splitlines()
    cols = [c.strip() for c in header.strip('|').split('|')]
    head = cols.index('mIoU13 (last iter.)')
    assert cols[head:head + 4] == ['mIoU13 (last iter.)', 'gain', 'mIoU',
                                   'mIoU16']
    rows = table['rows']
    for line, row, prev in zip(lines, rows, [None] + rows[:-1]):
        cells = [c.strip() for c in line.strip('|').split('|')]
        assert cells[head] == f'{row["mIoU13"]:.1f}'
        gain = '-' if prev is None else \
            f'{row["mIoU13"] - prev["mIoU13"]:+.1f}'
        assert cells[head + 1] == gain
        assert cells[head + 2] == f'{row["mIoU"]:.1f}'
        assert cells[head + 3] == f'{row["mIoU16"]:.1f}'


def test_gta5_tables_keep_the_mIoU_headline():
    rows = [dict(model='M', mIoU=40.0, mIoU16=45.0, mIoU13=50.0,
                 headline=40.0)]
    md = format_round_table(rows, (), 'last', 'mIoU')
    assert md.splitlines()[0] == ('| model | mIoU (last iter.) | gain | '
                                  'SSL pixel ratio |')


@pytest.mark.parametrize('name,metric', [
    ('bdl_deeplabv2-r101_1xb1-k2n2_synthia-to-cityscapes-1024x512.py',
     'mIoU13'),
    ('bdl_fcn8s-vgg16_1xb1-k2n2_synthia-to-cityscapes-1024x512.py',
     'mIoU16'),
    ('bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py', None),
    ('bdl_fcn8s-vgg16_1xb1-k2n2_gta5-to-cityscapes-1024x512.py', None),
])
def test_paper_configs_report_the_papers_metric(name, metric):
    """SYNTHIA: mIoU13 (DeepLab-v2) / mIoU16 (FCN-8s); GTA5: the loop's
    default, mIoU."""
    root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))))
    cfg = Config.fromfile(osp.join(root, 'configs/bdl', name))
    assert cfg.get('report_metric') == metric
