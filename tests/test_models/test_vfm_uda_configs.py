"""The VFM-UDA configs: the recipe's numbers pinned, full-size builds, the
lr groups against the release's rule, and 2 iterations of the recipe and
of every BDL variant on a shrunk ViT through tools/train.py."""
import copy
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmbdl.models.algorithms.bdl import follow_segmentor
from mmbdl.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmbdl.utils import get_inference_segmentor

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
D = 'configs/vfm-uda/'
TAIL = '_1xb8-40k_gta5-to-cityscapes-1024x1024.py'
VITB = D + 'vfm-uda_dinov2-vitb14' + TAIL
VITL = D + 'vfm-uda_dinov2-vitl14' + TAIL
CYCLEGAN = D + 'bdl-vfm-uda-cyclegan_dinov2-vitb14' + TAIL
PERCEPTUAL = D + 'bdl-vfm-uda-perceptual_dinov2-vitb14' + TAIL
OFFLINE = D + 'bdl-vfm-uda-offline_dinov2-vitb14' + TAIL
ADV = D + 'bdl-vfm-uda-adv_dinov2-vitb14' + TAIL
VARIANTS = [CYCLEGAN, PERCEPTUAL, OFFLINE, ADV]


def load(path):
    return Config.fromfile(osp.join(REPO, path))


def count(module):
    return sum(p.numel() for p in module.parameters())


def head_params(d, classes=19):
    """The light head by the release's layer list: two bias-free 2x2
    transposed convolutions, a bias-free 3x3 convolution, three
    LayerNorm2d (weight and bias), a bias-free 1x1 classifier."""
    return (d * (d // 2) * 4 + (d // 2) * (d // 4) * 4 +
            (d // 4) * (d // 4) * 9 + 2 * (d // 2) + 2 * 2 * (d // 4) +
            (d // 4) * classes)


def test_recipe_numbers():
    cfg = load(VITB)
    seg = cfg.model.segmentor
    m = seg.segmentor
    assert cfg.crop == 1024 and cfg.vit_input_size == 1120
    bb = m.backbone
    assert (bb.type, bb.arch, bb.patch_size, bb.out_indices) == (
        'DINOv2VisionTransformer', 'vit-b14', 14, -1)
    assert bb.input_resize == 1120 and bb.with_mask_token is True
    assert bb.drop_path_rate == 0.0
    assert bb.init_cfg.checkpoint == 'bdl://dinov2-vitb14'
    head = m.decode_head
    assert (head.type, head.in_channels, head.num_classes,
            head.align_corners) == ('VFMLightHead', 768, 19, False)
    assert head.loss_decode.avg_non_ignore is True
    assert m.test_cfg == dict(mode='slide', crop_size=(1024, 1024),
                              stride=(512, 512))
    pre = m.data_preprocessor
    assert pre.mean == [123.675, 116.28, 103.53]
    assert pre.std == [58.395, 57.12, 57.375] and pre.bgr_to_rgb
    # the terms and their augmentations
    weak = dict(brightness=32 / 255, contrast=0.5, saturation=0.5,
                hue=18 / 360, p=0.9)
    strong = dict(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.2,
                  p=0.8, blur_p=0.5, blur_sigma=(0.15, 1.15))
    terms = seg.loss_terms.uda
    assert [t.type for t in terms] == ['SourceCE', 'ClassMix',
                                       'MaskedConsistency']
    assert terms[0].augment == weak
    assert terms[1] == dict(type='ClassMix', classes='batch',
                            target_augment=weak, augment=strong,
                            reduction='all')
    assert terms[2] == dict(type='MaskedConsistency', mask_mode='tokens',
                            mask_ratio=0.7, augment=strong,
                            reduction='all')
    assert seg.type == 'EMATeacherSegmentor' and seg.discriminator is None
    assert seg.ema_cfg == dict(pseudo_threshold=0.968, flip=True,
                               teacher_mode='train', ignore_mask=True)
    assert cfg.custom_hooks == [dict(type='EMATeacherHook', alpha=0.999,
                                     ramp=True)]
    # optimisation
    opt = cfg.optim_wrapper.segmentation.segmentor
    assert (opt.type, opt.dtype) == ('AmpOptimWrapper', 'float16')
    assert opt.optimizer.type == 'AdamW'
    assert opt.optimizer.lr == pytest.approx(5e-5 * 8**0.5)
    assert opt.optimizer.weight_decay == 0.01
    assert opt.paramwise_cfg == dict(num_layers=12, decay_rate=1.0,
                                     backbone_lr_mult=0.1)
    (sched, ) = cfg.param_scheduler.segmentation
    assert (sched.type, sched.start_factor, sched.warmup_iters,
            sched.total_iters) == ('WarmupLinearLR', 1e-3, 1500, 40000)
    # the loop: one online-UDA phase of 40k iterations
    assert cfg.train_cfg.plan == dict(first=[], round=['uda'])
    assert cfg.train_cfg.phase_iters.uda == 40000
    assert cfg.train_cfg.self_training == 'ema_teacher'
    assert cfg.randomness.seed == 42
    assert cfg.model.translator is None


def test_recipe_data_numbers():
    cfg = load(VITB)
    loader = cfg.train_dataloader
    assert loader.batch_size == 8
    dataset = loader.dataset
    assert dataset.type == 'UDADataset'
    assert dataset.rare_class_sampling == dict(
        temperature=0.05, min_pixels=3000, min_crop_ratio=2.0)
    src = {t['type']: t for t in dataset.source.pipeline}
    tgt = {t['type']: t for t in dataset.target.pipeline}
    assert src['RandomResize'].scale[1] == 1440
    assert src['RandomResize'].ratio_range == (0.9, 1.1)
    # the target's resize, pad and flip carry its border mask
    assert tgt['SegFieldsRandomResize'].scale[1] == 1024
    assert tgt['SegFieldsRandomResize'].ratio_range == (0.9, 1.1)
    assert 'SegFieldsRandomFlip' in tgt and 'SegFieldsPad' in tgt
    assert src['RandomCrop'].crop_size == (1024, 1024)
    assert tgt['RandomCrop'].crop_size == (1024, 1024)
    assert (tgt['BorderIgnoreMask'].top, tgt['BorderIgnoreMask'].bottom,
            tgt['BorderIgnoreMask'].left, tgt['BorderIgnoreMask'].right) \
        == (0.03, 0.25, 0.03, 0.03)
    assert 'LoadAnnotations' not in tgt  # the target is unlabelled


def test_vitl_changes_only_the_size():
    b, lg = load(VITB), load(VITL)
    bb = lg.model.segmentor.segmentor.backbone
    assert bb.arch == 'vit-l14'
    assert bb.init_cfg.checkpoint == 'bdl://dinov2-vitl14'
    assert lg.model.segmentor.segmentor.decode_head.in_channels == 1024
    assert lg.optim_wrapper.segmentation.segmentor.paramwise_cfg.num_layers \
        == 24
    for key in ('train_cfg', 'param_scheduler', 'train_dataloader',
                'custom_hooks', 'randomness'):
        assert lg[key] == b[key], key
    assert lg.model.segmentor.loss_terms == b.model.segmentor.loss_terms


# the official DINOv2 counts (mask token included) and the light head
FULL_SIZE = {VITB: (86_580_480, head_params(768), 12),
             VITL: (304_368_640, head_params(1024), 24)}


@pytest.mark.parametrize('path', [VITB, VITL])
def test_full_size_build(path):
    cfg = load(path)
    with torch.device('meta'):
        model = MODELS.build(cfg.model.segmentor)
    seg = get_inference_segmentor(model)
    n_backbone, n_head, depth = FULL_SIZE[path]
    assert count(seg.backbone) == n_backbone
    assert count(seg.decode_head) == n_head
    assert len(seg.backbone.layers) == depth
    assert tuple(seg.backbone.mask_token.shape) == (
        1, seg.backbone.embed_dims)
    assert count(model.teacher) == count(seg)


def release_groups(model, lr, mult=0.1, decay=1.0, depth=12):
    """The release's groups (``configure_optimizers``): the head at lr,
    blocks from the last one down at ``lr * mult * decay**i``, the stem at
    the last group's rate."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    want = {n: lr for n in names if '.decode_head.' in f'.{n}'}
    rate = lr * mult
    for i in range(depth - 1, -1, -1):
        for n in names:
            if f'backbone.layers.{i}.' in n:
                want[n] = rate
        rate *= decay
    for n in names - set(want):
        want[n] = rate
    return want


def test_lr_groups_follow_the_release():
    cfg = load(VITB)
    seg = copy.deepcopy(cfg.model.segmentor.segmentor)
    seg.backbone.pop('init_cfg')
    seg.backbone.update(embed_dims=32, num_layers=3, num_heads=2)
    seg.decode_head.in_channels = 32
    model = MODELS.build(seg)
    opt = copy.deepcopy(cfg.optim_wrapper.segmentation.segmentor)
    opt.type = 'OptimWrapper'  # AMP needs a GPU; the groups are the same
    opt.pop('dtype')
    opt.paramwise_cfg.num_layers = 3
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=opt.pop('constructor'), optim_wrapper_cfg=opt,
        paramwise_cfg=opt.pop('paramwise_cfg')))
    wrapper = constructor(model)
    got = {}
    by_id = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        assert group['weight_decay'] == 0.01
        for p in group['params']:
            got[by_id[id(p)]] = group['lr']
    want = release_groups(model, 5e-5 * 8**0.5, depth=3)
    assert set(got) == set(want)
    for name in want:
        assert got[name] == pytest.approx(want[name]), name
    assert got['backbone.mask_token'] == pytest.approx(5e-6 * 8**0.5)


def test_variants_change_one_thing_each():
    base, cyc, per, off, adv = (load(p) for p in [VITB] + VARIANTS)
    recipe = base.model.segmentor.loss_terms.uda
    assert cyc.train_cfg.plan == dict(
        first=['uda'], round=['translation', 'adaptation'])
    assert cyc.model.segmentor.loss_terms.adaptation == recipe
    assert cyc.model.translator.perceptual_model is None
    assert cyc.train_cfg.init.adaptation == 'continue'
    (ema, translate) = cyc.custom_hooks
    assert ema.kinds == ['uda', 'adaptation'] and ema.ramp
    assert translate.type == 'SourceTranslationHook' and translate.scale \
        is None
    # + the perceptual loss: F's perceptual model is M at F's crop
    assert per.model.translator.perceptual_model == dict(
        follow_segmentor=True, backbone=dict(input_resize=490))
    assert per.model.translator.perceptual_memory_saving is True
    for key in ('train_cfg', 'custom_hooks', 'optim_wrapper'):
        assert per[key] == cyc[key], key
    # + BDL's offline rounds: N = 2, pseudo-labels on disk, from DINOv2
    assert off.train_cfg.plan.round[-1] == dict(kind='self_training',
                                                repeat=2)
    assert off.train_cfg.self_training == dict(uda='ema_teacher',
                                               self_training='offline')
    assert off.train_cfg.init.self_training == 'initial'
    assert off.model.segmentor.loss_terms.self_training == [
        dict(type='SourceCE', augment=recipe[0].augment), 'pseudo_labels']
    assert off.custom_hooks[-1] == dict(
        type='PseudoLabelHook', policy='classwise_median',
        kinds=['self_training'])
    # + the adversarial term in both M phases on S'
    terms = adv.model.segmentor.loss_terms
    assert terms.adaptation == recipe + ['adversarial']
    assert terms.self_training[-1] == 'adversarial'
    assert adv.model.segmentor.uda_cfg.lambda_adv == 1e-3
    assert adv.model.segmentor.discriminator.type == 'FCDiscriminator'
    for cfg in (cyc, per, off, adv):
        assert cfg.model.segmentor.loss_terms.uda == recipe
        assert cfg.train_cfg.phase_iters.uda == 40000
    built = follow_segmentor(per.model.translator,
                             per.model.segmentor.to_dict())
    assert built['perceptual_model']['backbone']['input_resize'] == 490
    assert built['perceptual_model']['decode_head']['type'] == \
        'VFMLightHead'


# ------------------------------------------------- two iterations, shrunk
CROP = 64  # the ViT sees int(64 * 1.1) // 14 * 14 = 70: 5 x 5 patches


def shrink(cfg, data, work):
    """The config on the tiny data set with a 2-block ViT of width 32."""
    from bdl_tiny import tiny_translator
    seg = cfg.model.segmentor
    m = seg.segmentor
    m.backbone.pop('init_cfg')
    m.backbone.update(embed_dims=32, num_layers=2, num_heads=2,
                      input_resize=70)
    m.decode_head.update(in_channels=32, num_classes=3)
    m.test_cfg = dict(mode='slide', crop_size=(CROP, CROP),
                      stride=(CROP // 2, CROP // 2))
    # every pixel confident: the teacher's weights are 1 from the first
    # step, so the masked term's gradient reaches the mask token
    seg.ema_cfg.pseudo_threshold = 0.0
    if seg.get('discriminator'):
        seg.discriminator.update(num_classes=3, base_channels=4)
    if cfg.model.translator is not None:
        tiny = tiny_translator()
        per = cfg.model.translator.perceptual_model
        if per is not None:
            per = dict(per, backbone=dict(input_resize=70))
        cfg.model.translator = dict(
            tiny, perceptual_model=per,
            perceptual_memory_saving=cfg.model.translator.get(
                'perceptual_memory_saving', False))
    meta = dict(classes=('background', 'square', 'stripe'))

    def seg_set(img, ann, pipeline):
        prefix = dict(img_path=img)
        if ann:
            prefix['seg_map_path'] = ann
        return dict(type='BaseSegDataset', data_root=data, metainfo=meta,
                    img_suffix='.png', seg_map_suffix='.png',
                    data_prefix=prefix, pipeline=pipeline,
                    serialize_data=False)

    load_img = dict(type='LoadImageFromFile')
    flip = dict(type='RandomFlip', prob=0.5)
    source = seg_set('src/img', 'src/ann', [
        load_img, dict(type='LoadAnnotations'), flip,
        dict(type='PackSegInputs')])
    target = seg_set('tgt/img/train', None, [
        load_img, dict(type='BorderIgnoreMask'),
        dict(type='LoadPseudoLabel', num_classes=3),  # offline rounds only
        dict(type='SegFieldsRandomFlip', prob=0.5),
        dict(type='PackSegInputsWithIgnoreMask')])
    cfg.train_dataloader = dict(
        batch_size=2, num_workers=0,
        sampler=dict(type='InfiniteSampler', shuffle=True),
        dataset=dict(type='UDADataset', source=source, target=target,
                     seed=0))
    val = dict(batch_size=1, num_workers=0,
               sampler=dict(type='DefaultSampler', shuffle=False),
               dataset=seg_set('tgt/img/val', 'tgt/ann/val', [
                   load_img, dict(type='LoadAnnotations'),
                   dict(type='PackSegInputs')]))
    cfg.val_dataloader = cfg.test_dataloader = val
    cfg.pseudo_label_dataloader = dict(val, dataset=seg_set(
        'tgt/img/train', None, [load_img, dict(type='PackSegInputs')]))
    cfg.val_evaluator = cfg.test_evaluator = dict(type='BDLIoUMetric')
    cfg.train_cfg.phase_iters = {k: 2 for k in cfg.train_cfg.phase_iters}
    cfg.train_cfg.allow_random_init = True
    if 'translation' in cfg.train_cfg.phase_iters:
        mload = lambda key: dict(type='mmagic.LoadImageFromFile',  # noqa
                                 key=key)
        cfg.train_cfg.phase_dataloaders.translation = dict(
            batch_size=1, num_workers=0,
            sampler=dict(type='InfiniteSampler', shuffle=True),
            dataset=dict(
                type='UnpairedDataset', data_root=data,
                data_prefix=dict(source='src/img', target='tgt/img/train'),
                pipeline=[mload('img_source'), mload('img_target'),
                          dict(type='mmagic.PackInputs',
                               keys=['img_source', 'img_target'],
                               data_keys=['img_source', 'img_target'])]))
        for hook in cfg.custom_hooks:
            if hook.type == 'SourceTranslationHook':
                hook.update(img_dir=osp.join(data, 'src/img'),
                            num_workers=0)
    opt = cfg.optim_wrapper.segmentation.segmentor
    opt.type = 'OptimWrapper'  # AMP needs a GPU
    opt.pop('dtype')
    opt.paramwise_cfg.num_layers = 2
    cfg.param_scheduler.segmentation = [
        dict(type='WarmupLinearLR', start_factor=1e-3, warmup_iters=1,
             total_iters=2, by_epoch=False)
    ]
    cfg.default_hooks.checkpoint.interval = 100
    cfg.work_dir = work
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize('path', [VITB] + VARIANTS)
def test_two_iterations_through_train_py(tmp_path, path):
    from bdl_tiny_data import write_bdl_data
    from cli_runner import run_tool
    data = write_bdl_data(str(tmp_path / 'data'), size=CROP)
    work = str(tmp_path / 'work')
    cfg = shrink(load(path), data, work)
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    result = run_tool('tools/train.py', [cfg_path, '--work-dir', work])
    assert result.returncode == 0, result.stderr[-3000:]
    with open(osp.join(work, 'bdl_rounds.json')) as f:
        rows = json.load(f)['rows']
    kinds = [r['kind'] for r in rows]
    if path == VITB:
        assert kinds == ['uda'] and rows[0]['phase'] == 'k1_uda'
    elif path in (CYCLEGAN, PERCEPTUAL):
        assert kinds == ['uda', 'adaptation']
    else:
        assert kinds == ['uda', 'adaptation', 'self_training',
                         'self_training']
    assert all(r['mIoU'] is not None for r in rows)
    key = 'segmentor.segmentor.backbone.mask_token'
    for row in rows:
        state = torch.load(osp.join(work, row['phase'] + '.pth'),
                           map_location='cpu',
                           weights_only=False)['state_dict']
        assert all(torch.isfinite(v).all() for v in state.values()
                   if v.is_floating_point())
        if row['kind'] in ('uda', 'adaptation'):
            # the recipe's phases train the mask token (token masking
            # reached it); the offline rounds restart from DINOv2's
            assert state[key].abs().sum() > 0, row['phase']
