from .activation_hinge_loss import ActivationHingeLoss
from .affinity_loss import AffinityLoss
from .displacement_loss import DisplacementLoss
from .gap_alignment_loss import GAPAlignmentLoss
from .multilabel_soft_margin import MultiLabelSoftMarginLoss
from .seam_losses import (AdaptiveMinPoolingLoss, EquivariantCrossRegLoss,
                          EquivariantRegLoss)
from .perceptual_loss import PerceptualLoss
from .pixel_prototype_contrast import PixelPrototypeContrast
from .self_supervised_seg_loss import SelfSupervisedSegLoss
from .superpixel_alignment_loss import SuperpixelAlignmentLoss
from .triplet_repulsion_loss import TripletRepulsionLoss

__all__ = [
    'AdaptiveMinPoolingLoss', 'EquivariantCrossRegLoss', 'EquivariantRegLoss',
    'ActivationHingeLoss', 'AffinityLoss', 'DisplacementLoss',
    'GAPAlignmentLoss', 'MultiLabelSoftMarginLoss', 'PerceptualLoss',
    'PixelPrototypeContrast',
    'SelfSupervisedSegLoss', 'SuperpixelAlignmentLoss', 'TripletRepulsionLoss'
]
