"""Installation script of mmbdl."""
import os.path as osp

from setuptools import find_packages, setup


def readme() -> str:
    with open(osp.join(osp.dirname(__file__), 'README.md'), encoding='utf-8') as f:
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
    python_requires='>=3.8',
    license='Apache License 2.0',
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={'tests': parse_requirements('requirements/tests.txt')},
    zip_safe=False)
