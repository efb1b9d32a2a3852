"""Register wsstool's modules for API users."""
from mmengine.registry import init_default_scope

from .checkpoint import register_safe_checkpoint_loader


def register_all_modules(init_default_scope_: bool = True) -> None:
    """Import every wsstool module so its registries are filled, install the
    safe checkpoint loader and optionally make ``wsstool`` the default
    scope."""
    import wsstool.datasets  # noqa: F401
    import wsstool.engine  # noqa: F401
    import wsstool.evaluation  # noqa: F401
    import wsstool.models  # noqa: F401
    register_safe_checkpoint_loader()
    if init_default_scope_:
        init_default_scope('wsstool')
