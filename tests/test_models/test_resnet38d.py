import logging

import pytest
import torch
from mmengine.logging import MMLogger
from torch.nn.modules.batchnorm import _BatchNorm

from wsstool.models.backbones import ResNet38d
from wsstool.registry import MODELS

# Released AEFT/KTSE stage-1 checkpoint (KTSE: fc9 has 21 outputs): parameter
# values of the whole network, and the head layers that are not backbone.
CHECKPOINT_PARAMS = 106_129_696
HEAD_PARAMS = (
    256 * 4096 * 1 * 1  # fc8
    + 2 * 256  # bn8 weight + bias
    + 21 * 256  # fc9
    + 3 * 2 * 2 * 40 * 3 * 3)  # gconv1..3, att_p and att_n
BN_ENTRIES = ('weight', 'bias', 'running_mean', 'running_var')


def _spec_backbone_shapes():
    """Backbone keys and shapes of the released ResNet-38d state dicts,
    written out from the checkpoint layout table (not from the module)."""
    shapes = {'conv1a.weight': (64, 3, 3, 3)}

    def add_bn(name, channels):
        for entry in BN_ENTRIES:
            shapes[f'{name}.{entry}'] = (channels, )
        shapes[f'{name}.num_batches_tracked'] = ()

    basic_blocks = ([('b2', 64, 128, 128)] + [(f'b2_{i}', 128, 128, 128)
                                              for i in (1, 2)] +
                    [('b3', 128, 256, 256)] + [(f'b3_{i}', 256, 256, 256)
                                               for i in (1, 2)] +
                    [('b4', 256, 512, 512)] + [(f'b4_{i}', 512, 512, 512)
                                               for i in range(1, 6)] +
                    [('b5', 512, 512, 1024)] + [(f'b5_{i}', 1024, 512, 1024)
                                                for i in (1, 2)])
    for name, cin, mid, cout in basic_blocks:
        add_bn(f'{name}.bn_branch2a', cin)
        shapes[f'{name}.conv_branch2a.weight'] = (mid, cin, 3, 3)
        add_bn(f'{name}.bn_branch2b1', mid)
        shapes[f'{name}.conv_branch2b1.weight'] = (cout, mid, 3, 3)
        if name in ('b2', 'b3', 'b4', 'b5'):
            shapes[f'{name}.conv_branch1.weight'] = (cout, cin, 1, 1)
    for name, cin, cout in (('b6', 1024, 2048), ('b7', 2048, 4096)):
        add_bn(f'{name}.bn_branch2a', cin)
        shapes[f'{name}.conv_branch2a.weight'] = (cout // 4, cin, 1, 1)
        add_bn(f'{name}.bn_branch2b1', cout // 4)
        shapes[f'{name}.conv_branch2b1.weight'] = (cout // 2, cout // 4, 3, 3)
        add_bn(f'{name}.bn_branch2b2', cout // 2)
        shapes[f'{name}.conv_branch2b2.weight'] = (cout, cout // 2, 1, 1)
        shapes[f'{name}.conv_branch1.weight'] = (cout, cin, 1, 1)
    add_bn('bn7', 4096)
    return shapes


def _numel(shape):
    return int(torch.Size(shape).numel())


@pytest.fixture(scope='module')
def psa_backbone():
    """Default (PSA) configuration returning all four features."""
    return ResNet38d(out_indices=(0, 1, 2, 3))


@pytest.fixture(scope='module')
def checkpoint_path(tmp_path_factory):
    return tmp_path_factory.mktemp('resnet38d') / 'res38d_imagenet.pth'


@pytest.fixture(scope='module')
def plain_backbone(checkpoint_path):
    """Nothing frozen, BN trained; built from the registry with a
    Pretrained init_cfg whose file the pretrained test writes."""
    return MODELS.build(
        dict(type='ResNet38d',
             dropouts=(0.2, 0.2),
             frozen_stages=-1,
             norm_eval=False,
             norm_frozen=False,
             init_cfg=dict(type='Pretrained',
                           checkpoint=str(checkpoint_path),
                           prefix='backbone.')))


def test_spec_table_matches_documented_totals():
    shapes = _spec_backbone_shapes()
    params = [
        key for key in shapes
        if not key.endswith(('running_mean', 'running_var',
                             'num_batches_tracked'))
    ]
    running = [key for key in shapes if 'running' in key]
    # 241 checkpoint keys minus fc8, bn8 (5 entries), fc9, 6 gconv convs.
    assert len(shapes) == 241 - 1 - 5 - 1 - 6
    # The converted ImageNet weights: every entry but num_batches_tracked.
    assert len(params) + len(running) == 191
    assert sum(_numel(shapes[k])
               for k in params) == (CHECKPOINT_PARAMS - HEAD_PARAMS)
    assert sum(_numel(shapes[k]) for k in running) == 48_256 - 2 * 256


def test_backbone_owns_exactly_the_spec_keys_and_parameter_count():
    with torch.device('meta'):
        model = ResNet38d()
    spec = _spec_backbone_shapes()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == spec
    assert sum(p.numel() for p in model.parameters()) == 105_070_912
    assert 105_070_912 == CHECKPOINT_PARAMS - HEAD_PARAMS


def test_spec_state_dict_loads_strictly():
    with torch.device('meta'):
        model = ResNet38d()
    state_dict = {
        key:
        torch.full(shape,
                   index,
                   dtype=torch.long
                   if key.endswith('num_batches_tracked') else torch.float)
        for index, (key, shape) in enumerate(_spec_backbone_shapes().items())
    }
    result = model.load_state_dict(state_dict, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    loaded = model.state_dict()
    assert all(
        torch.equal(loaded[key], value) for key, value in state_dict.items())


def test_feature_shapes_strides_and_definitions(psa_backbone):
    model = psa_backbone.eval()
    assert model.out_channels == (256, 512, 1024, 4096)
    assert model.out_strides == (4, 8, 8, 8)
    captured = {}
    handles = [
        getattr(model, name).register_forward_pre_hook(
            lambda module, args, name=name: captured.__setitem__(
                name, args[0])) for name in ('b4', 'b5', 'b6')
    ]
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
        odd = model(torch.randn(1, 3, 33, 50))
    for handle in handles:
        handle.remove()
    assert [tuple(o.shape) for o in outs] == [(1, 256, 16, 16), (1, 512, 8, 8),
                                              (1, 1024, 8, 8), (1, 4096, 8, 8)]
    assert [tuple(o.shape[2:]) for o in odd] == [(9, 13), (5, 7), (5, 7),
                                                 (5, 7)]
    # conv3/4/5 are the pre-activated inputs of b4/b5/b6 (last call: odd).
    for out, name in zip(odd[:3], ('b4', 'b5', 'b6')):
        bn = getattr(model, name).bn_branch2a
        assert torch.allclose(out, torch.relu(bn(captured[name])))
    assert (odd[3] >= 0).all()


def test_dilations_and_dropouts(psa_backbone, plain_backbone):
    model = psa_backbone
    assert model.b5.conv_branch2a.dilation == (1, 1)
    assert model.b5.conv_branch2a.stride == (1, 1)
    for name in ('b5', 'b5_1', 'b5_2'):
        conv = getattr(model, name).conv_branch2b1
        assert conv.dilation == (2, 2) and conv.padding == (2, 2)
    assert model.b5_1.conv_branch2a.dilation == (2, 2)
    for name in ('b2', 'b3', 'b4'):
        assert getattr(model, name).conv_branch2a.stride == (2, 2)
        assert getattr(model, name).conv_branch2a.dilation == (1, 1)
    for block in (model.b6, model.b7):
        assert block.conv_branch2b1.dilation == (4, 4)
    assert (model.b6.dropout_2b1.p, model.b6.dropout_2b2.p) == (0.3, 0.3)
    assert (model.b7.dropout_2b1.p, model.b7.dropout_2b2.p) == (0.5, 0.5)
    assert plain_backbone.b6.dropout_2b1.p == 0.2
    assert plain_backbone.b7.dropout_2b2.p == 0.2


def test_default_freezing_norm_eval_and_dropout(psa_backbone):
    model = psa_backbone.train()
    frozen = [model.conv1a, model.b2, model.b2_1, model.b2_2]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert len(norms) == 37
    assert all(not m.training for m in norms)
    assert all(not m.weight.requires_grad and not m.bias.requires_grad
               for m in norms)
    assert model.b3.conv_branch2a.weight.requires_grad
    assert model.b7.dropout_2b1.training

    stats = {
        k: v.clone()
        for k, v in model.state_dict().items()
        if 'running' in k or 'num_batches' in k
    }
    model.zero_grad()
    x = torch.randn(1, 3, 24, 24)
    first = model(x)[3]
    first.sum().backward()
    assert not torch.equal(first, model(x)[3])  # dropout active
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in stats.items())
    assert all(p.grad is None for m in frozen for p in m.parameters())
    assert all(m.weight.grad is None for m in norms)
    assert model.b3.conv_branch2a.weight.grad is not None
    assert model.b7.conv_branch2b2.weight.grad is not None
    model.zero_grad()


def test_plain_configuration_trains_everything(plain_backbone):
    model = plain_backbone.train()
    assert all(p.requires_grad for p in model.parameters())
    assert model.b2.bn_branch2a.training
    mean = model.bn7.running_mean.clone()
    model(torch.randn(2, 3, 16, 16))
    assert not torch.equal(model.bn7.running_mean, mean)
    assert model.bn7.num_batches_tracked.item() >= 1


def test_pretrained_init_cfg_loads_and_reports_extra_keys(
        psa_backbone, plain_backbone, checkpoint_path):
    # Converted ImageNet layout: 191 tensors, no num_batches_tracked, plus
    # a head key the backbone does not own.
    source = {
        f'backbone.{k}': v + 1.0
        for k, v in psa_backbone.state_dict().items()
        if not k.endswith('num_batches_tracked')
    }
    assert len(source) == 191
    source['fc8.weight'] = torch.zeros(20, 4096, 1, 1)
    source['backbone.fc8.weight'] = torch.zeros(20, 4096, 1, 1)
    torch.save(source, checkpoint_path)

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        plain_backbone.init_weights()
    finally:
        logger.removeHandler(handler)
    loaded = plain_backbone.state_dict()
    assert all(
        torch.equal(loaded[k[len('backbone.'):]], v)
        for k, v in source.items() if k.startswith('backbone.b'))
    assert torch.equal(loaded['conv1a.weight'],
                       source['backbone.conv1a.weight'])
    warnings = [
        r.getMessage() for r in records if r.levelno == logging.WARNING
    ]
    assert any("['fc8.weight']" in message for message in warnings)


def test_pretrained_errors(plain_backbone, tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        plain_backbone.load_pretrained(str(tmp_path / 'missing.pth'))
    partial = tmp_path / 'partial.pth'
    torch.save({'conv1a.weight': torch.zeros(64, 3, 3, 3)}, partial)
    with pytest.raises(KeyError, match=r'partial\.pth.*b2\.bn_branch2a'):
        plain_backbone.load_pretrained(str(partial))
    with pytest.raises(KeyError, match="prefix 'backbone.'"):
        plain_backbone.load_pretrained(str(partial), prefix='backbone.')
    wrong = tmp_path / 'wrong.pth'
    torch.save({'conv1a.weight': torch.zeros(64, 3, 7, 7)}, wrong)
    with pytest.raises(ValueError, match='conv1a.weight'):
        plain_backbone.load_pretrained(str(wrong))


def test_bad_arguments():
    with pytest.raises(ValueError, match='dropouts'):
        ResNet38d(dropouts=(0.3, ))
    with pytest.raises(ValueError, match='out_indices'):
        ResNet38d(out_indices=(4, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        ResNet38d(frozen_stages=5)
