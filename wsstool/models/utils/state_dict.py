"""Reading pretrained checkpoints and checking that their tensors fit a
model before loading them."""
import os.path as osp
from typing import Dict, Mapping, Optional

from torch import Tensor, nn

from wsstool.utils.checkpoint import load_from_local


def read_pretrained_state_dict(path: str,
                               owner: str,
                               prefix: Optional[str] = None
                               ) -> Dict[str, Tensor]:
    """The tensors of a pretrained checkpoint file, on the CPU.

    Args:
        path (str): A ``{name: tensor}`` file, or one nested under
            ``'state_dict'`` (mmengine checkpoints included).
        owner (str): The model that loads it, named in the errors.
        prefix (str, optional): Keep only keys starting with it (e.g.
            ``'backbone.'``), with the prefix removed.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        KeyError: If ``prefix`` matches no key.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{owner} pretrained checkpoint {path!r} does not exist.')
    checkpoint = load_from_local(path, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    if prefix:
        state_dict = {
            key[len(prefix):]: value
            for key, value in state_dict.items() if key.startswith(prefix)
        }
        if not state_dict:
            raise KeyError(f'Checkpoint {path} has no key starting with '
                           f'prefix {prefix!r}.')
    return state_dict


def _class_count_owner(model: nn.Module, key: str) -> Optional[nn.Module]:
    """The innermost module on ``key``'s path that has ``num_classes``."""
    parts = key.split('.')[:-1]
    for depth in range(len(parts), -1, -1):
        try:
            module = model.get_submodule('.'.join(parts[:depth]))
        except AttributeError:
            continue
        if hasattr(module, 'num_classes'):
            return module
    return None


def check_state_dict_shapes(model: nn.Module, state_dict: Mapping[str, Tensor],
                            source: str) -> None:
    """Raise if a tensor of ``state_dict`` does not fit ``model``'s shape.

    Keys missing from either side are not checked here (loading reports
    them); only keys present in both must agree in shape.

    Args:
        model (nn.Module): The model to load into.
        state_dict (Mapping[str, Tensor]): Tensors keyed like
            ``model.state_dict()``.
        source (str): Where ``state_dict`` came from (checkpoint path),
            used in the error message.

    Raises:
        ValueError: Naming ``source``, the key, the model's and the
            checkpoint's shapes. When the mismatch is the class dimension of
            a module with ``num_classes`` (a classifier), the message reads
            'config has N classes, checkpoint X has M'.
    """
    model_state = model.state_dict()
    for key, value in state_dict.items():
        if key not in model_state:
            continue
        model_shape = tuple(model_state[key].shape)
        ckpt_shape = tuple(value.shape)
        if model_shape == ckpt_shape:
            continue
        message = (f'Checkpoint {source}: {key!r} has shape {ckpt_shape} but '
                   f'the model expects {model_shape}.')
        owner = _class_count_owner(model, key)
        if (owner is not None and len(model_shape) == len(ckpt_shape)
                and model_shape[1:] == ckpt_shape[1:]):
            num_classes = owner.num_classes
            ckpt_classes = ckpt_shape[0] - (model_shape[0] - num_classes)
            message = (f'config has {num_classes} classes, checkpoint '
                       f'{source} has {ckpt_classes} ({message})')
        raise ValueError(message)
