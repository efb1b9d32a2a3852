"""Import a script of tools/ as a module, for the tests."""
import importlib.util
import os.path as osp
import sys
from types import ModuleType

TOOLS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools')


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` as the module ``tools_<name>``, registered
    in ``sys.modules`` so that worker processes can unpickle its functions
    (the prefix keeps e.g. ``tools/test.py`` from shadowing the standard
    library's ``test`` package)."""
    module_name = f'tools_{name}'
    spec = importlib.util.spec_from_file_location(
        module_name, osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
