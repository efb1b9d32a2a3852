"""load_model_weights reads wsstool checkpoints and reference layouts whose
keys carry no module prefix, with errors that name the file."""
import pytest
import torch
from mmengine.registry import init_default_scope

from wsstool.apis import load_model_weights
from wsstool.registry import MODELS


def _model(num_classes: int = 3):
    init_default_scope('wsstool')
    return MODELS.build(
        dict(type='CAMClassifier',
             backbone=dict(type='ResNet', depth=18),
             head=dict(type='GPPCAMHead', in_channels=512, mid_channels=8,
                       num_classes=num_classes, with_background=True)))


def _strip_prefixes(state_dict: dict) -> dict:
    """The state dict as a reference implementation saves it: no
    ``backbone.``/``head.``/``head.pooling.`` prefixes."""
    stripped = {}
    for key, value in state_dict.items():
        for prefix in ('head.pooling.', 'backbone.', 'head.'):
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        stripped[key] = value
    return stripped


@pytest.mark.parametrize('layout', ['wsstool', 'reference'])
def test_both_layouts_load_strictly(tmp_path, layout):
    torch.manual_seed(0)
    source = _model()
    state_dict = source.state_dict()
    if layout == 'reference':
        state_dict = _strip_prefixes(state_dict)
        assert 'fc9.weight' in state_dict and 'gconv1.att_p.0.weight' in (
            state_dict)
        torch.save(state_dict, tmp_path / 'ckpt.pth')
    else:
        torch.save({'state_dict': state_dict}, tmp_path / 'ckpt.pth')
    torch.manual_seed(1)
    target = _model()
    load_model_weights(target, str(tmp_path / 'ckpt.pth'))
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value)


def test_class_count_mismatch_names_the_file(tmp_path):
    torch.save(_strip_prefixes(_model(3).state_dict()),
               tmp_path / 'other.pth')
    with pytest.raises(ValueError, match='other.pth'):
        load_model_weights(_model(4), str(tmp_path / 'other.pth'))
