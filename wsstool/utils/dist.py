"""Distributed set-up that also works on CPU-only machines."""
import os

import torch
import torch.distributed as torch_dist


def init_cpu_process_group(launcher: str) -> bool:
    """Initialise a gloo process group from the torchrun environment when no
    GPU is available.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` first, which fails
    without CUDA; once the group exists the runner skips its own set-up.

    Returns:
        bool: True if this function created the process group.
    """
    if launcher != 'pytorch' or torch.cuda.is_available():
        return False
    if torch_dist.is_initialized():
        return False
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the environment variables {missing}; '
            'start the script with torchrun or tools/dist_train.sh')
    torch_dist.init_process_group(backend='gloo')
    return True


def cpu_ddp_wrapper_cfg(cfg) -> None:
    """Set ``model_wrapper_cfg`` for CPU DDP (``device_ids=None``) unless the
    config chose a wrapper itself."""
    if torch.cuda.is_available():
        return
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def destroy_process_group() -> None:
    """Tear the process group down before the interpreter exits (a gloo group
    left alive can abort the process at exit)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
