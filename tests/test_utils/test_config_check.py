import pytest
from mmengine.config import Config

from wsstool.utils.config_check import check_config


def test_valid_config_passes():
    check_config(Config(dict(train_dataloader=dict(batch_size=4),
                             optim_wrapper=dict(optimizer=dict(lr=0.1)))))


@pytest.mark.parametrize('cfg,key', [
    (dict(train_dataloader=dict(batch_size='abc')),
     'train_dataloader.batch_size'),
    (dict(train_dataloader=dict(batch_size=0)), 'train_dataloader.batch_size'),
    (dict(optim_wrapper=dict(optimizer=dict(lr='0.1x'))),
     'optim_wrapper.optimizer.lr'),
    (dict(train_cfg=dict(max_epochs=2.5)), 'train_cfg.max_epochs'),
    (dict(randomness=dict(seed='x')), 'randomness.seed'),
])
def test_malformed_value_names_key(cfg, key):
    with pytest.raises(ValueError, match=key.replace('.', r'\.')):
        check_config(Config(cfg))
