"""Files are moved into place through one helper,
:mod:`mmbdl.utils.atomic_write`: no module of ``mmbdl/`` or ``tools/``
renames a temporary file itself, except the cases named here (each with its
reason)."""
import ast
import os
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HELPER = 'mmbdl/utils/atomic_write.py'
# file -> why it renames by itself
OWN_RENAMES = {
    # a whole folder of demo data swapped into place
    'mmbdl/datasets/demo.py': 'folder',
    # the rehearsal's synthetic sets: a whole folder
    'tools/analysis/rehearsal/synthetic_data.py': 'folder',
}


def renames(path):
    """Line numbers of ``os.replace`` / ``os.rename`` / ``shutil.move``."""
    tree = ast.parse(open(path).read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func,
                                                     ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and (owner.id, node.func.attr) in {
                    ('os', 'replace'), ('os', 'rename'),
                    ('shutil', 'move')}:
                found.append(node.lineno)
    return found


def test_only_the_helper_and_the_named_cases_rename():
    offenders, seen = [], set()
    for top in ('mmbdl', 'tools'):
        for folder, _, names in os.walk(osp.join(ROOT, top)):
            for name in names:
                if not name.endswith('.py'):
                    continue
                path = osp.join(folder, name)
                rel = osp.relpath(path, ROOT)
                lines = renames(path)
                if lines and rel in OWN_RENAMES:
                    seen.add(rel)
                elif lines and rel != HELPER:
                    offenders.append(f'{rel}:{lines}')
    assert not offenders, ('write through mmbdl.utils.atomic_write: '
                           + ', '.join(offenders))
    # the exemptions still exist (an outdated one would hide nothing)
    assert seen == set(OWN_RENAMES)


def test_the_check_finds_a_rename(tmp_path):
    planted = tmp_path / 'planted.py'
    planted.write_text('import os\n\n\ndef f(a, b):\n    os.replace(a, b)\n')
    assert renames(str(planted)) == [5]


def test_download_is_atomic(tmp_path, monkeypatch):
    """A download lands whole under its name or not at all."""
    import pytest
    import torch

    from mmbdl.utils.errors import MissingFileError
    from mmbdl.utils.weights.pretrained_weights import download
    monkeypatch.delenv('MMBDL_OFFLINE', raising=False)
    old_hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    try:
        src = tmp_path / 'weights.pth'
        src.write_bytes(b'w' * 3000000)  # three 1 MiB chunks
        path = download(src.as_uri(), 'weights.pth')
        assert open(path, 'rb').read() == src.read_bytes()
        folder = osp.dirname(path)
        with pytest.raises(MissingFileError, match='gone.pth'):
            download((tmp_path / 'gone.pth').as_uri(), 'gone.pth')
        # nothing half-written is left behind
        assert sorted(os.listdir(folder)) == ['weights.pth']
    finally:
        torch.hub.set_dir(old_hub)
