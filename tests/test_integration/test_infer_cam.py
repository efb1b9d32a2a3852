"""tools/infer_cam.py: files, formats, resume, 2 processes, bad checkpoint."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from wsstool.apis.pipeline.context import free_port
from wsstool.fileio import load_cam
from wsstool.registry import DATASETS, MODELS

from .conftest import CAM_CONFIG, REPO, as_cli, tiny_overrides


def _infer(args: list[str], nproc: int = 1) -> subprocess.CompletedProcess:
    if nproc == 1:
        command = [sys.executable, 'tools/infer_cam.py', *args]
    else:
        command = [
            sys.executable, '-m', 'torch.distributed.run',
            f'--nproc_per_node={nproc}', f'--master_port={free_port()}',
            'tools/infer_cam.py', *args, '--launcher', 'pytorch'
        ]
    return subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, 'PYTHONPATH': REPO, 'OMP_NUM_THREADS': '1'})


@pytest.fixture(scope='module')
def setup(tiny_synthvoc, tmp_path_factory):
    """A config, its model with random weights saved as a checkpoint."""
    cfg = Config.fromfile(CAM_CONFIG)
    overrides = tiny_overrides(tiny_synthvoc)
    cfg.merge_from_dict(overrides)
    init_default_scope('wsstool')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    checkpoint = str(tmp_path_factory.mktemp('ckpt') / 'model.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return cfg, model, checkpoint, as_cli(overrides)


def test_outputs_match_model_and_resume(setup, tmp_path):
    cfg, model, checkpoint, cli = setup
    out = str(tmp_path / 'cams')
    result = _infer([CAM_CONFIG, checkpoint, '--out', out, '--formats', 'npz',
                     'psa', 'irn', '--overlay-dir', str(tmp_path / 'vis'),
                     '--num-overlays', '2', *cli])
    assert result.returncode == 0, result.stderr[-3000:]
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    ids = [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))]
    assert sorted(os.listdir(out)) == sorted(
        [f'{i}.npz' for i in ids] + ['irn', 'psa'])
    assert len(os.listdir(tmp_path / 'vis')) == 2

    # the same CAMs as the model's own prediction, in every format
    with torch.no_grad():
        expected = model.test_step(pseudo_collate([dataset[0]]))[0].pred_cam
    for path in (f'{out}/{ids[0]}.npz', f'{out}/psa/{ids[0]}.npy',
                 f'{out}/irn/{ids[0]}.npy'):
        keys, cam = load_cam(path)
        np.testing.assert_array_equal(keys, expected.class_ids.numpy())
        np.testing.assert_allclose(cam, expected.cam.numpy(), atol=1e-3)

    # an interrupted run: only missing files are written again
    os.remove(f'{out}/{ids[1]}.npz')
    kept = os.stat(f'{out}/{ids[0]}.npz').st_mtime_ns
    result = _infer([CAM_CONFIG, checkpoint, '--out', out, *cli])
    assert result.returncode == 0, result.stderr[-3000:]
    assert osp.isfile(f'{out}/{ids[1]}.npz')
    assert os.stat(f'{out}/{ids[0]}.npz').st_mtime_ns == kept


def test_split_without_ground_truth(setup, tiny_synthvoc, tmp_path):
    """train_aug images have no label maps; CAM inference does not need
    them (refinement infers the CAMs of train_aug)."""
    _, _, checkpoint, cli = setup
    split = osp.join(tiny_synthvoc, 'ImageSets', 'Segmentation',
                     'train_aug.txt')
    out = tmp_path / 'cams'
    result = _infer([CAM_CONFIG, checkpoint, '--out', str(out), '--split',
                     split, *cli])
    assert result.returncode == 0, result.stderr[-3000:]
    with open(split) as f:
        ids = f.read().split()
    assert sorted(os.listdir(out)) == sorted(f'{i}.npz' for i in ids)


def test_two_processes_write_the_same_cams(setup, tmp_path):
    _, _, checkpoint, cli = setup
    single, double = str(tmp_path / 'one'), str(tmp_path / 'two')
    assert _infer([CAM_CONFIG, checkpoint, '--out', single, '--cam-dtype',
                   'float32', *cli]).returncode == 0
    assert np.load(osp.join(single, os.listdir(single)[0]))[
        'cam'].dtype == np.float32
    result = _infer([CAM_CONFIG, checkpoint, '--out', double, *cli], nproc=2)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(single)) == sorted(os.listdir(double))
    for name in os.listdir(single):
        keys_a, cam_a = load_cam(osp.join(single, name))
        keys_b, cam_b = load_cam(osp.join(double, name))
        np.testing.assert_array_equal(keys_a, keys_b)
        np.testing.assert_allclose(cam_a, cam_b, atol=1e-3)


@pytest.fixture
def six_class_checkpoint(setup, tmp_path) -> str:
    """A checkpoint of the same model with 6 classes instead of 4."""
    other = Config(dict(model=setup[0].model))
    other.model.head.num_classes = 6
    checkpoint = str(tmp_path / 'six_classes.pth')
    torch.save({'state_dict': MODELS.build(other.model).state_dict()},
               checkpoint)
    return checkpoint


def test_class_count_mismatch_names_both(setup, six_class_checkpoint,
                                         tmp_path):
    cli = setup[3]
    result = _infer([CAM_CONFIG, six_class_checkpoint, '--out',
                     str(tmp_path / 'x'), *cli])
    assert result.returncode != 0
    assert 'config has 4 classes' in result.stderr
    assert 'has 6' in result.stderr and 'six_classes.pth' in result.stderr


def test_training_from_a_checkpoint_with_other_classes_fails(
        setup, six_class_checkpoint, tmp_path):
    result = subprocess.run(
        [sys.executable, 'tools/train.py', CAM_CONFIG, '--work-dir',
         str(tmp_path / 'work'), *setup[3],
         f'load_from={six_class_checkpoint}'],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, 'PYTHONPATH': REPO})
    assert result.returncode != 0
    assert 'config has 4 classes' in result.stderr
    assert 'six_classes.pth' in result.stderr
