"""Refinement networks (stage 2): learn inter-pixel affinities from relation
labels and propagate CAMs into pseudo labels by a random walk."""
from .affinity_net import AffinityNet
from .base import BaseRefineNet
from .irnet import IRNet

__all__ = ['AffinityNet', 'BaseRefineNet', 'IRNet']
