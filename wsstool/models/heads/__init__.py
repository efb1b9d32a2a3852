from .cam_head import CAMHead
from .gpp_cam_head import CAMHeadOutput, GPPCAMHead

__all__ = ['CAMHead', 'CAMHeadOutput', 'GPPCAMHead']
