"""Load trained weights into a model with clear errors."""
import os.path as osp

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from wsstool.models.segmentors.beco import beco_checkpoint_to_state_dict
from wsstool.models.utils import check_state_dict_shapes, map_unprefixed_keys
from wsstool.models.utils.beco_keys import is_beco_checkpoint
from wsstool.utils.checkpoint import load_from_local


def read_state_dict(filename: str) -> dict:
    """The state dict of an mmengine checkpoint, of a plain state-dict file
    or of a released BECO/KTSE/SSC checkpoint (``{'net_state_dict':
    {'network1': ..., 'network2': ...}}``, as ``BECO``'s
    ``network1.*``/``network2.*`` keys), without DDP's ``module.``
    prefixes.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename!r} does not exist')
    checkpoint = load_from_local(filename, map_location='cpu')
    if is_beco_checkpoint(checkpoint):
        return dict(beco_checkpoint_to_state_dict(checkpoint))
    state_dict = checkpoint.get('state_dict', checkpoint)
    return {
        key[len('module.'):] if key.startswith('module.') else key: value
        for key, value in state_dict.items()
    }


def check_checkpoint_shapes(model: nn.Module, filename: str) -> dict:
    """Read ``filename`` and check that its tensors fit ``model``.

    Keys of a reference checkpoint without module prefixes (e.g. KTSE's
    ``039net_main.pth``) are first mapped to the model's names.

    Returns:
        dict: The checkpoint's state dict, in the model's key names.

    Raises:
        ValueError: a tensor's shape differs between model and checkpoint,
            e.g. the class count of config and checkpoint (both named).
    """
    module = model.module if is_model_wrapper(model) else model
    state_dict = map_unprefixed_keys(
        read_state_dict(filename), module.state_dict().keys())
    check_state_dict_shapes(module, state_dict, filename)
    return state_dict


def load_model_weights(model: nn.Module,
                       filename: str,
                       strict: bool = True) -> nn.Module:
    """Load ``filename`` (an mmengine checkpoint or a plain state dict) into
    ``model`` after :func:`check_checkpoint_shapes`.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        ValueError: a tensor's shape differs between model and checkpoint.
        RuntimeError: ``strict`` and keys are missing or unexpected.
    """
    state_dict = check_checkpoint_shapes(model, filename)
    module = model.module if is_model_wrapper(model) else model
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
