from .activation_hinge_loss import ActivationHingeLoss
from .affinity_loss import AffinityLoss
from .displacement_loss import DisplacementLoss
from .gap_alignment_loss import GAPAlignmentLoss
from .multilabel_soft_margin import MultiLabelSoftMarginLoss
from .self_supervised_seg_loss import SelfSupervisedSegLoss
from .triplet_repulsion_loss import TripletRepulsionLoss

__all__ = [
    'ActivationHingeLoss', 'AffinityLoss', 'DisplacementLoss',
    'GAPAlignmentLoss', 'MultiLabelSoftMarginLoss',
    'SelfSupervisedSegLoss', 'TripletRepulsionLoss'
]
