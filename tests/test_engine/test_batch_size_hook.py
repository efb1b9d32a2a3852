from types import SimpleNamespace

import logging

from wsstool.engine import TotalBatchSizeHook, batch_size_from_config_name


def test_batch_size_parsed_from_config_name():
    assert batch_size_from_config_name(
        'configs/cam/cam_r50_1xb16-5e_voc12aug-512x512.py') == (1, 16)
    assert batch_size_from_config_name(
        'beco-deeplabv3plus_r101d-d16_4xb4-80e_voc12aug-512x512.py') == (4, 4)
    assert batch_size_from_config_name('my_config.py') is None


def _fake_runner(filename, batch_size, configured=None):
    """A runner whose current loader has ``batch_size`` and whose config
    ``configured`` (defaults to the same)."""
    configured = batch_size if configured is None else configured
    return SimpleNamespace(
        train_dataloader=SimpleNamespace(batch_size=batch_size),
        cfg=SimpleNamespace(
            filename=filename,
            train_dataloader=SimpleNamespace(batch_size=configured)),
        logger=logging.getLogger('wsstool_test_batch'))


def test_hook_warns_when_total_batch_differs(caplog):
    hook = TotalBatchSizeHook()
    with caplog.at_level('INFO'):
        hook.before_train(_fake_runner('cam_r50_1xb16-5e_voc.py', 8))
    assert 'Total batch size: 1 process(es) x 8 images = 8' in caplog.text
    assert '1x16 = 16' in caplog.text


def test_hook_silent_when_total_matches(caplog):
    with caplog.at_level('INFO'):
        TotalBatchSizeHook().before_train(
            _fake_runner('cam_r50_1xb16-5e_voc.py', 16))
    assert 'promises' not in caplog.text


def test_hook_compares_the_configured_batch_after_a_schedule_switch(caplog):
    """A run resumed after BatchSizeScheduleHook grew the batch from 8 to
    16 logs 16 but keeps matching the 1xb8 of its name."""
    with caplog.at_level('INFO'):
        TotalBatchSizeHook().before_train(
            _fake_runner('ktse_r38d-gpp_1xb8-40e_voc.py', 16, configured=8))
    assert 'x 16 images = 16' in caplog.text
    assert 'promises' not in caplog.text
