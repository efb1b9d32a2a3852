import pytest
import torch
import torchvision
from torch.nn.modules.batchnorm import _BatchNorm

from wsstool.models.backbones import ResNet
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
