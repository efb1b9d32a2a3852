"""Install wsstool: ``pip install -e .`` (``.[crf]`` adds dense CRF)."""
import os.path as osp

from setuptools import find_packages, setup


def read_requirements(name: str) -> list[str]:
    """Return the requirement lines of ``requirements/<name>.txt``."""
    path = osp.join(osp.dirname(__file__), 'requirements', f'{name}.txt')
    with open(path, encoding='utf-8') as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join('wsstool', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='wsstool',
    version=read_version(),
    description='A toolbox for weakly supervised semantic segmentation',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(
        exclude=('tests', 'tests.*', 'configs', 'tools', 'projects',
                 'projects.*')),
    install_requires=read_requirements('runtime'),
    extras_require={
        'crf': read_requirements('optional'),
        'tests': read_requirements('tests'),
        'all': read_requirements('optional') + read_requirements('tests'),
    },
    zip_safe=False,
)
