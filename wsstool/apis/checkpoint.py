"""Load trained weights into a model with clear errors."""
import os.path as osp

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from wsstool.models.utils import check_state_dict_shapes
from wsstool.utils.checkpoint import load_checkpoint_file


def load_model_weights(model: nn.Module,
                       filename: str,
                       strict: bool = True) -> nn.Module:
    """Load ``filename`` (an mmengine checkpoint or a plain state dict) into
    ``model``.

    Shapes are checked first so that, e.g., a class count that differs
    between config and checkpoint is reported with both numbers.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        ValueError: a tensor's shape differs between model and checkpoint.
        RuntimeError: ``strict`` and keys are missing or unexpected.
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename!r} does not exist')
    module = model.module if is_model_wrapper(model) else model
    checkpoint = load_checkpoint_file(filename, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    state_dict = {
        key[len('module.'):] if key.startswith('module.') else key: value
        for key, value in state_dict.items()
    }
    check_state_dict_shapes(module, state_dict, filename)
    result = module.load_state_dict(state_dict, strict=False)
    problems = []
    if result.missing_keys:
        problems.append(f'missing keys {result.missing_keys}')
    if result.unexpected_keys:
        problems.append(f'unexpected keys {result.unexpected_keys}')
    if problems:
        message = f'{filename}: ' + '; '.join(problems)
        if strict:
            raise RuntimeError(message)
        print_log(message, logger='current', level=30)
    return model
