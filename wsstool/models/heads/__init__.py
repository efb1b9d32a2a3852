from .affinity_head import AffinityHead
from .aspp_v2_head import ASPPV2Head
from .cam_head import CAMHead
from .cam_reconstruction_decoder import CAMReconstructionDecoder
from .gpp_cam_head import CAMHeadOutput, GPPCAMHead
from .irn_branches import BoundaryBranch, DisplacementBranch
from .pixel_correlation import PixelCorrelationModule
from .sep_aspp_head import DepthwiseSeparableASPPHead

__all__ = [
    'AffinityHead', 'ASPPV2Head', 'BoundaryBranch', 'CAMHead',
    'CAMReconstructionDecoder',
    'CAMHeadOutput', 'DepthwiseSeparableASPPHead', 'DisplacementBranch',
    'GPPCAMHead', 'PixelCorrelationModule'
]
