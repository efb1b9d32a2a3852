"""Register wsstool's modules for API users."""
from mmengine.registry import init_default_scope

from .checkpoint import setup_checkpoint_io


def register_all_modules(init_default_scope_: bool = True) -> None:
    """Import every wsstool module so its registries are filled, install the
    safe checkpoint loader and optionally make ``wsstool`` the default
    scope."""
    import wsstool.datasets  # noqa: F401
    import wsstool.engine  # noqa: F401
    import wsstool.evaluation  # noqa: F401
    import wsstool.models  # noqa: F401
    setup_checkpoint_io()
    if init_default_scope_:
        init_default_scope('wsstool')
