import pytest
import torch

from wsstool.models.utils import check_state_dict_shapes
from wsstool.registry import MODELS


def _classifier(num_classes):
    return MODELS.build(dict(
        type='CAMClassifier',
        backbone=dict(type='ResNet', depth=18),
        head=dict(type='CAMHead', in_channels=512, num_classes=num_classes)))


def test_matching_state_dict_passes():
    model = _classifier(5)
    state_dict = model.state_dict()
    state_dict['unused.key'] = torch.zeros(3)
    check_state_dict_shapes(model, state_dict, 'same.pth')


def test_class_count_mismatch_is_explained():
    checkpoint = _classifier(20).state_dict()
    with pytest.raises(ValueError) as error:
        check_state_dict_shapes(_classifier(5), checkpoint, 'work/voc.pth')
    message = str(error.value)
    assert message.startswith(
        'config has 5 classes, checkpoint work/voc.pth has 20')
    assert "'head.conv_cls.weight'" in message
    assert '(20, 512, 1, 1)' in message and '(5, 512, 1, 1)' in message


def test_other_shape_mismatch_names_key_and_shapes():
    model = _classifier(5)
    state_dict = {'backbone.conv1.weight': torch.zeros(64, 3, 3, 3)}
    with pytest.raises(ValueError) as error:
        check_state_dict_shapes(model, state_dict, 'other.pth')
    message = str(error.value)
    assert 'classes' not in message
    for part in ('other.pth', "'backbone.conv1.weight'", '(64, 3, 3, 3)',
                 '(64, 3, 7, 7)'):
        assert part in message
