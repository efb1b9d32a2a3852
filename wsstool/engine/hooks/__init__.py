from .batch_size_hook import TotalBatchSizeHook, batch_size_from_config_name
from .batch_size_schedule_hook import BatchSizeScheduleHook
from .epoch_seed_hook import EpochSeedHook, epoch_seed
from .seg_prediction_writer import SegPredictionWriterHook
from .train_epoch_hook import TrainEpochHook

__all__ = [
    'TotalBatchSizeHook', 'batch_size_from_config_name',
    'BatchSizeScheduleHook', 'EpochSeedHook', 'epoch_seed',
    'SegPredictionWriterHook', 'TrainEpochHook'
]
