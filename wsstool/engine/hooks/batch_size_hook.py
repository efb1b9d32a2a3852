"""Log the total batch size and check it against the config name."""
import os.path as osp
import re
from typing import Optional

from mmengine.dist import get_world_size
from mmengine.hooks import Hook

from wsstool.registry import HOOKS

# `<N>xb<B>` in a config name: N processes (GPUs) times B images each.
_BATCH_IN_NAME = re.compile(r'_(\d+)xb(\d+)[-_]')


def batch_size_from_config_name(filename: str) -> Optional[tuple[int, int]]:
    """Return (processes, images per process) encoded in a config file name
    such as ``cam_r50_1xb16-5e_voc12aug-512x512.py``, or None."""
    match = _BATCH_IN_NAME.search(osp.basename(filename))
    return (int(match.group(1)), int(match.group(2))) if match else None


@HOOKS.register_module()
class TotalBatchSizeHook(Hook):
    """Log ``world_size x batch_size`` before training and warn when the
    configured total differs from the ``<N>xb<B>`` total in the config's name
    (a frequent cause of results that do not reproduce). With a
    ``BatchSizeScheduleHook`` the name gives the initial batch size, which
    is the one of ``train_dataloader.batch_size``."""

    priority = 'VERY_LOW'

    def before_train(self, runner) -> None:
        per_process = runner.train_dataloader.batch_size
        world_size = get_world_size()
        runner.logger.info(f'Total batch size: {world_size} process(es) x '
                           f'{per_process} images = '
                           f'{world_size * per_process}')
        total = world_size * runner.cfg.train_dataloader.batch_size
        expected = batch_size_from_config_name(runner.cfg.filename or '')
        if expected and expected[0] * expected[1] != total:
            runner.logger.warning(
                f'The config name promises a total batch of '
                f'{expected[0]}x{expected[1]} = {expected[0] * expected[1]}, '
                f'but this run is configured for {total}; results may '
                'differ from the '
                'published ones.')
