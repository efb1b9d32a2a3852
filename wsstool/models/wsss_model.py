"""Base of the wsstool models: mmengine's three forward modes."""
from abc import ABCMeta, abstractmethod
from typing import Any, Dict, List, Optional, Union

from mmengine.model import BaseModel
from torch import Tensor, nn

from wsstool.structures import WSSSDataSample
from .data_preprocessors.wsss_data_preprocessor import \
    build_data_preprocessor


class WSSSModel(BaseModel, metaclass=ABCMeta):
    """A model that mmengine runs in the modes of :meth:`forward`:
    ``'loss'`` (:meth:`loss`), ``'tensor'`` (:meth:`_forward`) and
    ``'predict'`` (:meth:`predict`).

    Args:
        data_preprocessor (dict or nn.Module, optional): Defaults to
            ``WSSSDataPreprocessor()``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=build_data_preprocessor(data_preprocessor),
            init_cfg=init_cfg)

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[WSSSDataSample]] = None,
                mode: str = 'tensor'
                ) -> Union[Dict[str, Tensor], Any, List[WSSSDataSample]]:
        """Run in ``'loss'``, ``'tensor'`` or ``'predict'`` mode.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.
            data_samples (list[WSSSDataSample], optional): Labels
                (``'loss'``) or meta information (``'predict'``).
            mode (str): ``'loss'``, ``'tensor'`` or ``'predict'``.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f'{type(self).__name__} mode {mode!r}; expected '
                         '"loss", "tensor" or "predict".')

    @abstractmethod
    def loss(self, inputs: Tensor,
             data_samples: List[WSSSDataSample]) -> Dict[str, Tensor]:
        """Losses of (B, 3, H, W) images against the samples' labels."""

    @abstractmethod
    def _forward(self, inputs: Tensor) -> Any:
        """Network outputs of (B, 3, H, W) images (``'tensor'`` mode)."""

    @abstractmethod
    def predict(self, inputs: Tensor,
                data_samples: Optional[List[WSSSDataSample]] = None
                ) -> List[WSSSDataSample]:
        """The samples with the model's predictions."""
