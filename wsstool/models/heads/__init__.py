from .affinity_head import AffinityHead
from .cam_head import CAMHead
from .gpp_cam_head import CAMHeadOutput, GPPCAMHead
from .irn_branches import BoundaryBranch, DisplacementBranch

__all__ = [
    'AffinityHead', 'BoundaryBranch', 'CAMHead', 'CAMHeadOutput',
    'DisplacementBranch', 'GPPCAMHead'
]
