r"""Block views: one weight tensor split into blocks, each with its own basis and mask.

Some torch modules keep several weight matrices in one parameter:

* ``nn.MultiheadAttention.in_proj_weight`` (``3E x E``) stacks the query, key and
  value projections ``W_q, W_k, W_v`` (each ``E x E``) along axis 0;
* ``nn.LSTM`` / ``nn.GRU`` ``weight_ih_l*`` (``G H x in``) and ``weight_hh_l*``
  (``G H x H``) stack one matrix per gate along axis 0: ``G = 4`` for an LSTM
  (input, forget, cell, output, in torch's order), ``3`` for a GRU (reset,
  update, new), ``1`` for an ``nn.RNN``.

A :class:`View` says how to split: along axis ``dim`` into consecutive blocks of
``sizes``. A :class:`BlockBasis` gives block ``i`` (``W_i``, the ``i``-th slice)
its own orthonormal :class:`~glth_core.core.bases.Basis` ``B_i``; with coefficients
``C`` of ``W``'s shape, sliced the same way,

.. math::

    C_i = B_i.\mathrm{coeffs}(W_i), \qquad W = \mathrm{cat}_i\, B_i.\mathrm{weights}(C_i) \text{ along } dim,

which is the block-diagonal basis ``diag(B_1, ..., B_n)`` of the whole tensor,
orthonormal because each block's is. A query projection thus gets a DCT of its
own ``E x E`` matrix, not a DCT that mixes queries with keys. The mask is one
tensor of ``W``'s shape, so pruning treats the split tensor as one layer (element
granularity ranks every coefficient; row granularity ranks rows of all blocks).

A :class:`BlockBasis` has the interface :class:`~glth_core.core.parametrization.GeneralizedWeight`
uses (``name``, ``shape``, ``coeffs``, ``weights``), so a split tensor is an ordinary
generalized parameter for pruning, rewinding, export and tickets.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["View", "BlockBasis", "default_view", "GATES"]

#: Gate names of torch's recurrent layers, in the order their weights stack them.
GATES = {"LSTM": ("input", "forget", "cell", "output"), "GRU": ("reset", "update", "new"), "RNN": ("hidden",)}


@dataclass(frozen=True)
class View:
    """Split a tensor along axis ``dim`` into consecutive blocks of ``sizes`` named ``labels``.

    Args:
        dim: the axis to split (0: output axis).
        sizes: block lengths along ``dim``; they must add up to the tensor's length there.
        labels: one name per block (default ``"0", "1", ...``).
    """

    dim: int
    sizes: tuple[int, ...]
    labels: tuple[str, ...] = ()

    def __post_init__(self):
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 0:
            raise ValueError(f"View.dim must be an axis index >= 0, got {self.dim!r}")
        sizes = tuple(self.sizes)
        if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"View.sizes must be a non-empty tuple of positive ints, got {self.sizes!r}")
        labels = tuple(str(x) for x in self.labels) or tuple(str(i) for i in range(len(sizes)))
        if len(labels) != len(sizes) or len(set(labels)) != len(labels):
            raise ValueError(f"View.labels must name each of the {len(sizes)} blocks once, got {self.labels!r}")
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "labels", labels)

    def check(self, shape: tuple[int, ...], where: str) -> None:
        """ValueError unless this view splits a tensor of ``shape`` (``where`` names it in the message)."""
        if self.dim >= len(shape) or sum(self.sizes) != shape[self.dim]:
            raise ValueError(f"view {self} does not fit {where} of shape {tuple(shape)}: its sizes must add up "
                             f"to the length of axis {self.dim}")

    def block_shapes(self, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The shape of each block of a tensor of ``shape``."""
        return [tuple(s if a == self.dim else d for a, d in enumerate(shape)) for s in self.sizes]

    def to_dict(self) -> dict:
        return {"dim": self.dim, "sizes": list(self.sizes), "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, spec: dict) -> "View":
        return cls(int(spec["dim"]), tuple(int(s) for s in spec["sizes"]), tuple(spec["labels"]))


def default_view(module: nn.Module, tensor_name: str) -> View | None:
    """The view :func:`glth_core.generalize` uses for ``module``'s tensor ``tensor_name`` (None: one block).

    ``in_proj_weight`` of an ``nn.MultiheadAttention``: query, key, value. ``weight_ih_l*`` and
    ``weight_hh_l*`` of an ``nn.LSTM`` / ``nn.GRU``: one block per gate (an ``nn.RNN`` has one gate,
    so no split). Everything else: None.
    """
    if isinstance(module, nn.MultiheadAttention) and tensor_name == "in_proj_weight":
        e = module.embed_dim
        return View(0, (e, e, e), ("q", "k", "v"))
    if isinstance(module, nn.RNNBase) and tensor_name.startswith(("weight_ih_l", "weight_hh_l")):
        gates = GATES.get(module.mode, GATES["RNN"])  # modes: LSTM, GRU, RNN_TANH, RNN_RELU
        if len(gates) == 1:
            return None
        h = module.hidden_size
        return View(0, (h,) * len(gates), gates)
    return None


class BlockBasis(nn.Module):
    """The block-diagonal basis of a tensor of ``shape`` split by ``view`` (see the module docstring).

    Attributes:
        name: the blocks' basis name (every block has the same kind of basis).
        shape: the whole tensor's shape.
        view: the :class:`View`.
        blocks: one :class:`~glth_core.core.bases.Basis` per block, of the block's shape.
    """

    def __init__(self, view: View, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        shapes = [tuple(b.shape) for b in self.blocks]
        dim = view.dim
        if not shapes or any(len(s) != len(shapes[0]) for s in shapes):
            raise ValueError("BlockBasis needs one basis per block, all with the same number of axes")
        if [s[dim] for s in shapes] != list(view.sizes):
            raise ValueError(f"block bases of shapes {shapes} do not match {view}")
        self.view = view
        self.name = self.blocks[0].name
        self.shape = tuple(sum(s[dim] for s in shapes) if a == dim else d for a, d in enumerate(shapes[0]))

    def _check(self, x: Tensor, argname: str) -> None:
        if not isinstance(x, Tensor) or tuple(x.shape) != self.shape:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{argname} must have shape {self.shape} (the split tensor), got {got}")

    def _map(self, x: Tensor, inverse: bool) -> Tensor:
        parts = x.split(list(self.view.sizes), dim=self.view.dim)
        return torch.cat([b.weights(p) if inverse else b.coeffs(p) for b, p in zip(self.blocks, parts)],
                         dim=self.view.dim)

    def coeffs(self, w: Tensor) -> Tensor:
        """Analysis, block by block (shape ``shape`` -> ``shape``)."""
        self._check(w, "w")
        return self._map(w, inverse=False)

    def weights(self, c: Tensor) -> Tensor:
        """Synthesis, block by block (shape ``shape`` -> ``shape``)."""
        self._check(c, "c")
        return self._map(c, inverse=True)

    @property
    def is_canonical(self) -> bool:
        return all(b.is_canonical for b in self.blocks)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, shape={self.shape}, view={self.view}"
