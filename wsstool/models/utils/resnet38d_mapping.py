"""Names of the ImageNet ResNet-38 "A1" (ademxapp) MXNet parameters in the
ResNet-38d module layout shared by PSA, SEAM, AEFT and KTSE.

An MXNet name splits on ``_`` into tokens ``t0, t1, ..., last``:

* ``conv1a_weight`` -> ``conv1a.weight``; ``linear1000_*`` (the ImageNet
  classifier) is dropped.
* ``t1`` contains ``branch``: ``t0`` names the block, ``res<d>a`` or
  ``bn<d>a`` -> ``b<d>``, ``res<d><letter><n>`` or ``bn<d><letter><n>`` ->
  ``b<d>_<n>`` (``res4b5`` -> ``b4_5``). Convolutions (``res*``) map to
  ``<block>.conv_<t1>.weight``, batch norms (``bn*``) to
  ``<block>.bn_<t1>.<param>``.
* ``bn7_*`` -> ``bn7.<param>``.

A batch-norm ``<param>`` comes from the last token: gamma -> weight,
beta -> bias, mean -> running_mean, var -> running_var (so
``moving_mean``/``moving_var`` map too). An ``arg:``/``aux:`` prefix is
ignored.
"""
import re
from typing import Optional

MXNET_NAME_PREFIXES = ('arg:', 'aux:')
BN_PARAM_NAMES = {
    'gamma': 'weight',
    'beta': 'bias',
    'mean': 'running_mean',
    'var': 'running_var',
}
_BLOCK = re.compile(r'(res|bn)(\d)([a-z])(\d*)')


def _strip_prefix(name: str) -> str:
    for prefix in MXNET_NAME_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _bn_param(token: str, name: str) -> str:
    if token not in BN_PARAM_NAMES:
        raise ValueError(
            f'MXNet batch-norm parameter {name!r} ends in {token!r}; '
            f'expected one of {sorted(BN_PARAM_NAMES)}.')
    return BN_PARAM_NAMES[token]


def _block(token: str, name: str) -> str:
    """``res2a``/``bn5a`` -> ``b2``/``b5``; ``res4b5``/``bn2b1`` ->
    ``b4_5``/``b2_1``."""
    match = _BLOCK.fullmatch(token)
    if match is None:
        raise ValueError(
            f'MXNet parameter {name!r}: {token!r} is not a ResNet-38 block '
            "name such as 'res2a', 'res4b5' or 'bn5b1'.")
    _, stage, letter, index = match.groups()
    if not index and letter == 'a':
        return f'b{stage}'
    if not index:
        raise ValueError(
            f'MXNet parameter {name!r}: block {token!r} has no unit number '
            "(expected e.g. 'res4b5').")
    return f'b{stage}_{index}'


def mxnet_to_resnet38d_name(name: str) -> Optional[str]:
    """The ResNet-38d state-dict key of an ademxapp MXNet parameter.

    Args:
        name (str): MXNet parameter name, e.g. ``'arg:res2a_branch1_weight'``
            or ``'aux:bn4b5_branch2a_moving_mean'``.

    Returns:
        str | None: e.g. ``'b2.conv_branch1.weight'``,
        ``'b4_5.bn_branch2a.running_mean'``; None for the dropped ImageNet
        classifier (``linear1000_*``).

    Raises:
        ValueError: If ``name`` follows none of the ResNet-38 patterns.
    """
    tokens = _strip_prefix(name).split('_')
    head = tokens[0]
    if head == 'linear1000':
        return None
    if head == 'conv1a' and tokens[1:] == ['weight']:
        return 'conv1a.weight'
    if len(tokens) >= 3 and 'branch' in tokens[1]:
        block = _block(head, name)
        if head.startswith('res'):
            if tokens[2:] != ['weight']:
                raise ValueError(
                    f'MXNet convolution parameter {name!r}: expected '
                    f"'{head}_{tokens[1]}_weight' (ResNet-38 convolutions "
                    'have no bias).')
            return f'{block}.conv_{tokens[1]}.weight'
        return f'{block}.bn_{tokens[1]}.{_bn_param(tokens[-1], name)}'
    if head == 'bn7' and len(tokens) >= 2:
        return f'bn7.{_bn_param(tokens[-1], name)}'
    raise ValueError(
        f'MXNet parameter {name!r} is not an ImageNet ResNet-38 parameter '
        "(expected conv1a_*, res*/bn*_branch*_*, bn7_* or linear1000_*).")
