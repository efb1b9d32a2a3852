from .multi_optim_distributed import (MultiOptimDistributedDataParallel,
                                      check_shared_backward,
                                      optim_wrapper_dict_train_step)

__all__ = [
    'MultiOptimDistributedDataParallel', 'check_shared_backward',
    'optim_wrapper_dict_train_step'
]
