"""Dataset wrapper that pairs every image with one sharing a class."""
import copy
from typing import Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init

from wsstool.registry import DATASETS


@DATASETS.register_module()
class ClassPairedDataset:
    """Return every sample together with a partner sharing one of its
    classes (KTSE's pairing for simulated inter-image erasing).

    For anchor ``idx`` a class ``c`` is drawn uniformly from the anchor's
    classes, then the partner uniformly from all images containing ``c``
    (possibly the anchor itself); an anchor without classes is its own
    partner. The per-class image index is built once from
    ``get_data_info(i)['gt_label']`` of the wrapped dataset. The draws use
    numpy's global RNG, which the runner seeds (and mmengine's
    ``worker_init_fn`` re-seeds in every data-loader worker), so pairs are
    reproducible under the runner's seed.

    ``__getitem__`` returns the anchor's packed dict extended with the
    partner's: ``dict(inputs, data_samples, partner_inputs,
    partner_data_samples)``. Both pass through the wrapped dataset's
    pipeline independently.

    Args:
        dataset (BaseDataset | dict): The dataset, or its config.
        lazy_init (bool): Defer loading the annotations and building the
            class index to the first use. Defaults to False.
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 lazy_init: bool = False) -> None:
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if not isinstance(dataset, BaseDataset):
            raise TypeError(f'dataset must be a BaseDataset or its config '
                            f'dict; got {type(dataset)}')
        self.dataset = dataset
        self._metainfo = dataset.metainfo
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """Meta information of the wrapped dataset (a copy)."""
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        """Load the wrapped dataset and index its images by class."""
        if self._fully_initialized:
            return
        self.dataset.full_init()
        present = self._presence_matrix()
        self.image_classes = [np.flatnonzero(row) for row in present]
        self.class_images = [np.flatnonzero(col) for col in present.T]
        self._fully_initialized = True

    def _presence_matrix(self) -> np.ndarray:
        """(N, C) bool: class c is in image i (``gt_label`` > 0)."""
        labels = [
            np.asarray(self.dataset.get_data_info(i)['gt_label'])
            for i in range(len(self.dataset))
        ]
        shapes = {label.shape for label in labels}
        if len(shapes) > 1 or any(len(shape) != 1 for shape in shapes):
            raise ValueError(
                f'{type(self.dataset).__name__}: every gt_label must be a '
                f'(C,) vector of the same length; got shapes {sorted(shapes)}')
        return np.stack(labels) > 0

    @force_full_init
    def partner_index(self, idx: int) -> int:
        """Draw the index of a partner of ``idx`` (see the class doc)."""
        classes = self.image_classes[idx]
        if len(classes) == 0:
            return idx
        images = self.class_images[classes[np.random.randint(len(classes))]]
        return int(images[np.random.randint(len(images))])

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """Data info of the anchor ``idx`` in the wrapped dataset."""
        return self.dataset.get_data_info(idx)

    def __getitem__(self, idx: int) -> dict:
        self.full_init()
        anchor = self.dataset[idx]
        partner = self.dataset[self.partner_index(idx)]
        return dict(
            anchor,
            partner_inputs=partner['inputs'],
            partner_data_samples=partner['data_samples'])

    @force_full_init
    def __len__(self) -> int:
        return len(self.dataset)
