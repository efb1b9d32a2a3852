from mmengine.fileio import get_file_backend
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader

from wsstool.fileio import AtomicLocalBackend
from wsstool.registry import DATASETS, METRICS, MODELS
from wsstool.utils import load_from_local, register_all_modules


def test_register_all_modules_fills_registries_and_sets_up_io(tmp_path):
    register_all_modules()
    assert DefaultScope.get_current_instance().scope_name == 'wsstool'
    for registry, name in ((MODELS, 'CAMClassifier'),
                           (DATASETS, 'SynthVOCDataset'),
                           (METRICS, 'CAMIoUMetric')):
        assert name in registry.module_dict
    assert CheckpointLoader._get_checkpoint_loader(
        str(tmp_path / 'x.pth')) is load_from_local
    assert isinstance(get_file_backend(str(tmp_path / 'x.pth')),
                      AtomicLocalBackend)
