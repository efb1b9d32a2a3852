"""Convert released weights into state dicts or checkpoints for wsstool.

Each converter is a subcommand taking a source and a destination file.

Examples::

    python tools/convert_weights.py mxnet-resnet38d \
        ilsvrc-cls_rna-a1_cls1000_ep-0001.params resnet38d_imagenet.pth
    python tools/convert_weights.py reference-stage1 \
        039net_main.pth ktse_resnet38d_gpp.pth
"""
import argparse
import os.path as osp
from typing import (Callable, Dict, List, Mapping, NamedTuple, Optional,
                    Sequence, Tuple)

import torch
from torch import Tensor, nn

from wsstool.fileio import atomic_write
from wsstool.models.backbones import ResNet38d
from wsstool.models.heads import GPPCAMHead
from wsstool.models.utils.mxnet_params import load_mxnet_params
from wsstool.models.utils.resnet38d_mapping import mxnet_to_resnet38d_name
from wsstool.models.utils.unprefixed_keys import map_unprefixed_keys


class Conversion(NamedTuple):
    """A converted state dict and the source names it dropped. With
    ``meta`` the output is a wsstool checkpoint
    ``{'state_dict': ..., 'meta': meta}``, else the plain state dict."""
    state_dict: Dict[str, Tensor]
    dropped: List[str]
    meta: Optional[dict] = None


Converter = Callable[[str], Conversion]


def convert_mxnet_resnet38d(src: str) -> Conversion:
    """Rename the ImageNet ResNet-38 "A1" MXNet parameters to ResNet-38d
    keys (the released file gives 191 tensors; load with ``strict=False``).

    Returns:
        Conversion: The state dict (tensors keep the stored shapes and
        dtypes) and the dropped MXNet names (the ImageNet classifier).
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
    return Conversion(state_dict, dropped)


# fc9 output channels of the released stage-1 checkpoints.
REFERENCE_STAGE1_VARIANTS = {21: 'KTSE/KTSE+', 20: 'AEFT'}
_MODEL_PREFIXES = ('head.pooling.', 'head.', 'backbone.')


def reference_stage1_model_cfg(with_background: bool) -> dict:
    """wsstool config of the AEFT/KTSE ``Net_gpp`` network."""
    return dict(
        type='CAMClassifier',
        backbone=dict(type='ResNet38d', dropouts=(0.2, 0.2)),
        head=dict(type='GPPCAMHead', with_background=with_background))


def reference_stage1_layout(with_background: bool) -> Dict[str, torch.Size]:
    """Shapes of the backbone + head state dict (wsstool keys) of the
    ``Net_gpp`` network, built on the meta device (no memory, no init)."""
    with torch.device('meta'):
        model = nn.ModuleDict(
            dict(
                backbone=ResNet38d(dropouts=(0.2, 0.2)),
                head=GPPCAMHead(with_background=with_background)))
    return {key: value.shape for key, value in model.state_dict().items()}


def _reference_name(key: str) -> str:
    """The reference (unprefixed) name of a wsstool key."""
    for prefix in _MODEL_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def convert_reference_stage1(src: str) -> Conversion:
    """Rename a released KTSE/KTSE+/AEFT stage-1 state dict (``Net_gpp``,
    241 tensors, e.g. ``039net_main.pth``) to wsstool keys, checking that
    every key and shape matches.

    The variant is read from ``fc9.weight``: 21 output channels (KTSE/KTSE+,
    background at channel 0) or 20 (AEFT).

    Returns:
        Conversion: The state dict with ``backbone.``/``head.`` keys, no
        dropped names, and ``meta`` naming the source, the variant and the
        model config it loads into strictly.

    Raises:
        ValueError: If the file is not a state dict of tensors, ``fc9`` has
            neither 20 nor 21 channels, or a tensor has the wrong shape.
        KeyError: Naming the first missing or unexpected key.
    """
    checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    if not isinstance(checkpoint, Mapping) or not all(
            isinstance(value, Tensor) for value in checkpoint.values()):
        raise ValueError(
            f'{src}: expected a plain state dict {{name: tensor}} as saved '
            'by AEFT/KTSE (torch.save(net.state_dict())), got '
            f'{type(checkpoint).__name__}.')
    state_dict = map_unprefixed_keys(checkpoint,
                                     reference_stage1_layout(True))
    fc9 = state_dict.get('head.fc9.weight')
    if fc9 is None:
        raise KeyError(f'{src}: no fc9.weight; expected a KTSE/KTSE+/AEFT '
                       'Net_gpp state dict.')
    if fc9.shape[0] not in REFERENCE_STAGE1_VARIANTS:
        raise ValueError(
            f'{src}: fc9.weight has shape {tuple(fc9.shape)}; expected 21 '
            '(KTSE/KTSE+) or 20 (AEFT) output channels.')
    with_background = fc9.shape[0] == 21
    layout = reference_stage1_layout(with_background)
    missing = [key for key in layout if key not in state_dict]
    if missing:
        raise KeyError(f'{src}: missing key {_reference_name(missing[0])!r} '
                       f'({len(missing)} missing); expected the '
                       f'{len(layout)} keys of Net_gpp.')
    unexpected = [key for key in state_dict if key not in layout]
    if unexpected:
        raise KeyError(f'{src}: unexpected key {unexpected[0]!r} '
                       f'({len(unexpected)} unexpected); expected the '
                       f'{len(layout)} keys of Net_gpp.')
    for key, shape in layout.items():
        if state_dict[key].shape != shape:
            raise ValueError(
                f'{src}: {_reference_name(key)!r} has shape '
                f'{tuple(state_dict[key].shape)}; expected {tuple(shape)}.')
    meta = dict(
        converter='reference-stage1',
        source=osp.basename(src),
        variant=REFERENCE_STAGE1_VARIANTS[fc9.shape[0]],
        model=reference_stage1_model_cfg(with_background))
    return Conversion(state_dict, [], meta)


CONVERTERS: Dict[str, Tuple[Converter, str]] = {
    'mxnet-resnet38d':
    (convert_mxnet_resnet38d,
     'ImageNet ResNet-38 "A1" MXNet .params (ademxapp) -> ResNet-38d keys'),
    'reference-stage1':
    (convert_reference_stage1,
     'KTSE/KTSE+/AEFT stage-1 .pth (Net_gpp state dict) -> wsstool '
     'checkpoint of CAMClassifier(ResNet38d, GPPCAMHead)'),
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert released weights into a PyTorch state dict')
    subparsers = parser.add_subparsers(
        dest='converter', required=True, metavar='CONVERTER')
    for name, (_, help_text) in CONVERTERS.items():
        subparser = subparsers.add_parser(name, help=help_text)
        subparser.add_argument('src', help='source weight file')
        subparser.add_argument('dst', help='output .pth')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Tensor]:
    args = parse_args(argv)
    convert, _ = CONVERTERS[args.converter]
    state_dict, dropped, meta = convert(args.src)
    output = state_dict if meta is None else dict(
        state_dict=state_dict, meta=meta)
    with atomic_write(args.dst, 'wb') as f:
        torch.save(output, f)
    print(f'Converted {len(state_dict)} tensors from {args.src} to '
          f'{args.dst}; dropped {len(dropped)}'
          + (f': {", ".join(dropped)}' if dropped else ''))
    return state_dict


if __name__ == '__main__':
    main()
