"""tools/dist_train.sh and tools/dist_test.sh with 2 gloo processes evaluate
like one process."""
import os
import os.path as osp
import socket
import subprocess
import sys

import numpy as np

from .conftest import CAM_CONFIG, REPO, as_cli, tiny_overrides


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _run(command: list[str], **env) -> None:
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, 'PYTHONPATH': REPO, **env})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[
        -5000:]


def test_two_process_gloo_matches_single_process(tiny_synthvoc, tmp_path):
    work_dir = str(tmp_path / 'work')
    dist_eval, single_eval = tmp_path / 'dist', tmp_path / 'single'
    dist_test_eval = tmp_path / 'dist_test'
    overrides = tiny_overrides(tiny_synthvoc, max_epochs=1)
    _run(['bash', 'tools/dist_train.sh', CAM_CONFIG, '2', '--work-dir',
          work_dir, *as_cli({**overrides,
                             'val_evaluator.output_dir': str(dist_eval)})],
         PYTHON=sys.executable, PORT=str(_free_port()),
         OMP_NUM_THREADS='1')
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))

    # evaluate the same checkpoint on the same split in one process, and in
    # two with tools/dist_test.sh
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    test_options = as_cli({**overrides, 'test_dataloader.dataset.ann_file':
                           'ImageSets/Segmentation/val.txt'})
    _run([sys.executable, 'tools/test.py', CAM_CONFIG, checkpoint,
          '--work-dir', work_dir, '--out', str(single_eval), *test_options])
    _run(['bash', 'tools/dist_test.sh', CAM_CONFIG, checkpoint, '2',
          '--work-dir', work_dir, '--out', str(dist_test_eval),
          *test_options],
         PYTHON=sys.executable, PORT=str(_free_port()),
         OMP_NUM_THREADS='1')
    single_matrices = np.load(single_eval / 'cam_confusion_matrices.npy')
    # every GT pixel of the 5 val images is counted exactly once
    assert single_matrices.sum() > 0
    for other in (dist_eval, dist_test_eval):
        np.testing.assert_array_equal(
            np.load(other / 'cam_confusion_matrices.npy'), single_matrices)
