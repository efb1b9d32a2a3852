import pytest
import torch

from wsstool.models.utils.pseudo_label import scores_to_label


def test_scores_to_label_maps_channels_to_class_ids():
    score = torch.tensor([[[0.25, 0.25, 0.25]], [[0.1, 0.9, 0.3]],
                          [[0.5, 0.2, 0.2]]])
    label = scores_to_label(score, torch.tensor([3, 7]))
    # pixel 0: class 7 (channel 2), pixel 1: class 3, pixel 2: class 3
    assert label.tolist() == [[8, 4, 4]]
    assert label.dtype == torch.int64


def test_scores_to_label_background_only_and_errors():
    score = torch.rand(1, 2, 2)
    assert scores_to_label(score, torch.zeros(0, dtype=torch.long)).eq(
        0).all()
    with pytest.raises(ValueError, match=r'\(K \+ 1, H, W\)'):
        scores_to_label(torch.rand(2, 2, 2), torch.tensor([1, 2]))
