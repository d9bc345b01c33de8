"""glth_core: pruning neural networks in an arbitrary orthonormal basis.

A companion to Alabdulmohsin, Markeeva, Keysers, Tolstikhin, "A Generalized
Lottery Ticket Hypothesis" (arXiv:2107.06825, 2021).
"""
from ._version import __version__

__all__ = ["__version__"]
