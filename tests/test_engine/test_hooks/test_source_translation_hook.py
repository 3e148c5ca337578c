"""SourceTranslationHook and the shared folder-translation routine."""
import json
import os
import os.path as osp
from types import SimpleNamespace

import mmcv
import numpy as np
import pytest
import torch
from mmengine import MessageHub
from mmengine.logging import MMLogger
from tiny_translator import build_translator, tiny_translator_cfg, write_images

from mmbdl.engine.hooks import SourceTranslationHook
from mmbdl.engine.runner.phase_plan import Phase
from mmbdl.engine.translation import image_translation as it
from mmbdl.models.translators import FDATranslator
from mmbdl.registry import HOOKS
from mmbdl.utils.errors import ConfigCheckError

SIZES = [(30, 22), (30, 22), (17, 9), (30, 22), (8, 5)]  # (w, h), odd ones


@pytest.fixture(scope='module')
def translator():
    return build_translator(tiny_translator_cfg(perceptual=False), seed=3)


@pytest.fixture
def src(tmp_path):
    root = tmp_path / 'images'
    names = ['a/001.png', 'a/002.png', 'b/c/003.png', '004.png', '005.png']
    write_images(str(root), SIZES, names)
    (root / 'notes.txt').write_text('not an image')
    return str(root), names


def _runner(tmp_path, model):
    return SimpleNamespace(
        work_dir=str(tmp_path / 'work'), model=model, iter=123,
        logger=MMLogger.get_current_instance(),
        message_hub=MessageHub.get_instance('test_source_translation_hook'))


def _phase(kind='translation', k=1):
    return Phase(0, k, 0, kind, f'k{k}_{kind}', 0, 1)


def _expected(translator, path, scale=None):
    """Reference translation of one image, straight through the model."""
    img = mmcv.imread(path)  # BGR
    if scale is not None:
        img = mmcv.imresize(img, scale, interpolation='bicubic',
                            backend='pillow')
    x = torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1)[None]
    x = (x.float() - 127.5) / 127.5
    h, w = x.shape[-2:]
    ph, pw = (-h) % 4, (-w) % 4
    mode = 'reflect' if min(h, w) > 4 else 'replicate'
    x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode=mode)
    with torch.no_grad():
        y = translator.translation(x, target_domain='target')[..., :h, :w]
    y = (y * 127.5 + 127.5).clamp(0, 255).round().to(torch.uint8)
    return y[0].permute(1, 2, 0).numpy()[..., ::-1]  # BGR


def test_registered_and_checks_folder_before_run(tmp_path, translator):
    hook = HOOKS.build(dict(type='SourceTranslationHook',
                            img_dir=str(tmp_path / 'nowhere')))
    assert isinstance(hook, SourceTranslationHook)
    with pytest.raises(FileNotFoundError, match='nowhere'):
        hook.before_run(_runner(tmp_path, translator))
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'readme.txt').write_text('x')
    with pytest.raises(ValueError, match='holds no file ending'):
        SourceTranslationHook(str(empty)).before_run(
            _runner(tmp_path, translator))
    with pytest.raises(ValueError, match='width, height'):
        SourceTranslationHook(str(empty), scale=(1, 2, 3))


def test_an_online_translator_is_refused_before_run(tmp_path, src):
    model = SimpleNamespace(translator=FDATranslator(beta=0.1))
    with pytest.raises(ConfigCheckError,
                       match='FDATranslator has online=True.*translated '
                       'twice; remove the hook'):
        SourceTranslationHook(src[0]).before_run(_runner(tmp_path, model))
    model.translator = FDATranslator(beta=0.1, online=False,
                                     target_img_dir=src[0])
    SourceTranslationHook(src[0]).before_run(_runner(tmp_path, model))


def test_translates_every_image_with_its_size_and_name(
        tmp_path, src, translator):
    img_dir, names = src
    runner = _runner(tmp_path, translator)
    hook = SourceTranslationHook(img_dir, batch_size=2, num_workers=2)
    hook.before_run(runner)
    # other phase kinds do nothing
    assert hook.after_phase(runner, _phase('adaptation')) is None
    assert not osp.exists(osp.join(runner.work_dir, 'translated'))
    artifacts = hook.after_phase(runner, _phase('translation', k=2))
    out_dir = osp.join(runner.work_dir, 'translated', 'k2')
    assert artifacts.translated_source_dir == out_dir
    written = sorted(
        osp.relpath(osp.join(r, f), out_dir) for r, _, fs in os.walk(out_dir)
        for f in fs)
    assert written == sorted(names + ['.complete.json'])
    for name, (w, h) in zip(names, SIZES):
        out = mmcv.imread(osp.join(out_dir, name))
        assert out.shape == (h, w, 3), name
        np.testing.assert_array_equal(
            out, _expected(translator, osp.join(img_dir, name)), err_msg=name)
    meta = json.load(open(osp.join(out_dir, '.complete.json')))
    assert meta['num_images'] == 5 and meta['complete'] is True
    assert meta['k'] == 2 and meta['phase'] == 'k2_translation'


def test_resize_to_training_resolution(tmp_path, src, translator):
    img_dir, names = src
    out_dir = str(tmp_path / 'out')
    it.translate_directory(translator, img_dir, out_dir, scale=(24, 16),
                           batch_size=4, progress=False)
    for name in names:
        out = mmcv.imread(osp.join(out_dir, name))
        assert out.shape == (16, 24, 3)
        np.testing.assert_array_equal(
            out, _expected(translator, osp.join(img_dir, name), (24, 16)))


def test_interrupted_run_is_resumed_and_marked_complete(
        tmp_path, src, translator, monkeypatch):
    img_dir, names = src
    out_dir = str(tmp_path / 'out')
    real_write = it.write_png_atomic
    calls = []

    def failing_write(img, path):
        if len(calls) == 2:
            raise KeyboardInterrupt('killed')
        calls.append(path)
        real_write(img, path)

    monkeypatch.setattr(it, 'write_png_atomic', failing_write)
    with pytest.raises(KeyboardInterrupt):
        it.translate_directory(translator, img_dir, out_dir, batch_size=1,
                               num_workers=1, progress=False)
    files = sorted(f for r, _, fs in os.walk(out_dir) for f in fs)
    # not complete, no half-written or temporary files, 2 whole images
    assert '.complete.json' not in files
    assert [f for f in files if f.endswith('.png')] == sorted(
        osp.basename(p) for p in calls)
    assert not [f for f in files if 'tmp' in f]
    first = {p: os.stat(p).st_mtime_ns for p in calls}

    calls.clear()
    monkeypatch.setattr(it, 'write_png_atomic', lambda i, p: (
        calls.append(p), real_write(i, p)))
    it.translate_directory(translator, img_dir, out_dir, batch_size=1,
                           num_workers=1, progress=False)
    assert len(calls) == 3  # the two finished files were skipped
    assert not set(calls) & set(first)
    assert all(os.stat(p).st_mtime_ns == t for p, t in first.items())
    assert osp.exists(osp.join(out_dir, '.complete.json'))
    assert not osp.exists(osp.join(out_dir, '.in_progress.json'))
    for name in names:
        np.testing.assert_array_equal(
            mmcv.imread(osp.join(out_dir, name)),
            _expected(translator, osp.join(img_dir, name)))

    # complete: a rerun writes nothing
    calls.clear()
    it.translate_directory(translator, img_dir, out_dir, progress=False)
    assert calls == []


def test_other_generator_translates_again(tmp_path, src, translator):
    img_dir, names = src
    out_dir = str(tmp_path / 'out')
    it.translate_directory(translator, img_dir, out_dir, progress=False)
    other = build_translator(tiny_translator_cfg(perceptual=False), seed=4)
    meta = it.translate_directory(other, img_dir, out_dir, progress=False)
    assert meta['generator_sha1'] == it.generator_fingerprint(
        other.generators['target'])
    np.testing.assert_array_equal(
        mmcv.imread(osp.join(out_dir, names[0])),
        _expected(other, osp.join(img_dir, names[0])))


def test_distributed_ranks_split_the_files(tmp_path, src, translator,
                                           monkeypatch):
    """Two ranks (simulated): each writes its share, rank 0 marks complete
    only once every file exists."""
    img_dir, names = src
    out_dir = str(tmp_path / 'out')
    monkeypatch.setattr(it, 'barrier', lambda: None)
    monkeypatch.setattr(it, 'broadcast_object_list', lambda obj, src: None)
    rels = it.list_images(img_dir)
    written = {}
    real_write = it.write_png_atomic
    for rank in (1, 0):
        monkeypatch.setattr(it, 'get_dist_info', lambda r=rank: (r, 2))
        written[rank] = []
        monkeypatch.setattr(it, 'write_png_atomic', lambda i, p, r=rank: (
            written[r].append(osp.relpath(p, out_dir)), real_write(i, p)))
        it.translate_directory(translator, img_dir, out_dir, progress=False)
        if rank == 1:
            assert not osp.exists(osp.join(out_dir, '.complete.json'))
    assert sorted(written[1]) == sorted(rels[1::2])
    assert sorted(written[0]) == sorted(rels[0::2])
    assert osp.exists(osp.join(out_dir, '.complete.json'))


def test_rank0_refuses_to_mark_incomplete_folder(tmp_path, src, translator,
                                                 monkeypatch):
    img_dir, _ = src
    monkeypatch.setattr(it, 'barrier', lambda: None)
    monkeypatch.setattr(it, 'broadcast_object_list', lambda obj, src: None)
    monkeypatch.setattr(it, 'get_dist_info', lambda: (0, 2))
    out_dir = str(tmp_path / 'out')
    with pytest.raises(RuntimeError, match='missing'):
        it.translate_directory(translator, img_dir, out_dir, progress=False)
    assert not osp.exists(osp.join(out_dir, '.complete.json'))


def test_name_clash_and_bad_image(tmp_path, translator):
    root = tmp_path / 'imgs'
    write_images(str(root), [(8, 8), (8, 8)], ['x.png', 'x.jpg'])
    with pytest.raises(ValueError, match='same output name'):
        it.translate_directory(translator, str(root), str(tmp_path / 'o'),
                               img_suffix='', progress=False)
    (root / 'x.jpg').unlink()
    (root / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='broken.png'):
        it.translate_directory(translator, str(root), str(tmp_path / 'o'),
                               progress=False)
