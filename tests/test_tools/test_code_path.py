"""tools/analysis/code_path.py: the file-to-file edges of a traced call,
the reach along followed and leaf prefixes, and the line kinds."""
import importlib.util
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'code_path', osp.join(REPO, 'tools', 'analysis', 'code_path.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_line_kinds(tmp_path):
    tool = load_tool()
    path = tmp_path / 'm.py'
    path.write_text('"""Module\ndoc."""\n'
                    '# a comment\n'
                    '\n'
                    'def f(x):\n'
                    '    """One line."""\n'
                    '    return (x +\n'
                    '            1)  # trailing\n')
    kinds = tool.line_kinds(str(path))
    assert kinds == dict(total=8, code=3, docstring=3, other=2)


def test_reach_follows_and_stops_at_leaves():
    tool = load_tool()
    edges = {
        'mmbdl/engine/runner/loop.py': {'mmbdl/engine/runner/plan.py',
                                        'mmbdl/engine/hooks/h.py',
                                        'mmbdl/models/m.py'},
        'mmbdl/engine/runner/plan.py': {'mmbdl/utils/u.py'},
        'mmbdl/engine/hooks/h.py': {'mmbdl/engine/pseudo/p.py'},
    }
    follow = ('mmbdl/engine/runner/', )
    leaves = ('mmbdl/engine/', 'mmbdl/utils/')
    reached = tool.reach(edges, 'mmbdl/engine/runner/loop.py', follow,
                         leaves)
    # the hook and the helper are counted, the hook is not followed, the
    # model is outside both scopes
    assert reached == ['mmbdl/engine/runner/loop.py',
                       'mmbdl/engine/hooks/h.py',
                       'mmbdl/engine/runner/plan.py', 'mmbdl/utils/u.py']
    everything = tool.reach(edges, 'mmbdl/engine/runner/loop.py',
                            ('mmbdl/engine/', 'mmbdl/utils/'))
    assert 'mmbdl/engine/pseudo/p.py' in everything
    assert 'mmbdl/models/m.py' not in everything


def test_call_edges_skip_untracked_frames(tmp_path, monkeypatch):
    """An edge joins the nearest tracked caller to the tracked callee,
    through untracked code in between (e.g. MMEngine calling a hook)."""
    tool = load_tool()
    monkeypatch.setattr(tool, 'ROOT', str(tmp_path))
    (tmp_path / 'mmbdl').mkdir()
    (tmp_path / 'mmbdl' / 'a.py').write_text(
        'import upstream\n\n\ndef run():\n    return upstream.call()\n')
    (tmp_path / 'mmbdl' / 'b.py').write_text('def hook():\n    return 7\n')
    (tmp_path / 'upstream.py').write_text(
        'import sys\n\n\ndef call():\n'
        '    return sys.modules["mmbdl_b"].hook()\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path / 'mmbdl'))
    import importlib
    mod_b = importlib.import_module('b')
    monkeypatch.setitem(sys.modules, 'mmbdl_b', mod_b)
    mod_a = importlib.import_module('a')
    edges = tool.CallEdges()
    with edges:
        assert mod_a.run() == 7
    assert dict(edges.edges) == {'mmbdl/a.py': {'mmbdl/b.py'}}
    assert tool.package_name(str(tmp_path / 'upstream.py')) is None
    for module in ('a', 'b', 'upstream'):
        sys.modules.pop(module, None)


def test_package_count_sums_the_files():
    tool = load_tool()
    line = tool.package_table()
    files = int(line.split(':')[1].split()[0])
    import glob
    assert files == len(glob.glob(osp.join(REPO, 'mmbdl', '**', '*.py'),
                                  recursive=True))
