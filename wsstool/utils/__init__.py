from .checkpoint import (SAFE_GLOBALS, load_checkpoint_file,
                         register_safe_checkpoint_loader, setup_checkpoint_io)
from .dist import cpu_ddp_wrapper_cfg, init_cpu_process_group
from .setup_env import register_all_modules

__all__ = [
    'SAFE_GLOBALS', 'load_checkpoint_file', 'register_safe_checkpoint_loader',
    'setup_checkpoint_io', 'cpu_ddp_wrapper_cfg', 'init_cpu_process_group',
    'register_all_modules'
]
