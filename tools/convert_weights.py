"""Convert released weights into plain PyTorch state dicts for wsstool.

Each converter is a subcommand taking a source and a destination file.

Examples::

    python tools/convert_weights.py mxnet-resnet38d \
        ilsvrc-cls_rna-a1_cls1000_ep-0001.params resnet38d_imagenet.pth
"""
import argparse
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from wsstool.fileio import atomic_write
from wsstool.models.utils.mxnet_params import load_mxnet_params
from wsstool.models.utils.resnet38d_mapping import mxnet_to_resnet38d_name

Converter = Callable[[str], Tuple[Dict[str, Tensor], List[str]]]


def convert_mxnet_resnet38d(src: str) -> Tuple[Dict[str, Tensor], List[str]]:
    """Rename the ImageNet ResNet-38 "A1" MXNet parameters to ResNet-38d
    keys (the released file gives 191 tensors; load with ``strict=False``).

    Returns:
        tuple: The state dict (tensors keep the stored shapes and dtypes)
        and the dropped MXNet names (the ImageNet classifier).
    """
    state_dict: Dict[str, Tensor] = {}
    sources: Dict[str, str] = {}
    dropped = []
    for mx_name, array in load_mxnet_params(src).items():
        try:
            key = mxnet_to_resnet38d_name(mx_name)
        except ValueError as err:
            raise ValueError(f'{src}: {err}') from err
        if key is None:
            dropped.append(mx_name)
            continue
        if key in state_dict:
            raise ValueError(f'{src}: MXNet parameters {sources[key]!r} and '
                             f'{mx_name!r} both map to {key!r}.')
        state_dict[key] = torch.from_numpy(array)
        sources[key] = mx_name
    return state_dict, dropped


CONVERTERS: Dict[str, Tuple[Converter, str]] = {
    'mxnet-resnet38d':
    (convert_mxnet_resnet38d,
     'ImageNet ResNet-38 "A1" MXNet .params (ademxapp) -> ResNet-38d keys'),
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert released weights into a PyTorch state dict')
    subparsers = parser.add_subparsers(
        dest='converter', required=True, metavar='CONVERTER')
    for name, (_, help_text) in CONVERTERS.items():
        subparser = subparsers.add_parser(name, help=help_text)
        subparser.add_argument('src', help='source weight file')
        subparser.add_argument('dst', help='output .pth (plain state dict)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Tensor]:
    args = parse_args(argv)
    convert, _ = CONVERTERS[args.converter]
    state_dict, dropped = convert(args.src)
    with atomic_write(args.dst, 'wb') as f:
        torch.save(state_dict, f)
    print(f'Converted {len(state_dict)} tensors from {args.src} to '
          f'{args.dst}; dropped {len(dropped)}'
          + (f': {", ".join(dropped)}' if dropped else ''))
    return state_dict


if __name__ == '__main__':
    main()
