from .checkpoint import (SAFE_GLOBALS, load_from_local,
                         register_safe_checkpoint_loader, setup_checkpoint_io)
from .dist import (cpu_ddp_wrapper_cfg, destroy_process_group,
                   init_cpu_process_group)
from .process_pool import (TaskError, default_num_workers,
                           imap_with_progress, process_pool)
from .setup_env import register_all_modules

__all__ = [
    'SAFE_GLOBALS', 'load_from_local', 'register_safe_checkpoint_loader',
    'setup_checkpoint_io', 'cpu_ddp_wrapper_cfg', 'destroy_process_group',
    'init_cpu_process_group', 'TaskError', 'default_num_workers',
    'imap_with_progress', 'process_pool', 'register_all_modules'
]
