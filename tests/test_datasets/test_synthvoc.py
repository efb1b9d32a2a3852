import filecmp
import json
import os
import os.path as osp
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from wsstool.datasets import synthvoc
from wsstool.datasets.synthvoc import (CLASS_SPECS, SynthVOCDataset,
                                       SynthVOCParams, generate_synthvoc,
                                       prepare_synthvoc)
from wsstool.registry import DATASETS
from tests.tool_loader import load_tool

TINY = dict(num_train_aug=30, num_train=8, num_val=10, image_size=96)
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthvoc') / 'tiny')
    generate_synthvoc(root, SynthVOCParams(**TINY))
    return root


def read_ids(root, split):
    path = osp.join(root, 'ImageSets', 'Segmentation', f'{split}.txt')
    with open(path) as f:
        return f.read().split()


def read_png(root, folder, img_id):
    return np.asarray(Image.open(osp.join(root, folder, f'{img_id}.png')))


def xml_objects(root, img_id):
    tree = ET.parse(osp.join(root, 'Annotations', f'{img_id}.xml'))
    return tree.getroot(), tree.findall('object')


def all_ids(root):
    return sorted(read_ids(root, 'train_aug') + read_ids(root, 'val'))


def list_files(root):
    return sorted(
        osp.relpath(osp.join(d, f), root)
        for d, _, files in os.walk(root) for f in files)


def test_generation_is_deterministic(tmp_path, tiny_root):
    again = str(tmp_path / 'again')
    generate_synthvoc(again, SynthVOCParams(**TINY))
    files = list_files(tiny_root)
    assert files == list_files(again)
    match, mismatch, errors = filecmp.cmpfiles(
        tiny_root, again, files, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(files)

    other = str(tmp_path / 'other')
    generate_synthvoc(other, SynthVOCParams(**dict(TINY, seed=1)))
    first = '2026_000001.jpg'
    assert not filecmp.cmp(
        osp.join(tiny_root, 'JPEGImages', first),
        osp.join(other, 'JPEGImages', first), shallow=False)


def test_layout_and_splits(tiny_root):
    train, train_aug, val = (read_ids(tiny_root, s)
                             for s in ('train', 'train_aug', 'val'))
    assert (len(train), len(train_aug), len(val)) == (8, 30, 10)
    assert set(train) <= set(train_aug)
    assert not set(val) & set(train_aug)
    ids = sorted(train_aug + val)
    assert all(re.fullmatch(r'2026_\d{6}', i) for i in ids)
    assert len(set(ids)) == 40 and train == sorted(train)

    def stems(folder, suffix):
        names = os.listdir(osp.join(tiny_root, folder))
        assert all(n.endswith(suffix) for n in names)
        return sorted(n[:-len(suffix)] for n in names)

    assert stems('JPEGImages', '.jpg') == ids
    assert stems('Annotations', '.xml') == ids
    assert stems('SegmentationClassAug', '.png') == ids
    assert stems('SegmentationPart', '.png') == ids
    assert stems('SegmentationClass', '.png') == sorted(train + val)

    meta = json.load(open(osp.join(tiny_root, 'synthvoc.json')))
    assert meta['format_version'] == synthvoc.FORMAT_VERSION
    assert meta['params'] == SynthVOCParams(**TINY).to_dict()
    assert meta['classes'][0] == 'background' and len(meta['classes']) == 9
    assert meta['palette'][:3] == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
    assert meta['splits'] == dict(train=8, train_aug=30, val=10)

    for img_id in train[:3]:
        image = Image.open(osp.join(tiny_root, 'JPEGImages',
                                    f'{img_id}.jpg'))
        official = Image.open(osp.join(tiny_root, 'SegmentationClass',
                                       f'{img_id}.png'))
        aug = Image.open(osp.join(tiny_root, 'SegmentationClassAug',
                                  f'{img_id}.png'))
        assert image.mode == 'RGB' and max(image.size) == 96
        assert min(image.size) >= 72
        assert (official.mode, aug.mode) == ('P', 'L')
        assert official.size == aug.size == image.size
        assert official.getpalette()[3:6] == [128, 0, 0]
        assert official.getpalette()[255 * 3:256 * 3] == [224, 224, 192]
        np.testing.assert_array_equal(np.asarray(official), np.asarray(aug))
        root, _ = xml_objects(tiny_root, img_id)
        assert (int(root.find('size/width').text),
                int(root.find('size/height').text)) == image.size


def test_labels_agree_with_masks_and_xml(tiny_root):
    cls_labels = np.load(
        osp.join(tiny_root, 'cls_labels.npy'), allow_pickle=True).item()
    ids = all_ids(tiny_root)
    assert sorted(cls_labels) == ids
    names = [spec.name for spec in CLASS_SPECS[:8]]
    for img_id in ids:
        label = cls_labels[img_id]
        assert label.dtype == np.float32 and label.shape == (8, )
        assert set(np.unique(label)) <= {0.0, 1.0} and label.sum() >= 1
        present = set(np.flatnonzero(label) + 1)
        seg = read_png(tiny_root, 'SegmentationClassAug', img_id)
        assert set(np.unique(seg)) - {0, 255} == present
        _, objects = xml_objects(tiny_root, img_id)
        assert {names.index(o.find('name').text) + 1
                for o in objects} == present
        for obj in objects:
            xmin, ymin, xmax, ymax = (int(obj.find(f'bndbox/{k}').text)
                                      for k in ('xmin', 'ymin', 'xmax',
                                                'ymax'))
            assert 1 <= xmin <= xmax <= seg.shape[1]
            assert 1 <= ymin <= ymax <= seg.shape[0]
            cls = names.index(obj.find('name').text) + 1
            assert (seg[ymin - 1:ymax, xmin - 1:xmax] == cls).any()


def test_void_band_separates_regions(tiny_root, tmp_path):
    void_fractions = []
    for img_id in all_ids(tiny_root):
        seg = read_png(tiny_root, 'SegmentationClassAug', img_id)
        void_fractions.append((seg == 255).mean())
        for a, b in ((seg[1:], seg[:-1]), (seg[:, 1:], seg[:, :-1])):
            touching = (a != 255) & (b != 255)
            assert (a[touching] == b[touching]).all()
    assert 0 < np.mean(void_fractions) < 0.1

    root = str(tmp_path / 'novoid')
    generate_synthvoc(root, SynthVOCParams(
        **dict(TINY, num_train_aug=4, num_train=2, num_val=0,
               void_width=0)))
    for img_id in all_ids(root):
        assert 255 not in read_png(root, 'SegmentationClassAug', img_id)


def object_colour_stats(root):
    """Per class present with a visible part in an image: (mean, std) RGB of
    its parts and of the rest of its objects, its class id, and the
    fraction of its area that is part."""
    parts, bodies, labels, fractions = [], [], [], []
    for img_id in all_ids(root):
        img = np.asarray(Image.open(
            osp.join(root, 'JPEGImages', f'{img_id}.jpg')), np.float32)
        seg = read_png(root, 'SegmentationClassAug', img_id)
        part_map = read_png(root, 'SegmentationPart', img_id)
        assert ((part_map == 0) | (seg == part_map) | (seg == 255)).all()
        for cls in set(np.unique(part_map)) - {0}:
            part, body = part_map == cls, (seg == cls) & (part_map == 0)
            fractions.append(part.sum() / (part.sum() + body.sum()))
            if part.sum() >= 3 and body.sum() >= 3:
                parts.append(np.r_[img[part].mean(0), img[part].std(0)])
                bodies.append(np.r_[img[body].mean(0), img[body].std(0)])
                labels.append(cls)
    return np.array(parts), np.array(bodies), np.array(labels), fractions


def leave_one_out_accuracy(features, labels):
    """Nearest-class-centroid accuracy, each sample left out of the
    centroids it is classified with."""
    correct = 0
    for k in range(len(labels)):
        keep = np.arange(len(labels)) != k
        classes = sorted(set(labels[keep]))
        centroids = np.array(
            [features[keep][labels[keep] == c].mean(0) for c in classes])
        nearest = np.argmin(((centroids - features[k])**2).sum(1))
        correct += classes[nearest] == labels[k]
    return correct / len(labels)


def test_partial_activation_part_is_small_and_alone_discriminative(
        tiny_root):
    parts, bodies, labels, fractions = object_colour_stats(tiny_root)
    assert 0.05 < np.median(fractions) < 0.25 and max(fractions) < 0.5
    assert len(labels) >= 30
    # The small part identifies the class; the large body does not.
    assert leave_one_out_accuracy(parts, labels) >= 0.85
    assert leave_one_out_accuracy(bodies, labels) <= 0.4


def context_rate(root):
    """Fraction of (image, class with a context scene) pairs whose image
    shows that scene."""
    meta = json.load(open(osp.join(root, 'synthvoc.json')))
    hits = [
        info['scene'] == meta['class_scenes'][name]
        for info in meta['images'].values()
        for name in {obj['name'] for obj in info['objects']}
        if meta['class_scenes'][name] is not None
    ]
    return np.mean(hits), meta


def test_cooccurrence_with_context_scene(tiny_root, tmp_path):
    rate, meta = context_rate(tiny_root)
    assert rate >= 0.7
    # The recorded scene is what the image shows: background pixels of one
    # scene look alike and unlike the other scenes.
    features, scenes = [], []
    for img_id, info in meta['images'].items():
        img = np.asarray(Image.open(
            osp.join(tiny_root, 'JPEGImages', f'{img_id}.jpg')), np.float32)
        background = read_png(tiny_root, 'SegmentationClassAug', img_id) == 0
        features.append(np.r_[img[background].mean(0),
                              img[background].std(0)])
        scenes.append(synthvoc.SCENES.index(info['scene']))
    assert leave_one_out_accuracy(np.array(features), np.array(scenes)) > 0.85

    root = str(tmp_path / 'nocontext')
    generate_synthvoc(root, SynthVOCParams(**dict(TINY, cooccurrence_prob=0)))
    assert context_rate(root)[0] < 0.4


def test_parts_hidden_only_on_context_scene(tiny_root, tmp_path):
    meta = json.load(open(osp.join(tiny_root, 'synthvoc.json')))
    hidden = [(obj['name'], info['scene'])
              for info in meta['images'].values()
              for obj in info['objects'] if obj['part_area'] == 0]
    assert len(hidden) >= 2
    assert all(meta['class_scenes'][name] == scene
               for name, scene in hidden)

    root = str(tmp_path / 'visible')
    generate_synthvoc(root, SynthVOCParams(
        **dict(TINY, num_train_aug=10, num_train=2, num_val=0,
               cooccurrence_prob=1, hidden_part_prob=0)))
    meta = json.load(open(osp.join(root, 'synthvoc.json')))
    assert all(obj['part_area'] > 0 for info in meta['images'].values()
               for obj in info['objects'])


def test_several_objects_scales_and_occlusion(tiny_root):
    objects_per_image, classes_per_image, occluded, areas = [], [], 0, []
    for img_id in all_ids(tiny_root):
        _, objects = xml_objects(tiny_root, img_id)
        objects_per_image.append(len(objects))
        classes_per_image.append(len({o.find('name').text for o in objects}))
        occluded += sum(o.find('occluded').text == '1' for o in objects)
        seg = read_png(tiny_root, 'SegmentationClassAug', img_id)
        areas += [(seg == c).mean() for c in set(np.unique(seg)) - {0, 255}]
    assert min(objects_per_image) >= 1 and max(objects_per_image) == 3
    assert np.mean(np.array(objects_per_image) > 1) >= 0.3
    assert np.mean(np.array(classes_per_image) > 1) >= 0.2
    assert occluded >= 3
    assert max(areas) / min(areas) >= 4


def test_params_validation():
    with pytest.raises(KeyError, match='num_imgs'):
        SynthVOCParams.from_cfg(dict(num_imgs=3))
    with pytest.raises(ValueError, match='num_train=9'):
        SynthVOCParams(num_train_aug=8, num_train=9)
    with pytest.raises(ValueError, match='num_classes'):
        SynthVOCParams(num_classes=len(CLASS_SPECS) + 1)
    with pytest.raises(ValueError, match='num_objects_probs'):
        SynthVOCParams(num_objects_probs=[0.5, 0.2])
    params = SynthVOCParams.from_cfg(dict(object_scale=[0.2, 0.4]))
    assert params.object_scale == (0.2, 0.4)
    assert params.to_dict()['object_scale'] == [0.2, 0.4]


def test_dataset_generates_on_first_use(tmp_path):
    root = str(tmp_path / 'data' / 'synthvoc')
    cfg = dict(num_train_aug=6, num_train=3, num_val=2, image_size=48,
               num_classes=3)
    dataset = DATASETS.build(
        dict(type='SynthVOCDataset', data_root=root,
             ann_file='ImageSets/Segmentation/train.txt',
             generator_cfg=cfg, cls_label_file='cls_labels.npy',
             data_prefix=dict(img_path='JPEGImages',
                              seg_map_path='SegmentationClass')))
    assert isinstance(dataset, SynthVOCDataset)
    assert dataset.metainfo['classes'] == ('background', 'aeroplane',
                                           'boat', 'car')
    assert [tuple(c) for c in dataset.metainfo['palette']] == [
        (0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)]
    assert len(dataset) == 3
    assert [dataset[i]['img_id'] for i in range(3)] == read_ids(root, 'train')
    cls_labels = np.load(osp.join(root, 'cls_labels.npy'),
                         allow_pickle=True).item()
    for i in range(3):
        info = dataset.get_data_info(i)
        np.testing.assert_array_equal(info['gt_label'],
                                      cls_labels[info['img_id']])
        assert osp.isfile(info['img_path']) and osp.isfile(
            info['seg_map_path'])
    assert sorted(os.listdir(tmp_path / 'data')) == ['synthvoc']

    # Reused as is, without regenerating.
    stamp = os.stat(osp.join(root, 'synthvoc.json')).st_mtime_ns
    val = SynthVOCDataset(root, 'ImageSets/Segmentation/val.txt',
                          generator_cfg=cfg)
    assert len(val) == 2
    assert os.stat(osp.join(root, 'synthvoc.json')).st_mtime_ns == stamp

    with pytest.raises(ValueError) as error:
        SynthVOCDataset(root, 'ImageSets/Segmentation/val.txt',
                        generator_cfg=dict(cfg, seed=7, image_size=64))
    message = str(error.value)
    assert osp.join(root, 'synthvoc.json') in message
    assert 'image_size' in message and 'seed' in message
    assert 'num_val' not in message


def test_dataset_missing_or_foreign_root(tmp_path):
    missing = str(tmp_path / 'missing')
    with pytest.raises(FileNotFoundError, match='synthvoc.json'):
        SynthVOCDataset(missing, 'ImageSets/Segmentation/val.txt',
                        generate=False)
    assert not osp.exists(missing)

    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='not an empty directory'):
        SynthVOCDataset(str(foreign), 'ImageSets/Segmentation/val.txt')


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    render = synthvoc.render_synthvoc_image
    calls = []

    def failing_render(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return render(*args)

    monkeypatch.setattr(synthvoc, 'render_synthvoc_image', failing_render)
    with pytest.raises(KeyboardInterrupt):
        generate_synthvoc(str(tmp_path / 'synthvoc'),
                          SynthVOCParams(**TINY))
    assert os.listdir(tmp_path) == []


def test_only_rank_zero_generates(tmp_path, monkeypatch):
    events = []
    monkeypatch.setattr(synthvoc, 'get_rank', lambda: 1)
    monkeypatch.setattr(synthvoc, 'barrier', lambda: events.append('barrier'))
    params = SynthVOCParams(**dict(TINY, num_train_aug=2, num_train=1,
                                   num_val=1))
    root = str(tmp_path / 'synthvoc')
    # Rank 1 does not generate; after the barrier it finds nothing.
    with pytest.raises(FileNotFoundError):
        prepare_synthvoc(root, params)
    assert events == ['barrier'] and not osp.exists(root)

    generate_synthvoc(root, params)  # what rank 0 would have done
    assert prepare_synthvoc(root, params)['splits']['val'] == 1
    assert events == ['barrier', 'barrier']


def test_make_synthvoc_tool(tmp_path, capsys):
    tool = load_tool('make_synthvoc')
    out = str(tmp_path / 'synthvoc')
    tool.main(['--out', out, '--num-train-aug', '6', '--num-train', '2',
               '--num-val', '3', '--size', '48', '--seed', '5',
               '--object-scale', '0.4', '0.6'])
    printed = capsys.readouterr().out
    assert 'splits: train 2, train_aug 6, val 3' in printed
    assert 'aeroplane (sky)' in printed
    meta = json.load(open(osp.join(out, 'synthvoc.json')))
    assert meta['params'] == SynthVOCParams(
        num_train_aug=6, num_train=2, num_val=3, image_size=48, seed=5,
        object_scale=(0.4, 0.6)).to_dict()


def test_unplaceable_objects_raise_and_leave_nothing(tmp_path):
    params = SynthVOCParams(num_train_aug=1, num_train=0, num_val=0,
                            image_size=32, object_scale=(0.1, 0.1),
                            void_width=8)
    with pytest.raises(RuntimeError, match='could not place an object'):
        generate_synthvoc(str(tmp_path / 'synthvoc'), params)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('key,value', [('seed', '1'),
                                       ('cooccurrence_prob', 'high'),
                                       ('num_classes', 2.0),
                                       ('object_scale', ('a', 'b'))])
def test_wrongly_typed_parameters_name_the_key(key, value):
    with pytest.raises(ValueError, match=f'SynthVOC parameter {key}='):
        SynthVOCParams.from_cfg({key: value})
