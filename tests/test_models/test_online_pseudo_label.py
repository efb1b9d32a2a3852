"""par_pseudo_labels: the two-threshold labelling of KTSE."""
import pytest
import torch
import torch.nn as nn

from wsstool.models.refiners import PAR
from wsstool.models.utils.online_pseudo_label import par_pseudo_labels

IGNORE = 255


class Recorder(nn.Module):
    """Identity refiner that keeps its inputs."""

    def forward(self, images, masks):
        self.images, self.masks = images, masks
        return masks


def _hand_made_batch():
    """Raw CAMs (2, 3, 2, 4) at the image size, labels and the expected
    pseudo labels (max-normalised values in the comments)."""
    cam = torch.zeros(2, 3, 2, 4)
    # image 0: classes 0 and 2; the absent class 1 is strong everywhere
    cam[0, 0] = torch.tensor([[2.0, 1.0, 0.5, 0.1],    # 1, .5, .25, .05
                              [-1.0, 0.44, 0.7, 0.0]])  # -.5, .22, .35, 0
    cam[0, 1] = 5.0
    cam[0, 2] = torch.tensor([[0.0, 0.8, 0.1, 0.0],
                              [0.1, 0.2, 0.3, 1.0]])
    # image 1: class 1 only
    cam[1, 0] = cam[1, 2] = 9.0
    cam[1, 1] = torch.tensor([[1.0, 0.2, 0.1, 0.0],
                              [0.5, 0.5, 0.5, 0.5]])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    expected = torch.tensor([
        [[1, 3, IGNORE, 0], [0, IGNORE, 1, 3]],
        [[2, IGNORE, 0, 0], [2, 2, 2, 2]],
    ])
    return cam, labels, expected


def test_thresholds_decide_class_ignore_and_background():
    cam, labels, expected = _hand_made_batch()
    images = torch.rand(2, 3, 2, 4)
    out = par_pseudo_labels(cam, labels, images, PAR(num_iter=0), scale=1.0)
    assert out.dtype == torch.int64
    torch.testing.assert_close(out, expected)


def test_thresholds_and_ignore_index_are_options():
    cam, labels, _ = _hand_made_batch()
    out = par_pseudo_labels(cam, labels, torch.rand(2, 3, 2, 4),
                            PAR(num_iter=0), high_bg=0.2, low_bg=0.04,
                            scale=1.0, ignore_index=-1)
    # (0, 2): 0.25 > 0.2 is class 0 now; (0, 3): 0.05 > 0.04 is uncertain
    assert out[0, 0].tolist() == [1, 3, 1, -1]


def test_refiner_gets_half_resolution_softmax_of_present_classes():
    cam = torch.randn(2, 4, 5, 6)
    labels = torch.tensor([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    images = torch.rand(2, 3, 20, 24)
    recorder = Recorder()
    out = par_pseudo_labels(cam, labels, images, recorder)
    assert out.shape == (2, 20, 24)
    # the last call refined image 1: background + its one class, both stacks
    assert recorder.images.shape == (2, 3, 10, 12)
    assert recorder.masks.shape == (2, 2, 10, 12)
    torch.testing.assert_close(recorder.masks.sum(1), torch.ones(2, 10, 12))
    # the high stack has the larger background probability everywhere
    assert (recorder.masks[0, 0] > recorder.masks[1, 0]).all()
    assert set(out[0].unique().tolist()) <= {0, 2, 4, IGNORE}
    assert set(out[1].unique().tolist()) <= {0, 1, IGNORE}


def test_image_without_classes_is_background():
    out = par_pseudo_labels(torch.randn(1, 3, 4, 4), torch.zeros(1, 3),
                            torch.rand(1, 3, 8, 8), PAR(num_iter=2))
    assert (out == 0).all()


@pytest.mark.parametrize('labels_shape,scale', [((2, 4), 0.5), ((2, 3), 0)])
def test_rejects_bad_input(labels_shape, scale):
    with pytest.raises(ValueError, match='par_pseudo_labels'):
        par_pseudo_labels(torch.rand(2, 3, 4, 4), torch.ones(labels_shape),
                          torch.rand(2, 3, 8, 8), PAR(), scale=scale)
