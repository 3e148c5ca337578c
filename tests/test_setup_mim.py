"""setup.py puts configs, tools and the model index under mmbdl/.mim."""
import os
import os.path as osp
import runpy

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture
def add_mim_extension():
    # run_name other than __main__: defines the helpers, runs no setup()
    return runpy.run_path(osp.join(REPO, 'setup.py'),
                          run_name='setup_for_test')['add_mim_extension']


def fake_repo(root):
    os.makedirs(root / 'mmbdl')
    os.makedirs(root / 'configs' / 'bdl')
    (root / 'configs' / 'bdl' / 'a.py').write_text('x = 1\n')
    os.makedirs(root / 'tools' / '__pycache__')
    (root / 'tools' / 'train.py').write_text('# train\n')
    (root / 'tools' / '__pycache__' / 'train.pyc').write_text('')
    (root / 'model-index.yml').write_text('Import: []\n')


def test_editable_install_links(tmp_path, add_mim_extension):
    fake_repo(tmp_path)
    mim = tmp_path / 'mmbdl' / '.mim'
    assert add_mim_extension(str(tmp_path), ['setup.py', 'develop']) == \
        'symlink'
    for name in ('configs', 'tools', 'model-index.yml'):
        assert osp.islink(mim / name)
        assert osp.realpath(mim / name) == osp.realpath(tmp_path / name)
    # later edits of the configs are seen through the link
    (tmp_path / 'configs' / 'bdl' / 'b.py').write_text('y = 2\n')
    assert (mim / 'configs' / 'bdl' / 'b.py').read_text() == 'y = 2\n'
    # PEP 660 editable installs link too; running twice replaces the links
    assert add_mim_extension(str(tmp_path), ['setup.py', 'editable_wheel']) \
        == 'symlink'


def test_wheel_and_sdist_copy(tmp_path, add_mim_extension):
    fake_repo(tmp_path)
    mim = tmp_path / 'mmbdl' / '.mim'
    add_mim_extension(str(tmp_path), ['setup.py', 'develop'])
    assert add_mim_extension(str(tmp_path), ['setup.py', 'bdist_wheel']) == \
        'copy'
    assert not osp.islink(mim / 'configs')
    assert (mim / 'configs' / 'bdl' / 'a.py').read_text() == 'x = 1\n'
    assert (mim / 'tools' / 'train.py').is_file()
    assert not (mim / 'tools' / '__pycache__').exists()
    assert (mim / 'model-index.yml').read_text() == 'Import: []\n'


def test_other_commands_change_nothing(tmp_path, add_mim_extension):
    fake_repo(tmp_path)
    assert add_mim_extension(str(tmp_path), ['setup.py', '--version']) == \
        'none'
    assert not (tmp_path / 'mmbdl' / '.mim').exists()


def test_real_repo_has_what_mim_needs():
    for name in ('configs', 'tools', 'model-index.yml'):
        assert osp.exists(osp.join(REPO, name))
    manifest = open(osp.join(REPO, 'MANIFEST.in')).read()
    assert 'mmbdl/.mim/configs' in manifest
    assert 'mmbdl/.mim/model-index.yml' in manifest
