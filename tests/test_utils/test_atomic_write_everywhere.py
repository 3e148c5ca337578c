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
    # a download: a URL error and a disk error are told apart
    'mmbdl/utils/weights/pretrained_weights.py': 'download',
    # a video: the writer picks its codec from the temporary name's suffix
    'tools/infer.py': 'video',
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
