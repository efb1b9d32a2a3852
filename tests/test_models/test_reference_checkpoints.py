"""The released KTSE / KTSE+ / AEFT stage-1 state dicts (``Net_gpp``) load
strictly into CAMClassifier(ResNet38d, GPPCAMHead) and give the reference
network's outputs."""
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from wsstool.models.utils.unprefixed_keys import map_unprefixed_keys
from wsstool.registry import MODELS

KTSE_FC9, AEFT_FC9 = 21, 20
BN_ENTRIES = ('weight', 'bias', 'running_mean', 'running_var',
              'num_batches_tracked')
# (name, in, mid, out, has conv_branch1) of the basic blocks.
BASIC_BLOCKS = (
    ('b2', 64, 128, 128, True),
    ('b2_1', 128, 128, 128, False),
    ('b2_2', 128, 128, 128, False),
    ('b3', 128, 256, 256, True),
    ('b3_1', 256, 256, 256, False),
    ('b3_2', 256, 256, 256, False),
    ('b4', 256, 512, 512, True),
    *((f'b4_{i}', 512, 512, 512, False) for i in range(1, 6)),
    ('b5', 512, 512, 1024, True),
    ('b5_1', 1024, 512, 1024, False),
    ('b5_2', 1024, 512, 1024, False),
)
# (name, in, out) of the bottlenecks.
BOTTLENECKS = (('b6', 1024, 2048), ('b7', 2048, 4096))


def _bn_shapes(name, width):
    return {
        f'{name}.{entry}': () if entry == 'num_batches_tracked' else (width, )
        for entry in BN_ENTRIES
    }


def net_gpp_shapes(fc9_channels):
    """Keys and shapes of a released ``Net_gpp`` state dict (reference
    names, data-and-formats.md 5.1)."""
    shapes = {'conv1a.weight': (64, 3, 3, 3)}
    for name, cin, mid, cout, has_shortcut in BASIC_BLOCKS:
        shapes.update(_bn_shapes(f'{name}.bn_branch2a', cin))
        shapes[f'{name}.conv_branch2a.weight'] = (mid, cin, 3, 3)
        shapes.update(_bn_shapes(f'{name}.bn_branch2b1', mid))
        shapes[f'{name}.conv_branch2b1.weight'] = (cout, mid, 3, 3)
        if has_shortcut:
            shapes[f'{name}.conv_branch1.weight'] = (cout, cin, 1, 1)
    for name, cin, cout in BOTTLENECKS:
        shapes.update(_bn_shapes(f'{name}.bn_branch2a', cin))
        shapes[f'{name}.conv_branch2a.weight'] = (cout // 4, cin, 1, 1)
        shapes.update(_bn_shapes(f'{name}.bn_branch2b1', cout // 4))
        shapes[f'{name}.conv_branch2b1.weight'] = (cout // 2, cout // 4, 3, 3)
        shapes.update(_bn_shapes(f'{name}.bn_branch2b2', cout // 2))
        shapes[f'{name}.conv_branch2b2.weight'] = (cout, cout // 2, 1, 1)
        shapes[f'{name}.conv_branch1.weight'] = (cout, cin, 1, 1)
    shapes.update(_bn_shapes('bn7', 4096))
    shapes['fc8.weight'] = (256, 4096, 1, 1)
    shapes.update(_bn_shapes('bn8', 256))
    shapes['fc9.weight'] = (fc9_channels, 256, 1, 1)
    for i in (1, 2, 3):
        for gate in ('att_p', 'att_n'):
            shapes[f'gconv{i}.{gate}.0.weight'] = (2, 40, 3, 3)
    return shapes


def _random_tensor(key, shape, generator):
    """Values that keep activations of a deep net in a sane range."""
    if key.endswith('num_batches_tracked'):
        return torch.tensor(0)
    if key.endswith('running_var'):
        return 0.5 + torch.rand(shape, generator=generator)
    if key.endswith('.weight') and len(shape) == 1:  # BN scale
        return 1 + 0.1 * torch.randn(shape, generator=generator)
    if len(shape) == 1:  # BN bias, running_mean
        return 0.1 * torch.randn(shape, generator=generator)
    fan_in = shape[1] * shape[2] * shape[3]
    return torch.randn(shape, generator=generator) * (1 / fan_in)**0.5


@pytest.fixture(scope='module')
def reference_state_dicts():
    """{fc9 channels: 241-key reference state dict}; both variants share
    every tensor except fc9."""
    generator = torch.Generator().manual_seed(0)
    ktse = OrderedDict(
        (key, _random_tensor(key, shape, generator))
        for key, shape in net_gpp_shapes(KTSE_FC9).items())
    aeft = OrderedDict(ktse)
    aeft['fc9.weight'] = _random_tensor('fc9.weight', (20, 256, 1, 1),
                                        generator)
    return {KTSE_FC9: ktse, AEFT_FC9: aeft}


@pytest.fixture(scope='module', params=[KTSE_FC9, AEFT_FC9],
                ids=['ktse', 'aeft'])
def loaded(request, reference_state_dicts):
    """(fc9 channels, reference dict, CAMClassifier loaded from it)."""
    fc9 = request.param
    model = MODELS.build(
        dict(type='CAMClassifier',
             backbone=dict(type='ResNet38d', dropouts=(0.2, 0.2)),
             head=dict(type='GPPCAMHead', with_background=fc9 == KTSE_FC9)))
    reference = reference_state_dicts[fc9]
    # the reference key names load as they are: CAMClassifier maps them
    model.load_state_dict(dict(reference), strict=True)
    return fc9, reference, model.eval()


def test_reference_layout_has_241_keys():
    shapes = net_gpp_shapes(KTSE_FC9)
    assert len(shapes) == 241
    assert sum(k.endswith('num_batches_tracked') for k in shapes) == 38
    assert sum(k.endswith('.weight') and len(s) == 4
               for k, s in shapes.items()) == 51


def test_strict_load_and_parameter_counts(loaded):
    fc9, reference, model = loaded
    assert len(model.state_dict()) == 241
    params = sum(p.numel() for p in model.parameters())
    running = sum(b.numel() for n, b in model.named_buffers()
                  if n.endswith(('running_mean', 'running_var')))
    assert params == 106_129_696 - 256 * (KTSE_FC9 - fc9)
    assert running == 48_256
    state = model.state_dict()
    for key, prefixed in (('conv1a.weight', 'backbone.conv1a.weight'),
                          ('b4_5.bn_branch2b1.running_var',
                           'backbone.b4_5.bn_branch2b1.running_var'),
                          ('bn8.running_mean', 'head.bn8.running_mean'),
                          ('fc9.weight', 'head.fc9.weight'),
                          ('gconv3.att_n.0.weight',
                           'head.pooling.gconv3.att_n.0.weight')):
        torch.testing.assert_close(state[prefixed], reference[key])


def _bn(x, sd, name):
    return F.batch_norm(x, sd[f'{name}.running_mean'],
                        sd[f'{name}.running_var'], sd[f'{name}.weight'],
                        sd[f'{name}.bias'], training=False, eps=1e-5)


def _basic_block(x, sd, name, stride, first_dilation, dilation):
    act = F.relu(_bn(x, sd, f'{name}.bn_branch2a'))
    branch = F.conv2d(act, sd[f'{name}.conv_branch2a.weight'], stride=stride,
                      padding=first_dilation, dilation=first_dilation)
    branch = F.relu(_bn(branch, sd, f'{name}.bn_branch2b1'))
    branch = F.conv2d(branch, sd[f'{name}.conv_branch2b1.weight'],
                      padding=dilation, dilation=dilation)
    shortcut_key = f'{name}.conv_branch1.weight'
    shortcut = (F.conv2d(act, sd[shortcut_key], stride=stride)
                if shortcut_key in sd else x)
    return shortcut + branch


def _bottleneck(x, sd, name):
    act = F.relu(_bn(x, sd, f'{name}.bn_branch2a'))
    branch = F.relu(_bn(F.conv2d(act, sd[f'{name}.conv_branch2a.weight']),
                        sd, f'{name}.bn_branch2b1'))
    branch = F.relu(_bn(
        F.conv2d(branch, sd[f'{name}.conv_branch2b1.weight'], padding=4,
                 dilation=4), sd, f'{name}.bn_branch2b2'))
    branch = F.conv2d(branch, sd[f'{name}.conv_branch2b2.weight'])
    return F.conv2d(act, sd[f'{name}.conv_branch1.weight']) + branch


# (block, stride, first dilation, dilation), in forward order.
BASIC_SCHEDULE = (('b2', 2, 1, 1), ('b2_1', 1, 1, 1), ('b2_2', 1, 1, 1),
                  ('b3', 2, 1, 1), ('b3_1', 1, 1, 1), ('b3_2', 1, 1, 1),
                  ('b4', 2, 1, 1),
                  *((f'b4_{i}', 1, 1, 1) for i in range(1, 6)),
                  ('b5', 1, 1, 2), ('b5_1', 1, 2, 2), ('b5_2', 1, 2, 2))


def _gate_fuse(x, y, sd, name):
    pos = torch.sigmoid(F.conv2d(torch.cat([F.relu(x), F.relu(y)], 1),
                                 sd[f'{name}.att_p.0.weight'], padding=1))
    neg = torch.sigmoid(F.conv2d(torch.cat([F.relu(-x), F.relu(-y)], 1),
                                 sd[f'{name}.att_n.0.weight'], padding=1))
    return 0.5 * (F.relu(x) * pos[:, [0]] + F.relu(y) * pos[:, [1]]) \
        - 0.5 * (F.relu(-x) * neg[:, [0]] + F.relu(-y) * neg[:, [1]])


def reference_features(image, sd):
    """Net_gpp backbone in eval mode: relu(bn7(...)) (B, 4096, h, w)."""
    x = F.conv2d(image, sd['conv1a.weight'], padding=1)
    for name, stride, first_dilation, dilation in BASIC_SCHEDULE:
        x = _basic_block(x, sd, name, stride, first_dilation, dilation)
    x = _bottleneck(_bottleneck(x, sd, 'b6'), sd, 'b7')
    return F.relu(_bn(x, sd, 'bn7'))


def reference_head(feat, sd):
    """Net_gpp head: foreground CAM, logits, GPP map and fc9 scores."""
    scores = F.conv2d(F.relu(F.conv2d(feat, sd['fc8.weight'])),
                      sd['fc9.weight'])
    cam = scores[:, 1:] if scores.shape[1] == KTSE_FC9 else scores
    size = cam.shape[2:]
    grids = [F.interpolate(F.adaptive_avg_pool2d(cam, (k, k)), size=size,
                           mode='bilinear', align_corners=False)
             for k in (2, 4, 8, 16)]
    gpp = _gate_fuse(grids[0], grids[1], sd, 'gconv1')
    gpp = _gate_fuse(gpp, grids[2], sd, 'gconv2')
    gpp = _gate_fuse(gpp, grids[3], sd, 'gconv3')
    logits = F.adaptive_avg_pool2d(F.relu(cam) * F.relu(gpp), 1) \
        - F.adaptive_avg_pool2d(F.relu(-cam) * F.relu(-gpp), 1)
    return cam, logits.flatten(1), gpp, scores


@pytest.fixture(scope='module')
def image_and_features(reference_state_dicts):
    """A small image and its reference features (shared by both variants,
    whose backbone tensors are the same)."""
    # odd size: every stride-2 conv rounds up, 17 x 25 -> 3 x 4 features
    image = torch.randn(1, 3, 17, 25,
                        generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return image, reference_features(image,
                                         reference_state_dicts[KTSE_FC9])


def test_outputs_equal_reference_net_gpp(loaded, image_and_features):
    fc9, reference, model = loaded
    image, feat = image_and_features
    with torch.no_grad():
        out = model.head(model.backbone(image))
        cam, logits, gpp, scores = reference_head(feat, reference)
    assert cam.shape == (1, 20, 3, 4)
    assert cam.abs().max() > 1e-2 and (cam < 0).any() and (cam > 0).any()
    tol = dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.cam, cam, **tol)
    torch.testing.assert_close(out.logits, logits, **tol)
    torch.testing.assert_close(out.pooled_map, gpp, **tol)
    if fc9 == KTSE_FC9:
        torch.testing.assert_close(out.seg, scores, **tol)
    else:
        assert out.seg is None


# map_unprefixed_keys on small key sets
MODEL_KEYS = ('backbone.conv1a.weight', 'backbone.bn7.running_mean',
              'head.fc8.weight', 'head.pooling.gconv1.att_p.0.weight')


def _tensors(keys):
    return OrderedDict((key, torch.full((1, ), float(i)))
                       for i, key in enumerate(keys))


def test_map_unprefixed_keys_adds_first_matching_prefix():
    sd = _tensors(['gconv1.att_p.0.weight', 'conv1a.weight', 'fc8.weight',
                   'bn7.running_mean', 'extra.weight'])
    mapped = map_unprefixed_keys(sd, MODEL_KEYS)
    assert list(mapped) == [
        'head.pooling.gconv1.att_p.0.weight', 'backbone.conv1a.weight',
        'head.fc8.weight', 'backbone.bn7.running_mean', 'extra.weight'
    ]
    for (_, value), mapped_value in zip(sd.items(), mapped.values()):
        assert mapped_value is value


def test_map_unprefixed_keys_prefix_order():
    mapped = map_unprefixed_keys(_tensors(['x']), {'head.x', 'backbone.x'})
    assert list(mapped) == ['backbone.x']
    mapped = map_unprefixed_keys(_tensors(['x']), {'head.x', 'backbone.x'},
                                 prefixes=('head.', 'backbone.'))
    assert list(mapped) == ['head.x']


def test_map_unprefixed_keys_strips_data_parallel_prefix():
    sd = _tensors(['module.conv1a.weight', 'module.fc8.weight'])
    assert list(map_unprefixed_keys(sd, MODEL_KEYS)) == [
        'backbone.conv1a.weight', 'head.fc8.weight'
    ]
    # only when every key has it
    sd = _tensors(['module.conv1a.weight', 'fc8.weight'])
    assert list(map_unprefixed_keys(sd, MODEL_KEYS)) == [
        'module.conv1a.weight', 'head.fc8.weight'
    ]


def test_map_unprefixed_keys_keeps_wsstool_layout():
    sd = _tensors(['backbone.conv1a.weight', 'fc8.weight'])
    assert list(map_unprefixed_keys(sd, MODEL_KEYS)) == list(sd)
    sd = _tensors(['module.backbone.conv1a.weight', 'module.fc8.weight'])
    assert list(map_unprefixed_keys(sd, MODEL_KEYS)) == [
        'backbone.conv1a.weight', 'fc8.weight'
    ]


def test_map_unprefixed_keys_rejects_two_keys_for_one_model_key():
    with pytest.raises(ValueError, match=r"map twice to 'head.pooling.g' "
                       r"\(the second is 'pooling.g'\)"):
        map_unprefixed_keys(_tensors(['g', 'pooling.g']), {'head.pooling.g'},
                            prefixes=('head.pooling.', 'head.'))
