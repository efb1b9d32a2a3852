from .batch_size_hook import TotalBatchSizeHook, batch_size_from_config_name

__all__ = ['TotalBatchSizeHook', 'batch_size_from_config_name']
