import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch.nn.modules.batchnorm import _BatchNorm

from wsstool.models.backbones import ResNet
from wsstool.models.backbones.resnet import ResNetV1d
from wsstool.registry import MODELS

STAGE_CHANNELS = {18: (64, 128, 256, 512), 50: (256, 512, 1024, 2048)}


def _ceil_div(value, divisor):
    return -(-value // divisor)


@pytest.mark.parametrize('depth', [18, 50])
@pytest.mark.parametrize('strides,dilations', [
    ((1, 2, 2, 2), (1, 1, 1, 1)),
    ((1, 2, 2, 1), (1, 1, 1, 1)),
    ((1, 2, 2, 1), (1, 1, 1, 2)),
    ((1, 2, 1, 1), (1, 1, 2, 4)),
])
def test_output_shapes_follow_stride_convention(depth, strides, dilations):
    model = ResNet(depth=depth, strides=strides, dilations=dilations,
                   out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 50, 36))
    assert model.out_channels == STAGE_CHANNELS[depth]
    stride = 4
    for index, out in enumerate(outs):
        stride *= strides[index]
        assert out.shape == (1, STAGE_CHANNELS[depth][index],
                             _ceil_div(50, stride), _ceil_div(36, stride))
    for name, dilation in zip(('layer1', 'layer2', 'layer3', 'layer4'),
                              dilations):
        for block in getattr(model, name):
            assert block.conv2.dilation == (dilation, dilation)
            assert block.conv2.padding == (dilation, dilation)


def test_irn_convention_strides_are_rejected_with_translation():
    with pytest.raises(ValueError, match=r'strides=\(1, 2, 2, 1\)'):
        ResNet(depth=50, strides=(2, 2, 2, 1))


def test_out_indices_order_and_bad_arguments():
    model = ResNet(depth=18, out_indices=(3, 1)).eval()
    outs = model(torch.randn(1, 3, 32, 32))
    assert [o.shape[1] for o in outs] == [512, 128]
    assert model.out_channels == (512, 128)
    with pytest.raises(ValueError, match='depth'):
        ResNet(depth=20)
    with pytest.raises(ValueError, match='out_indices'):
        ResNet(depth=18, out_indices=(4, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        ResNet(depth=18, frozen_stages=5)


def test_frozen_stages_have_no_grad_and_stay_in_eval():
    model = ResNet(depth=18, frozen_stages=2)
    model.train()
    frozen = [model.conv1, model.bn1, model.layer1, model.layer2]
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules())
    assert all(p.requires_grad for p in model.layer3.parameters())
    assert model.layer3.training and model.layer4.training

    model(torch.randn(2, 3, 32, 32))[0].sum().backward()
    assert all(p.grad is None for m in frozen for p in m.parameters())
    assert all(p.grad is not None for p in model.layer3.parameters())


def test_stem_only_freezing():
    model = ResNet(depth=18, frozen_stages=0).train()
    assert not model.conv1.weight.requires_grad
    assert not model.bn1.training
    assert model.layer1.training
    assert all(p.requires_grad for p in model.layer1.parameters())


@pytest.mark.parametrize('norm_eval', [True, False])
def test_norm_eval_keeps_running_stats(norm_eval):
    model = ResNet(depth=18, norm_eval=norm_eval).train()
    before = {k: v.clone() for k, v in model.state_dict().items()
              if 'running' in k}
    model(torch.randn(2, 3, 32, 32) * 3 + 1)
    after = model.state_dict()
    changed = any(not torch.equal(v, after[k]) for k, v in before.items())
    assert changed != norm_eval
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert all(m.training != norm_eval for m in bns)
    assert all(m.weight.requires_grad for m in bns)


def test_detach_stages_block_gradients_before_them():
    model = ResNet(depth=18, detach_stages=(1, )).train()
    model(torch.randn(2, 3, 32, 32))[0].sum().backward()
    for module in (model.conv1, model.layer1, model.layer2):
        assert all(p.grad is None for p in module.parameters())
    for module in (model.layer3, model.layer4):
        assert all(p.grad is not None for p in module.parameters())


def _torchvision_features(net, x):
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


def _random_torchvision_resnet18():
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None)
    for module in net.modules():
        if isinstance(module, _BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def test_pretrained_torchvision_state_dict_loads(tmp_path):
    net = _random_torchvision_resnet18()
    state_dict = {k: v for k, v in net.state_dict().items()
                  if 'num_batches_tracked' not in k}  # as in old releases
    path = str(tmp_path / 'resnet18.pth')
    torch.save(state_dict, path)

    model = MODELS.build(dict(
        type='ResNet', depth=18, strides=(1, 2, 2, 2),
        init_cfg=dict(type='Pretrained', checkpoint=path)))
    model.init_weights()
    model.eval()
    x = torch.randn(2, 3, 48, 40)
    with torch.no_grad():
        expected = _torchvision_features(net, x)
        assert torch.equal(model(x)[0], expected)


def test_pretrained_errors_name_the_file(tmp_path):
    missing = str(tmp_path / 'absent.pth')
    model = ResNet(depth=18,
                   init_cfg=dict(type='Pretrained', checkpoint=missing))
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        model.init_weights()

    path = str(tmp_path / 'r18.pth')
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match=r'r18\.pth.*layer1\.0\.conv1'):
        ResNet(depth=50).load_torchvision_checkpoint(path)
    with pytest.raises(KeyError, match=r'r18\.pth.*layer1\.2'):
        ResNet(depth=34).load_torchvision_checkpoint(path)


@pytest.mark.parametrize('depth', [18, 50])
def test_stem_output_index(depth):
    model = ResNet(depth=depth, out_indices=(-1, 0, 3)).eval()
    assert model.out_channels == (64, STAGE_CHANNELS[depth][0],
                                  STAGE_CHANNELS[depth][3])
    x = torch.randn(1, 3, 50, 37)
    with torch.no_grad():
        stem, layer1, _ = model(x)
        expected = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    assert torch.equal(stem, expected)
    assert stem.shape == (1, 64, 13, 10)
    assert torch.equal(layer1, model.layer1(expected))
    with pytest.raises(ValueError, match=r'out_indices=\(-2, 0\)'):
        ResNet(depth=18, out_indices=(-2, 0))
    with pytest.raises(ValueError, match='detach_stages'):
        ResNet(depth=18, detach_stages=(-1, ))


def _classifier_checkpoint(net, path):
    """An mmengine-like stage-1 checkpoint: backbone and head keys, plus a
    message hub holding a HistoryBuffer."""
    from mmengine.logging import HistoryBuffer
    state_dict = {f'backbone.{k}': v for k, v in net.state_dict().items()
                  if not k.startswith('fc.')}
    state_dict['head.classifier.weight'] = torch.randn(20, 512, 1, 1)
    buffer = HistoryBuffer()
    buffer.update(0.5)
    torch.save(dict(meta=dict(epoch=5), state_dict=state_dict,
                    message_hub=dict(log_scalars=dict(loss=buffer))), path)


def test_pretrained_prefix_loads_classifier_backbone(tmp_path):
    net = _random_torchvision_resnet18()
    path = str(tmp_path / 'cam_r18.pth')
    _classifier_checkpoint(net, path)

    model = MODELS.build(dict(
        type='ResNet', depth=18, strides=(1, 2, 2, 2),
        init_cfg=dict(type='Pretrained', checkpoint=path,
                      prefix='backbone.')))
    model.init_weights()
    model.eval()
    x = torch.randn(1, 3, 40, 48)
    with torch.no_grad():
        assert torch.equal(model(x)[0], _torchvision_features(net, x))

    with pytest.raises(KeyError, match=r"cam_r18\.pth.*prefix 'model\.'"):
        ResNet(depth=18).load_torchvision_checkpoint(path, prefix='model.')
    with pytest.raises(KeyError, match=r'cam_r18\.pth.*backbone\.conv1'):
        ResNet(depth=18).load_torchvision_checkpoint(path)


# ResNetV1d (ResNet-D): deep stem, average-pool shortcuts, multi-grid.

MMCLS_BLOCKS = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}


def _mmcls_resnetv1d_shapes(depth):
    """Key -> shape of an mmcls ResNetV1d ImageNet checkpoint, written from
    mmcls's layout: ConvModule stem, blocks conv1..3/bn1..3, shortcut
    ``downsample.{0,1}`` without pool and ``.{1,2}`` after the pool."""
    shapes = {}

    def add_bn(name, channels):
        for param in ('weight', 'bias', 'running_mean', 'running_var'):
            shapes[f'{name}.{param}'] = (channels, )
        shapes[f'{name}.num_batches_tracked'] = ()

    stem = ((3, 32), (32, 32), (32, 64))
    for i, (cin, cout) in enumerate(stem):
        shapes[f'stem.{i}.conv.weight'] = (cout, cin, 3, 3)
        add_bn(f'stem.{i}.bn', cout)
    expansion = 4 if depth >= 50 else 1
    cin = 64
    for stage, num_blocks in enumerate(MMCLS_BLOCKS[depth]):
        width = 64 * 2**stage
        cout = width * expansion
        for block in range(num_blocks):
            name = f'layer{stage + 1}.{block}'
            if expansion == 4:
                convs = ((cin, width, 1), (width, width, 3),
                         (width, cout, 1))
            else:
                convs = ((cin, width, 3), (width, cout, 3))
            for j, (i_ch, o_ch, k) in enumerate(convs, 1):
                shapes[f'{name}.conv{j}.weight'] = (o_ch, i_ch, k, k)
                add_bn(f'{name}.bn{j}', o_ch)
            imagenet_stride = 2 if stage > 0 and block == 0 else 1
            if block == 0 and (imagenet_stride != 1 or cin != cout):
                first = 1 if imagenet_stride != 1 else 0
                shapes[f'{name}.downsample.{first}.weight'] = (cout, cin, 1,
                                                               1)
                add_bn(f'{name}.downsample.{first + 1}', cout)
            cin = cout
    return shapes


def _mmcls_checkpoint(depth, path):
    torch.manual_seed(depth)
    state_dict = {}
    for key, shape in _mmcls_resnetv1d_shapes(depth).items():
        if key.endswith('num_batches_tracked'):
            value = torch.tensor(7)
        elif key.endswith('running_var'):
            value = torch.rand(shape) + 0.5
        else:
            value = torch.randn(shape)
        state_dict[f'backbone.{key}'] = value
    final_channels = 512 * (4 if depth >= 50 else 1)
    state_dict['head.fc.weight'] = torch.randn(1000, final_channels)
    state_dict['head.fc.bias'] = torch.randn(1000)
    torch.save(dict(meta=dict(epoch=100), state_dict=state_dict), path)
    return state_dict


@pytest.mark.parametrize('depth,strides,dilations,multi_grid', [
    (18, (1, 2, 2, 2), (1, 1, 1, 1), None),
    (50, (1, 2, 2, 1), (1, 1, 1, 2), (1, 2, 4)),
    (50, (1, 2, 1, 1), (1, 1, 2, 4), None),
])
def test_resnetv1d_loads_mmcls_checkpoint_strictly(tmp_path, depth, strides,
                                                   dilations, multi_grid):
    path = str(tmp_path / f'resnetv1d{depth}_mmcls.pth')
    reference = _mmcls_checkpoint(depth, path)
    model = MODELS.build(dict(
        type='ResNetV1d', depth=depth, strides=strides, dilations=dilations,
        multi_grid=multi_grid,
        init_cfg=dict(type='Pretrained', checkpoint=path,
                      prefix='backbone.')))
    model.init_weights()
    loaded = model.state_dict()
    expected = {k[len('backbone.'):]: v for k, v in reference.items()
                if k.startswith('backbone.')}
    assert set(loaded) == set(expected)
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key


def test_resnetv1d_wrong_checkpoints_name_the_file(tmp_path):
    path = str(tmp_path / 'r18.pth')
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    model = MODELS.build(dict(type='ResNetV1d', depth=18))
    with pytest.raises(ValueError, match=r'r18\.pth.*layer2\.0\.downsample'):
        model.load_torchvision_checkpoint(path)

    path = str(tmp_path / 'v1d18.pth')
    state_dict = _mmcls_checkpoint(18, path)
    del state_dict['backbone.stem.1.conv.weight']
    torch.save(state_dict, path)
    with pytest.raises(KeyError, match=r'v1d18\.pth.*mmcls ResNetV1d-18.*'
                       r'stem\.1\.conv\.weight'):
        model.load_torchvision_checkpoint(path, prefix='backbone.')


def test_resnetv1d_os16_multi_grid_shapes_and_dilations():
    model = MODELS.build(dict(
        type='ResNetV1d', depth=18, strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2), multi_grid=(1, 2), out_indices=(-1, 0, 3)))
    model.eval()
    assert model.out_channels == (64, 64, 512)
    x = torch.randn(1, 3, 50, 37)
    with torch.no_grad():
        stem, layer1, layer4 = model(x)
    assert stem.shape == (1, 64, 13, 10)
    assert layer1.shape == (1, 64, 13, 10)
    assert layer4.shape == (1, 512, _ceil_div(50, 16), _ceil_div(37, 16))
    assert [block.conv1.dilation for block in model.layer4] == [(2, 2),
                                                                 (4, 4)]
    assert [block.conv2.padding for block in model.layer4] == [(2, 2),
                                                               (4, 4)]
    assert all(block.conv2.dilation == (1, 1) for block in model.layer3)

    model = ResNetV1d(depth=50, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2),
                      multi_grid=(1, 2, 4))
    assert [block.conv2.dilation for block in model.layer4] == [(2, 2),
                                                                (4, 4),
                                                                (8, 8)]
    assert model.layer4[0].conv2.stride == (1, 1)
    assert isinstance(model.layer4[0].downsample[0], torch.nn.Identity)
    assert model.layer4[0].downsample[1].stride == (1, 1)
    assert model.layer3[0].conv2.stride == (2, 2)
    assert isinstance(model.layer3[0].downsample[0], torch.nn.AvgPool2d)
    assert model.layer3[0].downsample[1].stride == (1, 1)
    assert len(model.layer1[0].downsample) == 2

    with pytest.raises(ValueError, match=r'multi_grid=\(1, 2, 4\).*\(2\)'):
        ResNetV1d(depth=18, multi_grid=(1, 2, 4))


def _loop_avg_pool_ceil(x, size):
    """Average over the valid pixels of each size x size window, windows
    starting every ``size`` pixels (the last one may be partial)."""
    batch, channels, height, width = x.shape
    out_h, out_w = _ceil_div(height, size), _ceil_div(width, size)
    out = torch.zeros(batch, channels, out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * size:(i + 1) * size, j * size:(j + 1) * size]
            out[:, :, i, j] = window.mean(dim=(2, 3))
    return out


def test_resnetv1d_stem_and_average_pool_shortcut_values():
    torch.manual_seed(0)
    model = ResNetV1d(depth=18, out_indices=(-1, )).eval()
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 21, 19)
    with torch.no_grad():
        expected = x
        for i, stride in enumerate((2, 1, 1)):
            conv, bn = model.stem[i].conv, model.stem[i].bn
            expected = torch.relu(F.batch_norm(
                F.conv2d(expected, conv.weight, stride=stride, padding=1),
                bn.running_mean, bn.running_var, bn.weight, bn.bias,
                eps=bn.eps))
        expected = F.max_pool2d(expected, 3, 2, 1)
        torch.testing.assert_close(model(x)[0], expected)

        feature = torch.randn(2, 64, 7, 5)  # odd: partial last windows
        _, conv, bn = model.layer2[0].downsample
        shortcut = F.batch_norm(
            F.conv2d(_loop_avg_pool_ceil(feature, 2), conv.weight),
            bn.running_mean, bn.running_var, bn.weight, bn.bias, eps=bn.eps)
        torch.testing.assert_close(model.layer2[0].downsample(feature),
                                   shortcut)
        assert model.layer2(feature).shape == (2, 128, 4, 3)


def test_resnetv1d_deep_stem_freezing_and_norm_eval():
    model = ResNetV1d(depth=18, frozen_stages=1).train()
    assert not hasattr(model, 'conv1')
    frozen = [model.stem, model.layer1]
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules())
    assert model.layer2.training
    model(torch.randn(2, 3, 32, 32))[0].sum().backward()
    assert all(p.grad is None for m in frozen for p in m.parameters())
    assert all(p.grad is not None for p in model.layer2.parameters())

    model = ResNetV1d(depth=18, frozen_stages=0).train()
    assert all(not p.requires_grad for p in model.stem.parameters())
    assert all(p.requires_grad for p in model.layer1.parameters())

    model = ResNetV1d(depth=18, norm_eval=True).train()
    stem_bns = [m for m in model.stem.modules() if isinstance(m, _BatchNorm)]
    assert len(stem_bns) == 3 and all(not m.training for m in stem_bns)
    before = stem_bns[0].running_mean.clone()
    model(torch.randn(2, 3, 32, 32) * 3 + 1)
    assert torch.equal(stem_bns[0].running_mean, before)
