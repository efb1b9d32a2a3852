import pytest
import torch

from wsstool.models.utils.negative_mining import mine_disjoint_negatives

LABELS = torch.tensor([
    [1., 0., 0., 0.],  # 0: disjoint from 2, 3, 4
    [1., 1., 0., 0.],  # 1: disjoint from 3, 4
    [0., 1., 0., 0.],  # 2: disjoint from 0, 3, 4
    [0., 0., 1., 1.],  # 3: disjoint from 0, 1, 2, 4
    [0., 0., 0., 0.],  # 4: no classes, disjoint from every other sample
])


def disjoint_partners(labels):
    """Explicit-loop reference: the valid negatives of every anchor."""
    partners = []
    for i in range(len(labels)):
        valid = set()
        for j in range(len(labels)):
            shared = any(labels[i, c] > 0 and labels[j, c] > 0
                         for c in range(labels.shape[1]))
            if j != i and not shared:
                valid.add(j)
        partners.append(valid)
    return partners


def test_negatives_share_no_class_and_every_valid_one_is_reachable():
    expected = disjoint_partners(LABELS)
    assert expected == [{2, 3, 4}, {3, 4}, {0, 3, 4}, {0, 1, 2, 4},
                        {0, 1, 2, 3}]
    gen = torch.Generator().manual_seed(0)
    seen = [set() for _ in LABELS]
    for _ in range(200):
        negatives = mine_disjoint_negatives(LABELS, gen)
        assert negatives.dtype == torch.int64 and negatives.shape == (5, )
        for i, j in enumerate(negatives.tolist()):
            assert j in expected[i]
            seen[i].add(j)
    assert seen == expected


def test_negatives_are_uniform_over_the_valid_ones():
    gen = torch.Generator().manual_seed(1)
    draws = torch.stack(
        [mine_disjoint_negatives(LABELS, gen) for _ in range(3000)])
    for i, valid in enumerate(disjoint_partners(LABELS)):
        for j in valid:
            frequency = (draws[:, i] == j).float().mean().item()
            assert abs(frequency - 1 / len(valid)) < 0.04


def test_minus_one_when_no_disjoint_sample_exists():
    labels = torch.tensor([[1., 1., 1.], [1., 0., 0.], [0., 1., 1.],
                           [0., 0., 1.]])
    # 0 overlaps every sample; 1 is disjoint from 2 and 3, which are
    # disjoint only from 1
    for seed in range(5):
        negatives = mine_disjoint_negatives(
            labels, torch.Generator().manual_seed(seed))
        assert negatives[0] == -1
        assert negatives[1] in (2, 3)
        assert negatives[2:].tolist() == [1, 1]
    # a sample is never its own negative, not even without classes
    assert mine_disjoint_negatives(torch.zeros(1, 3)).tolist() == [-1]
    assert mine_disjoint_negatives(torch.ones(3, 2)).tolist() == [-1, -1, -1]


def test_rejects_labels_that_are_not_two_dimensional():
    with pytest.raises(ValueError, match='labels'):
        mine_disjoint_negatives(torch.ones(4))
