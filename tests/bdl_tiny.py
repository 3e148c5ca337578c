"""Tiny data, models and configs for tests of the BDL loop.

The data: 32x32 source images (``src/img``, labels ``src/ann``) and target
images (``tgt/img/{train,val}``, labels ``tgt/ann/{train,val}``), 3 classes
drawn as coloured shapes; the target uses another palette (the domain gap).
"""
import copy
import json
import os
import os.path as osp
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
# the data set (bdl_tiny_data.py), re-exported for the tests
from bdl_tiny_data import (CAFFE_MEAN, CLASSES, SRC_COLOURS,  # noqa: F401
                           TGT_COLOURS, write_bdl_data)
from mmengine.config import ConfigDict
from mmengine.hooks import Hook
from mmengine.model import BaseDataPreprocessor, BaseModel
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image
from torch.utils.data import Dataset

from mmbdl.engine.hooks import BDLHook, PhaseArtifacts
from mmbdl.registry import DATASETS, HOOKS, MODELS


# ----------------------------------------------------------------------
# stand-ins (used where the real modules are not wanted)
def _read(path):
    img = np.array(Image.open(path).convert('RGB'))[..., ::-1]  # BGR
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


@DATASETS.register_module(force=True)
class ToyUDADataset(Dataset):
    """Pairs source image i with target image i (mod), branch format."""

    def __init__(self, data_root: str, translated_source_dir=None,
                 pseudo_label_dir=None, seed: int = 0, **kwargs) -> None:
        self.root = data_root
        self.src = sorted(os.listdir(osp.join(data_root, 'src/img')))
        self.tgt = sorted(os.listdir(osp.join(data_root, 'tgt/img/train')))
        self.translated_source_dir = translated_source_dir
        self.pseudo_label_dir = pseudo_label_dir
        self.metainfo = dict(classes=CLASSES)

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, idx: int) -> dict:
        name = self.src[idx]
        src_dir = self.translated_source_dir or osp.join(self.root, 'src/img')
        src = _read(osp.join(src_dir, name))
        label = np.array(Image.open(osp.join(self.root, 'src/ann', name)))
        s_sample = SegDataSample(
            gt_sem_seg=PixelData(data=torch.from_numpy(label)[None].long()))
        s_sample.set_metainfo(dict(img_shape=label.shape,
                                   ori_shape=label.shape))
        tname = self.tgt[idx % len(self.tgt)]
        tgt = _read(osp.join(self.root, 'tgt/img/train', tname))
        t_sample = SegDataSample()
        t_sample.set_metainfo(dict(img_shape=tuple(tgt.shape[1:]),
                                   ori_shape=tuple(tgt.shape[1:])))
        if self.pseudo_label_dir is not None:
            pl = np.array(Image.open(osp.join(self.pseudo_label_dir, tname)))
            t_sample.gt_sem_seg = PixelData(
                data=torch.from_numpy(pl)[None].long())
        return dict(inputs=dict(source=src, target=tgt),
                    data_samples=dict(source=s_sample, target=t_sample))


@MODELS.register_module(force=True)
class ToyUDAPreProcessor(BaseDataPreprocessor):
    """Caffe normalisation per branch; plain batches pass as one branch."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer('mean',
                             torch.tensor(CAFFE_MEAN).view(1, 3, 1, 1), False)

    def _norm(self, imgs):
        return torch.stack([i.float() for i in imgs]).to(
            self.mean.device) - self.mean

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs, samples = data['inputs'], data['data_samples']
        if isinstance(inputs, dict):
            return dict(
                inputs={k: self._norm(v) for k, v in inputs.items()},
                data_samples=samples)
        return dict(inputs=self._norm(inputs), data_samples=samples)


@MODELS.register_module(force=True)
class ToyAdvSegmentor(BaseModel):
    """Eq. 1 / Eq. 3 in miniature: CE on source (+ pseudo target) + adv."""

    def __init__(self, segmentor: dict, lambda_adv: float = 0.01,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor or dict(
            type='ToyUDAPreProcessor'))
        self.segmentor = MODELS.build(ConfigDict(copy.deepcopy(segmentor)))
        n = self.segmentor.decode_head.num_classes
        self.discriminator = nn.Sequential(
            nn.Conv2d(n, 4, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
        self.lambda_adv = lambda_adv

    def _logits(self, img):
        out = self.segmentor(img, None, mode='tensor')
        return F.interpolate(out, img.shape[2:], mode='bilinear',
                             align_corners=True)

    def train_step(self, data, optim_wrapper):
        data = self.data_preprocessor(data, True)
        inputs, samples = data['inputs'], data['data_samples']
        seg_w, d_w = optim_wrapper['segmentor'], optim_wrapper['discriminator']
        self.discriminator.requires_grad_(False)
        src = self._logits(inputs['source'])
        tgt = self._logits(inputs['target'])
        gt = torch.stack([s.gt_sem_seg.data[0] for s in samples['source']])
        losses = {'src.loss_ce': F.cross_entropy(src, gt, ignore_index=255)}
        if all('gt_sem_seg' in s for s in samples['target']):
            pgt = torch.stack(
                [s.gt_sem_seg.data[0] for s in samples['target']])
            losses['pseudo.loss_ce'] = F.cross_entropy(
                tgt, pgt, ignore_index=255)
        d_out = self.discriminator(tgt.softmax(1))
        losses['tgt.loss_adv'] = self.lambda_adv * \
            F.binary_cross_entropy_with_logits(d_out, torch.zeros_like(d_out))
        loss, log_vars = self.parse_losses(losses)
        seg_w.update_params(loss)
        self.discriminator.requires_grad_(True)
        d_s = self.discriminator(src.detach().softmax(1))
        d_t = self.discriminator(tgt.detach().softmax(1))
        loss_d = 0.5 * (
            F.binary_cross_entropy_with_logits(d_s, torch.zeros_like(d_s))
            + F.binary_cross_entropy_with_logits(d_t, torch.ones_like(d_t)))
        d_w.update_params(loss_d)
        log_vars['loss_d'] = loss_d.detach()
        return log_vars

    def val_step(self, data):
        return self.segmentor.val_step(data)

    test_step = val_step

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.segmentor(inputs, data_samples, mode=mode)


@HOOKS.register_module(force=True)
class ToyPseudoLabelHook(BDLHook):
    """Labels the target set with argmax of the current segmentor."""

    def __init__(self, data_root: str, threshold: float = 0.34) -> None:
        self.data_root = data_root
        self.threshold = threshold

    def before_phase(self, runner, phase) -> Optional[PhaseArtifacts]:
        if phase.kind != 'self_training':
            return None
        from mmbdl.utils import get_inference_segmentor, unwrap_model
        out = osp.join(runner.work_dir, 'pseudo_labels',
                       f'k{phase.k}_i{phase.i}')
        from mmengine.dist import barrier, is_main_process
        if is_main_process() and not osp.isfile(
                osp.join(out, '.complete.json')):
            os.makedirs(out, exist_ok=True)
            seg = get_inference_segmentor(runner.model)
            pre = unwrap_model(runner.model).segmentor.data_preprocessor
            img_dir = osp.join(self.data_root, 'tgt/img/train')
            kept = total = 0
            was_training = seg.training
            seg.eval()
            with torch.no_grad():
                for name in sorted(os.listdir(img_dir)):
                    img = pre._norm([_read(osp.join(img_dir, name))])
                    prob = seg(img, None, mode='tensor')
                    prob = F.interpolate(prob, img.shape[2:],
                                         mode='bilinear').softmax(1)
                    conf, label = prob.max(1)
                    label[conf < self.threshold] = 255
                    kept += int((label != 255).sum())
                    total += label.numel()
                    Image.fromarray(label[0].numpy().astype(np.uint8)).save(
                        osp.join(out, name))
            seg.train(was_training)
            with open(osp.join(out, '.complete.json'), 'w') as f:
                json.dump(dict(pixel_ratio=kept / total), f)
        barrier()
        with open(osp.join(out, '.complete.json')) as f:
            stats = json.load(f)
        return PhaseArtifacts(pseudo_label_dir=out, pseudo_label_stats=stats)


@HOOKS.register_module(force=True)
class EventRecorderHook(BDLHook):
    """Records phase events (and a snapshot of relevant state) in order."""

    def __init__(self) -> None:
        self.events = []
        self.head_weights = {}  # iteration -> classifier weight before it

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        from mmbdl.utils import get_inference_segmentor
        seg = get_inference_segmentor(runner.model)
        self.head_weights[runner.iter] = \
            seg.decode_head.conv_seg.weight.detach().clone()

    def before_phase(self, runner, phase) -> None:
        self.events.append(('before_phase', phase.name, runner.iter))

    def after_phase(self, runner, phase) -> None:
        self.events.append(('after_phase', phase.name, runner.iter))


@HOOKS.register_module(force=True)
class LossRecorderHook(Hook):
    """Keeps the total loss of every iteration (per rank)."""

    def __init__(self) -> None:
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.losses.append(round(float(outputs.get('loss', 0.0)), 6))


@HOOKS.register_module(force=True)
class RaiseAtHook(BDLHook):
    """Raises ``KeyboardInterrupt`` at a given point (simulated kill)."""

    def __init__(self, event: str, value, phase_kind: Optional[str] = None):
        self.event = event
        self.value = value
        self.phase_kind = phase_kind

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if self.event == 'iter' and runner.iter + 1 == self.value:
            raise KeyboardInterrupt(f'killed after iteration {self.value}')

    def before_phase(self, runner, phase) -> None:
        if self.event == 'before_phase' and phase.name == self.value:
            raise KeyboardInterrupt(f'killed in before_phase {self.value}')

    def after_phase(self, runner, phase) -> None:
        if self.event == 'after_phase' and phase.name == self.value:
            raise KeyboardInterrupt(f'killed in after_phase {self.value}')


# ----------------------------------------------------------------------
def tiny_segmentor(num_classes: int = 3) -> dict:
    """A tiny 1/8-stride mmseg EncoderDecoder (Caffe normalisation)."""
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=CAFFE_MEAN, std=[1.0, 1.0, 1.0],
            bgr_to_rgb=False, pad_val=0, seg_pad_val=255, size_divisor=1),
        backbone=dict(
            type='ResNetV1c', depth=18, num_stages=2, out_indices=(1, ),
            stem_channels=8, base_channels=8, strides=(1, 2),
            dilations=(1, 1), norm_cfg=dict(type='BN', requires_grad=True)),
        decode_head=dict(
            type='FCNHead', in_channels=16, in_index=0, channels=8,
            num_convs=1, num_classes=num_classes, concat_input=False,
            dropout_ratio=0.0,
            norm_cfg=dict(type='BN', requires_grad=True),
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))


def tiny_translator(buffer_size: int = 2) -> dict:
    """A tiny PerceptualCycleGAN whose M is :func:`tiny_segmentor`."""
    return dict(
        type='PerceptualCycleGAN',
        data_preprocessor=dict(
            type='mmagic.DataPreprocessor', mean=127.5, std=127.5,
            output_channel_order='RGB',
            data_keys=['img_source', 'img_target']),
        generator=dict(
            type='mmagic.ResnetGenerator', in_channels=3, out_channels=3,
            base_channels=4, norm_cfg=dict(type='IN'), use_dropout=False,
            num_blocks=1, padding_mode='reflect',
            init_cfg=dict(type='normal', gain=0.02)),
        discriminator=dict(
            type='mmagic.PatchDiscriminator', in_channels=3,
            base_channels=4, num_conv=2, norm_cfg=dict(type='IN'),
            init_cfg=dict(type='normal', gain=0.02)),
        default_domain='target',
        reachable_domains=['source', 'target'],
        related_domains=['source', 'target'],
        buffer_size=buffer_size,
        loss_config=dict(cycle_loss_weight=10.0, id_loss_weight=5.0),
        perceptual_model=tiny_segmentor(),
        perceptual_loss_cfg=dict(loss_type='mse_in', lambda_per=0.1,
                                 lambda_per_recon=10.0),
        num_classes=3)


def toy_bdl_cfg(data_root: str, work_dir: str, num_rounds: int = 2,
                num_ssl_rounds: int = 1, iters: Optional[dict] = None,
                extra_hooks=(), **train_cfg_overrides) -> dict:
    """Runner kwargs for a tiny BDL run with stand-in segmentation parts.

    Args:
        data_root (str): Folder written by :func:`write_bdl_data`.
        work_dir (str): Work dir.
        num_rounds (int): K. Defaults to 2.
        num_ssl_rounds (int): N. Defaults to 1.
        iters (dict, optional): Phase iterations. Defaults to 2 each
            (translation 3).
        extra_hooks (Sequence[dict]): More custom hooks. Defaults to ().
        **train_cfg_overrides: Keys of the loop config.

    Returns:
        dict: ``Runner(**kwargs)`` arguments.
    """
    iters = iters or dict(source_only=2, translation=3, adaptation=2,
                          self_training=2)
    load = lambda key: dict(type='mmagic.LoadImageFromFile', key=key)  # noqa
    trans_pipeline = [
        load('img_A'), load('img_B'),
        dict(type='KeyMapper', mapping=dict(img_source='img_A',
                                            img_target='img_B'),
             remapping=dict(img_source='img_source',
                            img_target='img_target')),
        dict(type='mmagic.PackInputs', keys=['img_source', 'img_target'],
             data_keys=['img_source', 'img_target']),
    ]
    translation_loader = dict(
        batch_size=2, num_workers=0,
        sampler=dict(type='InfiniteSampler', shuffle=True),
        collate_fn=dict(type='pseudo_collate'),
        dataset=dict(type='mmagic.UnpairedImageDataset',
                     data_root=osp.join(data_root, 'unpaired'),
                     pipeline=trans_pipeline))
    seg_loader = dict(
        batch_size=2, num_workers=0,
        sampler=dict(type='InfiniteSampler', shuffle=True),
        collate_fn=dict(type='pseudo_collate'),
        dataset=dict(type='ToyUDADataset', data_root=data_root))
    val_pipeline = [dict(type='LoadImageFromFile'),
                    dict(type='LoadAnnotations'),
                    dict(type='PackSegInputs')]
    val_loader = dict(
        batch_size=1, num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='BaseSegDataset', data_root=data_root,
                     metainfo=dict(classes=CLASSES), img_suffix='.png',
                     seg_map_suffix='.png', serialize_data=False,
                     data_prefix=dict(img_path='tgt/img/val',
                                      seg_map_path='tgt/ann/val'),
                     pipeline=val_pipeline))
    adam = lambda lr: dict(type='OptimWrapper', optimizer=dict(  # noqa
        type='Adam', lr=lr, betas=(0.5, 0.999)))
    sgd = dict(type='OptimWrapper',
               optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
    train_cfg = dict(type='BidirectionalTrainLoop', num_rounds=num_rounds,
                     num_ssl_rounds=num_ssl_rounds, source_only=True,
                     phase_iters=iters,
                     phase_dataloaders=dict(translation=translation_loader),
                     init=dict(translation='continue',
                               adaptation='continue',
                               self_training='initial'),
                     # tiny random models on purpose (refused otherwise)
                     allow_random_init=True)
    train_cfg.update(train_cfg_overrides)
    return dict(
        model=dict(type='BDL',
                   segmentor=dict(type='ToyAdvSegmentor',
                                  segmentor=tiny_segmentor()),
                   translator=tiny_translator()),
        work_dir=work_dir,
        train_dataloader=seg_loader,
        val_dataloader=val_loader,
        val_cfg=dict(type='ValLoop'),
        val_evaluator=dict(type='IoUMetric', iou_metrics=['mIoU']),
        train_cfg=train_cfg,
        optim_wrapper=dict(
            translation=dict(
                constructor='mmagic.MultiOptimWrapperConstructor',
                generators=adam(2e-4), discriminators=adam(2e-4)),
            segmentation=dict(
                constructor='mmagic.MultiOptimWrapperConstructor',
                segmentor=copy.deepcopy(sgd),
                discriminator=adam(1e-4))),
        param_scheduler=dict(
            translation=[dict(type='LinearLR', start_factor=1.0,
                              end_factor=0.0, by_epoch=False, begin=1)],
            segmentation=[dict(type='PolyLR', power=0.9, eta_min=0.0,
                               by_epoch=False)]),
        default_hooks=dict(
            timer=dict(type='IterTimerHook'),
            logger=dict(type='LoggerHook', interval=1),
            param_scheduler=dict(type='ParamSchedulerHook'),
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            interval=1, max_keep_ckpts=-1)),
        custom_hooks=[
            dict(type='SourceTranslationHook',
                 img_dir=osp.join(data_root, 'src/img'), num_workers=0),
            dict(type='ToyPseudoLabelHook', data_root=data_root),
            dict(type='EventRecorderHook'),
        ] + list(extra_hooks),
        default_scope='mmbdl',
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=0),
        env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo')))


# ----------------------------------------------------------------------
# the same run built of the real mmbdl modules
def real_segmentor(num_classes: int = 3) -> dict:
    """AdvSelfTrainingSegmentor around :func:`tiny_segmentor` (Caffe)."""
    seg = tiny_segmentor(num_classes)
    pre = seg['data_preprocessor']
    return dict(
        type='AdvSelfTrainingSegmentor',
        segmentor=seg,
        discriminator=dict(type='FCDiscriminator', num_classes=num_classes,
                           base_channels=4),
        data_preprocessor=dict(type='UDADataPreProcessor', source=pre,
                               target=pre),
        uda_cfg=dict(lambda_adv=0.01))


def real_bdl_cfg(data_root: str, work_dir: str, num_rounds: int = 2,
                 num_ssl_rounds: int = 1, iters: Optional[dict] = None,
                 extra_hooks=(), **train_cfg_overrides) -> dict:
    """Runner kwargs of a tiny BDL run made of the real modules only.

    UDADataset / UDADataPreProcessor / UnpairedDataset / BDLIoUMetric,
    AdvSelfTrainingSegmentor + FCDiscriminator, PerceptualCycleGAN,
    SourceTranslationHook, PseudoLabelHook and
    MultiSubmoduleOptimWrapperConstructor. Arguments as
    :func:`toy_bdl_cfg`.
    """
    cfg = toy_bdl_cfg(data_root, work_dir, num_rounds, num_ssl_rounds, iters,
                      extra_hooks, **train_cfg_overrides)
    metainfo = dict(classes=CLASSES)

    def seg_set(img, ann, pipeline):
        prefix = dict(img_path=img)
        if ann is not None:
            prefix['seg_map_path'] = ann
        return dict(type='BaseSegDataset', data_root=data_root,
                    metainfo=metainfo, img_suffix='.png',
                    seg_map_suffix='.png', data_prefix=prefix,
                    pipeline=pipeline, serialize_data=False)

    load = dict(type='LoadImageFromFile')
    source = seg_set('src/img', 'src/ann',
                     [load, dict(type='LoadAnnotations'),
                      dict(type='PackSegInputs')])
    target = seg_set('tgt/img/train', None,
                     [load, dict(type='LoadPseudoLabel', num_classes=3),
                      dict(type='PackBDLSegInputs')])
    cfg['train_dataloader']['dataset'] = dict(
        type='UDADataset', source=source, target=target, seed=0)
    mload = lambda key: dict(type='mmagic.LoadImageFromFile', key=key)  # noqa
    cfg['train_cfg']['phase_dataloaders']['translation']['dataset'] = dict(
        type='UnpairedDataset', data_root=data_root,
        data_prefix=dict(source='src/img', target='tgt/img/train'),
        pipeline=[mload('img_source'), mload('img_target'),
                  dict(type='mmagic.PackInputs',
                       keys=['img_source', 'img_target'],
                       data_keys=['img_source', 'img_target'])])
    cfg['model']['segmentor'] = real_segmentor()
    cfg['val_evaluator'] = dict(type='BDLIoUMetric')
    for name in ('translation', 'segmentation'):
        cfg['optim_wrapper'][name]['constructor'] = \
            'MultiSubmoduleOptimWrapperConstructor'
    pseudo_loader = dict(
        batch_size=1, num_workers=0,
        dataset=seg_set('tgt/img/train', 'tgt/ann/train',
                        [load, dict(type='LoadAnnotations'),
                         dict(type='PackSegInputs')]))
    cfg['custom_hooks'] = [
        h if h['type'] != 'ToyPseudoLabelHook' else dict(
            type='PseudoLabelHook', dataloader=pseudo_loader,
            policy='classwise_median', progress=False)
        for h in cfg['custom_hooks']
    ]
    # as Config.fromfile gives it (mmseg reads test_cfg.mode)
    cfg['model'] = ConfigDict(cfg['model'])
    return cfg
