"""Import a script of tools/ as a module, for the tests."""
import importlib.util
import os.path as osp
import sys
from types import ModuleType

TOOLS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools')


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py``. It is registered in ``sys.modules`` under
    ``name`` so that worker processes (which have ``tools/`` on their path)
    can unpickle its functions; ``load_tool('test')`` therefore hides the
    standard library's ``test`` package in the calling process."""
    spec = importlib.util.spec_from_file_location(
        name, osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module
