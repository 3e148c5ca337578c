"""Installation script of mmbdl."""
import os
import os.path as osp
import shutil
import sys
from setuptools import find_packages, setup
from typing import Optional

HERE = osp.dirname(osp.abspath(__file__))
# What OpenMMLab's `mim` looks for inside an installed package: the configs,
# the tools and the model index, under <package>/.mim/.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def readme() -> str:
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


def get_version() -> str:
    namespace: dict = {}
    with open(osp.join(osp.dirname(__file__), 'mmbdl', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), namespace)
    return namespace['__version__']


def parse_requirements(fname: str) -> list:
    """Read requirement lines, dropping comments and blank lines."""
    reqs = []
    with open(osp.join(osp.dirname(__file__), fname)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                reqs.append(line)
    return reqs


def add_mim_extension(root: str = HERE, argv: Optional[list] = None) -> str:
    """Put the configs, tools and model index under ``mmbdl/.mim``.

    ``pip install -e .`` links them (an editable install sees later edits);
    building a wheel or an sdist (``pip install .``) copies them, and
    ``package_data`` / ``MANIFEST.in`` ship the copies. Other commands (e.g.
    ``setup.py --version``) change nothing.

    Args:
        root (str): The repository. Defaults to this file's folder.
        argv (list, optional): The setup command line. Defaults to None
            (``sys.argv``).

    Returns:
        str: ``'symlink'``, ``'copy'`` or ``'none'``.
    """
    argv = sys.argv if argv is None else argv
    if any(cmd in argv for cmd in ('develop', 'editable_wheel')):
        mode = 'copy' if os.name == 'nt' else 'symlink'
    elif any(cmd in argv for cmd in ('sdist', 'bdist_wheel', 'build',
                                     'install')):
        mode = 'copy'
    else:
        return 'none'
    mim_dir = osp.join(root, 'mmbdl', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(root, name)
        dst = osp.join(mim_dir, name)
        if not osp.exists(src):
            raise FileNotFoundError(f'{src} is missing: mim needs it')
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(
                src, dst, ignore=shutil.ignore_patterns('__pycache__',
                                                        '*.pyc'))
        else:
            shutil.copyfile(src, dst)
    return mode


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmbdl',
        version=get_version(),
        description='Bidirectional Learning for Domain Adaptation of Semantic '
        'Segmentation (BDL) on MMSegmentation 1.x',
        long_description=readme(),
        long_description_content_type='text/markdown',
        keywords='domain adaptation, semantic segmentation, OpenMMLab',
        packages=find_packages(exclude=('configs', 'tools', 'tests')),
        include_package_data=True,
        package_data={
            'mmbdl': ['.mim/model-index.yml', '.mim/configs/**/*',
                      '.mim/tools/**/*']
        },
        python_requires='>=3.11,<3.13',
        license='Apache License 2.0',
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require={'tests': parse_requirements('requirements/tests.txt')},
        zip_safe=False)
