"""Tell the model which training epoch is about to run."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from wsstool.registry import HOOKS


@HOOKS.register_module()
class TrainEpochHook(Hook):
    """Call ``model.set_epoch(runner.epoch)`` before every training epoch.

    Methods whose losses change with the epoch (AEFT and KTSE add their
    erasing losses from epoch ``T``) implement ``set_epoch(epoch: int)``;
    this hook keeps them in step with the runner, also after a resume, where
    the first call receives the resumed epoch. The model is unwrapped from
    DDP-style wrappers first. Epochs are 0-based, as ``runner.epoch``.
    """

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not callable(getattr(model, 'set_epoch', None)):
            raise AttributeError(
                f'TrainEpochHook needs the model to define '
                f'set_epoch(epoch: int), but {type(model).__name__} has no '
                'such method; remove the hook or use a method model with '
                'epoch-dependent losses.')
        model.set_epoch(runner.epoch)
