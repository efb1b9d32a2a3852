"""A TensorBoard visualisation backend that is optional at run time."""
import logging

from mmengine.logging import print_log
from mmengine.visualization import TensorboardVisBackend

from wsstool.registry import VISBACKENDS


class _DisabledSummaryWriter:
    """Stands in for tensorboard's ``SummaryWriter``: every method call
    (``add_scalar``, ``close``, ...) does nothing. Special (``__*``) names
    are not answered, so that ``copy``, ``pickle`` and the like treat it as
    the plain object it is."""

    def __getattr__(self, name: str):
        if name.startswith('__'):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


@VISBACKENDS.register_module()
class OptionalTensorboardVisBackend(TensorboardVisBackend):
    """mmengine's ``TensorboardVisBackend`` when ``tensorboard`` is installed,
    a no-op otherwise.

    The event files go to ``save_dir`` (a run's ``vis_data/`` folder when
    built by the runner). ``tensorboard`` is imported on the first ``add_*``
    call, not with this module; if the import fails, one warning says how to
    install it and every later call does nothing, so training runs unchanged
    with the other backends.

    Args:
        save_dir: folder of the event files.
    """

    def _init_env(self) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError as error:
            print_log(
                f'TensorBoard logging is off ({error}): install the '
                '`tensorboard` package with `pip install tensorboard` to '
                'write TensorBoard event files. The other visualisation '
                'backends still record the training logs.',
                logger='current',
                level=logging.WARNING)
            self._tensorboard = _DisabledSummaryWriter()
            return
        super()._init_env()
