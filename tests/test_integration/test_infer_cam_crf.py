"""tools/infer_cam.py --crf-alphas: files, content, worker count, resume."""
import os
import os.path as osp
import sys

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tests.tool_loader import load_tool
from wsstool.fileio import load_cam
from wsstool.models.refiners import crf_cam_with_alpha
from wsstool.registry import DATASETS, MODELS

from .conftest import CAM_CONFIG, as_cli, tiny_overrides

ALPHAS = ('4', '32')


@pytest.fixture(scope='module')
def setup(tiny_synthvoc, tmp_path_factory):
    """The tiny config's image ids and path, a checkpoint of random weights
    and the --cfg-options."""
    cfg = Config.fromfile(CAM_CONFIG)
    overrides = tiny_overrides(tiny_synthvoc)
    cfg.merge_from_dict(overrides)
    init_default_scope('wsstool')
    torch.manual_seed(0)
    checkpoint = str(tmp_path_factory.mktemp('ckpt') / 'model.pth')
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()},
               checkpoint)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    images = {
        info['img_id']: info['img_path']
        for info in map(dataset.get_data_info, range(len(dataset)))
    }
    return images, checkpoint, as_cli(overrides)


@pytest.fixture
def one_torch_thread():
    """Runs compared for equality share one thread setting; one thread is
    also the fastest for the tiny model on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _args(checkpoint: str, out: str, workers: int, cli: list) -> list:
    return [
        CAM_CONFIG, checkpoint, '--out', out, '--formats', 'npz', 'psa',
        '--crf-alphas', *ALPHAS, '--crf-workers',
        str(workers), *cli
    ]


def _run_in_process(monkeypatch, args: list) -> None:
    monkeypatch.setattr(sys, 'argv', ['infer_cam.py', *args])
    load_tool('infer_cam').main()


def _crf_files(out: str) -> dict:
    """{relative path: content} of every CRF output under ``out``."""
    files = {}
    for alpha in ALPHAS:
        for root, _, names in os.walk(osp.join(out, f'crf_{alpha}')):
            for name in names:
                path = osp.join(root, name)
                if name.endswith('.npz'):
                    with np.load(path) as data:
                        content = {k: data[k] for k in data.files}
                else:
                    content = np.load(path, allow_pickle=True).item()
                files[osp.relpath(path, out)] = content
    return files


def test_crf_outputs_workers_and_resume(setup, tmp_path, monkeypatch,
                                        one_torch_thread):
    images, checkpoint, cli = setup
    two = str(tmp_path / 'two')
    _run_in_process(monkeypatch, _args(checkpoint, two, 2, cli))

    files = _crf_files(two)
    assert sorted(files) == sorted(
        f'crf_{alpha}/{sub}{img_id}.{ext}' for alpha in ALPHAS
        for img_id in images for sub, ext in (('', 'npz'), ('psa/', 'npy')))
    for img_id, img_path in images.items():
        keys, cams = load_cam(osp.join(two, 'psa', f'{img_id}.npy'))
        image = mmcv.imread(img_path, channel_order='rgb')
        for alpha in ALPHAS:
            expected = crf_cam_with_alpha(image, cams, float(alpha))
            npz = files[f'crf_{alpha}/{img_id}.npz']
            np.testing.assert_array_equal(npz['keys'], keys)
            assert npz['prob'].dtype == np.float16
            np.testing.assert_allclose(npz['prob'], expected, atol=1e-3)
            np.testing.assert_allclose(npz['prob'].sum(0), 1, atol=5e-3)
            psa = files[f'crf_{alpha}/psa/{img_id}.npy']
            # PSA's la/ha layout: background first, then class k at k + 1
            assert list(psa) == [0, *(keys + 1).tolist()]
            for channel, label in enumerate(psa):
                assert psa[label].dtype == np.float32
                np.testing.assert_array_equal(psa[label], expected[channel])

    # one worker writes the same files
    one = str(tmp_path / 'one')
    _run_in_process(monkeypatch, _args(checkpoint, one, 1, cli))
    files_one = _crf_files(one)
    assert sorted(files_one) == sorted(files)
    for name, content in files.items():
        for key, value in content.items():
            np.testing.assert_array_equal(files_one[name][key], value)

    # a missing CRF output makes only its image run again
    img_id, other = list(images)[:2]
    os.remove(osp.join(one, 'crf_32', 'psa', f'{img_id}.npy'))
    kept = os.stat(osp.join(one, f'{other}.npz')).st_mtime_ns
    _run_in_process(monkeypatch, _args(checkpoint, one, 1, cli))
    assert osp.isfile(osp.join(one, 'crf_32', 'psa', f'{img_id}.npy'))
    assert os.stat(osp.join(one, f'{other}.npz')).st_mtime_ns == kept


@pytest.mark.parametrize('extra,message', [
    (['--formats', 'irn', '--crf-alphas', '4'], 'has neither'),
    (['--crf-alphas', '0'], 'must be > 0'),
    (['--crf-alphas', '4', '--crf-workers', '0'], 'must be >= 1'),
])
def test_rejects_bad_crf_arguments(extra, message, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv',
                        ['infer_cam.py', 'cfg.py', 'ckpt', '--out', 'x',
                         *extra])
    with pytest.raises(SystemExit):
        load_tool('infer_cam').parse_args()
    assert message in capsys.readouterr().err
