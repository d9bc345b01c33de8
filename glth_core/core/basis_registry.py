"""The bases by name: each one's per-axis factory and display label.

:func:`glth_core.core.bases.basis` builds from :data:`REGISTRY`, and every label of a basis in
the library (tables, figures, prose) is read from it through :func:`basis_label`.
"""
from __future__ import annotations

import dataclasses
import types
from typing import Callable

import torch

from .transforms import AxisTransform, IdentityTransform, dct_transform, hadamard_transform, random_transform

__all__ = ["BasisKind", "REGISTRY", "BASIS_LABELS", "basis_label"]


@dataclasses.dataclass(frozen=True)
class BasisKind:
    """One entry of :data:`REGISTRY`: how a basis is built and how it is named to a reader.

    Attributes:
        label: the display name (tables, figures, prose), e.g. ``"DCT"``.
        axis_transform: ``(size, seed, dtype) -> AxisTransform``, the transform of one axis;
            None for a basis fitted to a weight (``"svd"``, built by
            :func:`~glth_core.core.bases.basis` itself).
    """

    label: str
    axis_transform: Callable[[int, int, torch.dtype], AxisTransform] | None


#: The bases by name (read-only): each one's :class:`BasisKind`, its per-axis factory and display
#: label. :func:`~glth_core.core.bases.basis` builds from it and every label in the library is read
#: from it (:func:`basis_label`).
REGISTRY = types.MappingProxyType({
    "canonical": BasisKind("canonical", lambda size, seed, dtype: IdentityTransform(size)),
    "dct": BasisKind("DCT", lambda size, seed, dtype: dct_transform(size, dtype)),
    "hadamard": BasisKind("Hadamard", hadamard_transform),
    "random": BasisKind("random orthogonal", random_transform),
    "svd": BasisKind("SVD", None),
})

#: ``{name: label}`` of :data:`REGISTRY` (read-only), for mapping a table's basis column to its labels.
BASIS_LABELS = types.MappingProxyType({name: kind.label for name, kind in REGISTRY.items()})


def basis_label(name: str) -> str:
    """The display label of the basis ``name`` (:data:`~glth_core.core.bases.REGISTRY`), e.g. ``"DCT"`` for ``"dct"``.

    Args:
        name: one of :data:`~glth_core.core.bases.BASIS_NAMES` (the keys of the registry).

    Returns:
        The label a table, figure or sentence shows for that basis.

    Raises:
        ValueError: an unknown name.
    """
    if not isinstance(name, str) or name not in REGISTRY:
        raise ValueError(f"unknown basis name {name!r}: name must be one of {', '.join(map(repr, REGISTRY))}")
    return REGISTRY[name].label
