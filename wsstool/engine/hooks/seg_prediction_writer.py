"""Write the segmentation predictions of the test loop to files."""
import os.path as osp
from collections.abc import Sequence
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from wsstool.fileio import atomic_write, save_label_png
from wsstool.registry import HOOKS
from wsstool.structures import WSSSDataSample

VOC_TEST_DIR = osp.join('results', 'VOC2012', 'Segmentation',
                        'comp6_test_cls')


@HOOKS.register_module()
class SegPredictionWriterHook(Hook):
    """Save every test prediction under ``out_dir``.

    For each output data sample of the test loop (``img_id`` from its
    metainfo, else the stem of ``img_path``):

    * ``pred/<img_id>.png``: ``pred_sem_seg`` as uint8 class ids (with
      ``save_labels``), a palette PNG coloured by the dataset's
      ``metainfo['palette']`` when ``palette`` is True, else grey-level;
    * ``results/VOC2012/Segmentation/comp6_test_cls/<img_id>.png`` instead of
      ``pred/`` with ``voc_test_format``: the layout the PASCAL VOC
      evaluation server expects (palette PNGs, to be archived from
      ``out_dir``);
    * ``logits/<img_id>.npz`` (with ``save_logits``): ``seg_logits``,
      float16 (K, H, W) at the original resolution, before the softmax,
      compressed (K * H * W * 2 bytes before compression: 7.9 MB for a
      21-class 500 x 375 VOC image; meant for later fusion or CRF runs).

    Files are written atomically. Under several processes each rank writes
    the samples it predicts (a padded sampler rewrites some files with the
    same content).

    Args:
        out_dir (str): Output folder.
        save_labels (bool): Write the label PNGs. Defaults to True.
        palette (bool): Colour the label PNGs with the dataset's palette.
            Defaults to True.
        save_logits (bool): Write the logits. Defaults to False.
        voc_test_format (bool): Write the label PNGs in the VOC server
            layout (always with the palette). Defaults to False.
    """

    def __init__(self,
                 out_dir: str,
                 save_labels: bool = True,
                 palette: bool = True,
                 save_logits: bool = False,
                 voc_test_format: bool = False) -> None:
        if not (save_labels or save_logits):
            raise ValueError('SegPredictionWriterHook writes nothing: set '
                             'save_labels or save_logits')
        if voc_test_format and not save_labels:
            raise ValueError('SegPredictionWriterHook voc_test_format needs '
                             'save_labels=True')
        self.out_dir = out_dir
        self.save_labels = save_labels
        self.palette = palette or voc_test_format
        self.save_logits = save_logits
        self.label_dir = osp.join(out_dir, VOC_TEST_DIR
                                  if voc_test_format else 'pred')
        self.logit_dir = osp.join(out_dir, 'logits')
        self._colors: Optional[Sequence] = None
        self._num_written = 0

    def before_test(self, runner) -> None:
        """Read the palette of the test dataset."""
        self._num_written = 0
        if not (self.save_labels and self.palette):
            return
        metainfo = runner.test_dataloader.dataset.metainfo
        if metainfo.get('palette') is None:
            raise KeyError(
                f'SegPredictionWriterHook: the test dataset '
                f'{type(runner.test_dataloader.dataset).__name__} has no '
                "metainfo['palette'] to colour the label PNGs; set "
                'palette=False')
        self._colors = metainfo['palette']

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch=None,
                        outputs: Optional[Sequence[WSSSDataSample]] = None
                        ) -> None:
        """Write the files of every output data sample."""
        for sample in outputs or ():
            self.write_sample(sample)

    def after_test(self, runner) -> None:
        print_log(
            f'SegPredictionWriterHook: this process wrote the predictions '
            f'of {self._num_written} images to {self.out_dir}',
            logger='current')

    def write_sample(self, sample: WSSSDataSample) -> None:
        """Write the label PNG and/or the logits of one data sample."""
        img_id = self._img_id(sample)
        if self.save_labels:
            label = self._field(sample, 'pred_sem_seg', img_id)
            save_label_png(
                osp.join(self.label_dir, f'{img_id}.png'),
                label[0].cpu().numpy(),
                palette=self._colors if self.palette else None)
        if self.save_logits:
            logits = self._field(sample, 'seg_logits', img_id)
            with atomic_write(osp.join(self.logit_dir, f'{img_id}.npz')) as f:
                np.savez_compressed(
                    f, seg_logits=logits.float().cpu().numpy().astype(
                        np.float16))
        self._num_written += 1

    @staticmethod
    def _img_id(sample: WSSSDataSample) -> str:
        img_id = sample.metainfo.get('img_id')
        if img_id is not None:
            return str(img_id)
        img_path = sample.metainfo.get('img_path')
        if img_path is None:
            raise KeyError('SegPredictionWriterHook: a data sample has '
                           'neither img_id nor img_path in its metainfo')
        return osp.splitext(osp.basename(img_path))[0]

    @staticmethod
    def _field(sample: WSSSDataSample, name: str,
               img_id: str) -> torch.Tensor:
        if not hasattr(sample, name):
            raise KeyError(f'SegPredictionWriterHook: the prediction of '
                           f'image {img_id} has no {name}; the model must '
                           "return it from predict (mode='predict')")
        return getattr(sample, name).data
