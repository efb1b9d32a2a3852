import numpy as np
import pytest
import torch
from mmengine.dataset import BaseDataset, pseudo_collate
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader

from wsstool.datasets import ClassPairedDataset
from wsstool.datasets.synthvoc import SynthVOCParams, prepare_synthvoc
from wsstool.registry import DATASETS, MODELS
from wsstool.structures import WSSSDataSample

# image -> its classes; image 4 has none
CLASSES = [[0], [0, 1], [1], [2], [], [0, 2]]
NUM_CLASSES = 3
TINY_GENERATOR = dict(
    seed=3, num_train_aug=8, num_train=5, num_val=5, image_size=48,
    num_classes=4)
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)


def pack_index(results):
    """Pack an image filled with the sample's index."""
    sample = WSSSDataSample(metainfo=dict(index=results['index']))
    sample.gt_label = torch.as_tensor(results['gt_label'])
    inputs = torch.full((3, 2, 2), results['index'], dtype=torch.uint8)
    return dict(inputs=inputs, data_samples=sample)


class LabelOnlyDataset(BaseDataset):
    """Images described only by their labels."""
    METAINFO = dict(classes=('background', 'a', 'b', 'c'))

    def __init__(self, classes, num_classes=NUM_CLASSES, **kwargs):
        self.classes, self.num_classes = classes, num_classes
        super().__init__(pipeline=[pack_index], **kwargs)

    def load_data_list(self):
        data_list = []
        for index, classes in enumerate(self.classes):
            label = np.zeros(self.num_classes, np.float32)
            label[classes] = 1
            data_list.append(dict(index=index, gt_label=label))
        return data_list


def partner_probabilities(classes):
    """Explicit-loop reference: P(partner = j | anchor = i)."""
    num = len(classes)
    probs = np.zeros((num, num))
    for i in range(num):
        if not classes[i]:
            probs[i, i] = 1.0
            continue
        for c in classes[i]:
            holders = [j for j in range(num) if c in classes[j]]
            for j in holders:
                probs[i, j] += 1 / len(classes[i]) / len(holders)
    return probs


def test_partners_share_a_class_with_the_expected_frequencies():
    dataset = ClassPairedDataset(LabelOnlyDataset(CLASSES))
    assert len(dataset) == 6
    assert dataset.metainfo == LabelOnlyDataset.METAINFO
    expected = partner_probabilities(CLASSES)
    # e.g. anchor 1 = {0, 1}: class 0 in {0, 1, 5}, class 1 in {1, 2}
    np.testing.assert_allclose(expected[1],
                               [1 / 6, 1 / 6 + 1 / 4, 1 / 4, 0, 0, 1 / 6])
    np.random.seed(0)
    draws = 3000
    for i, classes in enumerate(CLASSES):
        counts = np.zeros(len(CLASSES))
        for _ in range(draws):
            j = dataset.partner_index(i)
            assert not classes or set(classes) & set(CLASSES[j])
            counts[j] += 1
        np.testing.assert_allclose(counts / draws, expected[i], atol=0.04)


def test_pairs_are_reproducible_under_the_numpy_seed():
    dataset = ClassPairedDataset(LabelOnlyDataset(CLASSES))

    def draw(seed):
        np.random.seed(seed)
        return [dataset.partner_index(i % 6) for i in range(60)]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_getitem_returns_anchor_and_partner():
    dataset = DATASETS.build(
        dict(type='ClassPairedDataset', dataset=LabelOnlyDataset(CLASSES)))
    np.random.seed(1)
    for _ in range(20):
        item = dataset[3]
        assert set(item) == {'inputs', 'data_samples', 'partner_inputs',
                             'partner_data_samples'}
        assert item['inputs'].eq(3).all()
        # class 2 is held by images 3 and 5
        partner = item['partner_data_samples'].index
        assert partner in (3, 5)
        assert item['partner_inputs'].eq(partner).all()
        assert item['partner_data_samples'].gt_label[2] == 1
    assert dataset[4]['partner_data_samples'].index == 4
    assert dataset.get_data_info(5)['index'] == 5


def test_lazy_init_and_bad_arguments():
    dataset = ClassPairedDataset(LabelOnlyDataset(CLASSES), lazy_init=True)
    assert not dataset._fully_initialized
    assert len(dataset) == 6 and dataset._fully_initialized
    with pytest.raises(TypeError, match='BaseDataset'):
        ClassPairedDataset([1, 2, 3])

    class RaggedLabels(LabelOnlyDataset):

        def load_data_list(self):
            data_list = super().load_data_list()
            data_list[2]['gt_label'] = np.zeros(5, np.float32)
            return data_list

    with pytest.raises(ValueError, match='gt_label'):
        ClassPairedDataset(RaggedLabels(CLASSES))


@pytest.fixture(scope='module')
def synthvoc_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthvoc') / 'synthvoc')
    prepare_synthvoc(root, SynthVOCParams.from_cfg(TINY_GENERATOR), True)
    return root


def test_data_loader_and_preprocessor_with_partner_keys(synthvoc_root):
    init_default_scope('wsstool')
    crop = (32, 32)
    dataset = DATASETS.build(
        dict(
            type='ClassPairedDataset',
            dataset=dict(
                type='SynthVOCDataset',
                data_root=synthvoc_root,
                ann_file='ImageSets/Segmentation/train_aug.txt',
                generator_cfg=TINY_GENERATOR,
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='RandomCropWithPad', crop_size=crop),
                    dict(type='PackWSSSInputs'),
                ])))
    labels = {
        dataset.get_data_info(i)['img_id']:
        dataset.get_data_info(i)['gt_label']
        for i in range(len(dataset))
    }
    preprocessor = MODELS.build(dict(type='WSSSDataPreprocessor'))
    loader = DataLoader(
        dataset, batch_size=4, shuffle=False, collate_fn=pseudo_collate)
    np.random.seed(0)
    num_batches = 0
    for raw in loader:
        batch = preprocessor(raw, training=True)
        assert batch['inputs'].shape == (4, 3) + crop
        assert batch['partner_inputs'].shape == (4, 3) + crop
        for b in range(4):
            torch.testing.assert_close(
                batch['partner_inputs'][b],
                (raw['partner_inputs'][b].flip(0).float() - MEAN) / STD)
            anchor = batch['data_samples'][b]
            partner = batch['partner_data_samples'][b]
            assert partner.valid_mask.data.shape == (1, ) + crop
            np.testing.assert_array_equal(partner.gt_label.numpy(),
                                          labels[partner.img_id])
            assert (anchor.gt_label * partner.gt_label).sum() > 0
        num_batches += 1
    assert num_batches == 2
