"""tools/dist_train.sh and tools/dist_test.sh with 2 gloo processes evaluate
like one process."""
import os.path as osp
import sys

import numpy as np

from wsstool.apis.pipeline.context import free_port

from .conftest import CAM_CONFIG, as_cli, run_command, tiny_overrides


def test_two_process_gloo_matches_single_process(tiny_synthvoc, tmp_path):
    work_dir = str(tmp_path / 'work')
    dist_eval, single_eval = tmp_path / 'dist', tmp_path / 'single'
    dist_test_eval = tmp_path / 'dist_test'
    overrides = tiny_overrides(tiny_synthvoc, max_epochs=1)
    train_options = as_cli(
        {**overrides, 'val_evaluator.output_dir': str(dist_eval)})
    run_command(['bash', 'tools/dist_train.sh', CAM_CONFIG, '2', '--work-dir',
                 work_dir, *train_options],
                PYTHON=sys.executable, PORT=str(free_port()))
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))

    # evaluate the same checkpoint on the same split in one process, and in
    # two with tools/dist_test.sh
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    test_options = as_cli({**overrides, 'test_dataloader.dataset.ann_file':
                           'ImageSets/Segmentation/val.txt'})
    run_command([sys.executable, 'tools/test.py', CAM_CONFIG, checkpoint,
                 '--work-dir', work_dir, '--out', str(single_eval),
                 *test_options])
    run_command(['bash', 'tools/dist_test.sh', CAM_CONFIG, checkpoint, '2',
                 '--work-dir', work_dir, '--out', str(dist_test_eval),
                 *test_options],
                PYTHON=sys.executable, PORT=str(free_port()))
    single_matrices = np.load(single_eval / 'cam_confusion_matrices.npy')
    # every GT pixel of the 5 val images is counted exactly once
    assert single_matrices.sum() > 0
    for other in (dist_eval, dist_test_eval):
        np.testing.assert_array_equal(
            np.load(other / 'cam_confusion_matrices.npy'), single_matrices)
