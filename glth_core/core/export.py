r"""Export a generalized model to plain PyTorch layers, and count what it needs.

:func:`export` returns a deep copy in which every generalized weight is
replaced by its effective value ``W = synthesis(M * C) (+ W_0)`` as a plain
parameter (no parametrization, so it pickles with ``torch.save``).

Only Linear layers that are called as modules are factorised: a layer whose
weight its parent reads directly (the ``out_proj`` of ``nn.MultiheadAttention``,
the feed-forward layers of ``nn.TransformerEncoderLayer``, whose inference
fast path hands the weights to a fused kernel) stays one dense layer.

Unit pruning. A row mask in the canonical basis zeroes whole output units,
and :func:`export` keeps the zero rows (the layer's consumers still expect its
width). :func:`remove_dead_units` removes them from a pair ``first ->
activation -> second`` of plain Linear layers, which makes the pair physically
smaller.

Low-rank factorisation. When a generalized ``nn.Linear`` (no offset) has a
non-canonical output basis and its mask keeps ``r`` whole rows ``K`` of ``C``
(row granularity), then with the 2-D view ``W = A_out^T (M * C) A_in``

.. math::

    W = \underbrace{A_{out}^\top[:, K]}_{out \times r}\;
        \underbrace{\big(C[K, :]\, A_{in}\big)}_{r \times in},

a product of rank at most ``r``. If ``r (in + out) < in * out`` the layer is
exported as ``nn.Sequential(nn.Linear(in, r, bias=False), nn.Linear(r, out))``
with those two factors (the bias goes to the second layer). In the canonical
output basis a row mask zeroes whole output units; that layer is exported
dense, with zero rows.

:func:`count_parameters` counts what the exported model really needs:

* for a generalized model: the unmasked coefficients of each generalized layer
  (``r (in + out)`` instead for a layer that :func:`export` factorises), plus
  every other parameter in full (biases, BatchNorm affine, layers left dense).
  Fixed buffers are not counted: the basis matrices (regenerable from the seed,
  or, for ``"svd"``, part of the basis choice), the offset ``W_0`` of the
  random-subspace mode (regenerable from its seed), masks, BatchNorm statistics.
* for a plain model: all its parameters, zeros included.

:func:`multiply_adds` counts the work of one forward pass of one example
through the ``Linear`` and ``Conv`` layers: ``weight.numel()`` per output
position (``out * in`` for a Linear layer; ``out * in/groups * k_1 * ...``
times the output's spatial size for a convolution). Export first to count a
factorised layer as its two factors.
"""
from __future__ import annotations

import copy
import warnings

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .bases import Basis
from .params import generalized_parameters, reads_child_weights, require_generalized_parameters
from .parametrization import generalized_weight, coefficients

__all__ = ["export", "count_parameters", "low_rank_rows", "multiply_adds", "remove_dead_units"]


def low_rank_rows(module: nn.Module) -> Tensor | None:
    """The kept rows (bool, ``out``) if :func:`export` factorises this layer, else ``None``."""
    gw = generalized_weight(module)
    if gw is None or not isinstance(module, nn.Linear) or gw.offset is not None:
        return None
    if not isinstance(gw.basis, Basis) or gw.basis.transforms[0].is_identity:
        return None  # a split tensor (BlockBasis) or a canonical output axis
    rows = gw.mask.reshape(gw.mask.shape[0], -1).ne(0)
    keep = rows.all(dim=1)
    if not bool((rows.any(dim=1) == keep).all()):
        return None  # some row is partly masked: not a row mask
    out_features, in_features = gw.mask.shape
    r = int(keep.sum().item())
    return keep if r * (in_features + out_features) < in_features * out_features else None


def _factorised(module: nn.Linear, keep: Tensor) -> nn.Sequential:
    gw = generalized_weight(module)
    with torch.no_grad():
        # the row mask is ``keep``: kept rows are wholly unmasked (low_rank_rows), masked rows dropped
        c = coefficients(module).detach()
        right = gw.basis.synthesize_input_axes(c[keep])                       # (r, in)
        left = gw.basis.output_matrix().T[:, keep].to(dtype=c.dtype, device=c.device)  # (out, r)
        r = right.shape[0]
        with warnings.catch_warnings():  # r == 0 warns "Initializing zero-element tensors is a no-op"
            warnings.simplefilter("ignore", UserWarning)
            first = nn.Linear(module.in_features, r, bias=False, device=c.device, dtype=c.dtype)
            second = nn.Linear(r, module.out_features, bias=module.bias is not None, device=c.device,
                               dtype=c.dtype)
        first.weight.copy_(right)
        second.weight.copy_(left)
        if module.bias is not None:
            second.bias.copy_(module.bias)
    second.train(module.training)
    first.train(module.training)
    return nn.Sequential(first, second)


def _make_dense_layout(module: nn.Module, name: str) -> None:
    """Give ``module.<name>`` a dense memory layout if synthesis left it strided.

    A basis applied along a middle axis (the spatial DCT of a conv kernel) returns a permuted view;
    kernels run slower on such weights, so the exported parameter is made contiguous (a
    ``channels_last`` kernel stays ``channels_last``).
    """
    t = getattr(module, name)
    if t.is_contiguous() or (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)) \
            or (t.dim() == 5 and t.is_contiguous(memory_format=torch.channels_last_3d)):
        return
    setattr(module, name, nn.Parameter(t.detach().contiguous(), requires_grad=t.requires_grad))


def export(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with plain weights and no generalized parametrization.

    Same outputs as ``model`` (up to float round-off); Linear layers with a row
    mask in a rotated basis become two low-rank Linear layers (module docstring).
    ``model`` itself is not modified.

    Args:
        model: any ``nn.Module``, generalized or not.

    Returns:
        A new ``nn.Module`` whose weights are the effective weights
        ``W = synthesis(M * C)`` (``+ W_0`` with an offset), of the original shapes.
    """
    require_generalized_parameters(model, "export")
    plain = copy.deepcopy(model)
    direct = reads_child_weights(plain)
    by_module: dict[str, list[str]] = {}
    for target in generalized_parameters(plain).values():
        by_module.setdefault(target.module_name, []).append(target.tensor)
    for name, tensors in by_module.items():
        module = plain.get_submodule(name)
        keep = low_rank_rows(module) if tensors == ["weight"] and id(module) not in direct else None
        if keep is None:
            # deepcopy shares the injected Parametrized* class with the original module, and
            # remove_parametrizations deletes the property from that class: give the copy its own.
            cls = type(module)
            module.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            for tensor in tensors:
                parametrize.remove_parametrizations(module, tensor, leave_parametrized=True)
                _make_dense_layout(module, tensor)
            continue
        replacement = _factorised(module, keep)
        if name == "":
            return replacement
        parent_name, _, child = name.rpartition(".")
        setattr(plain.get_submodule(parent_name), child, replacement)
    return plain


def count_parameters(model: nn.Module) -> int:
    """The number of parameters the exported model really needs (see the module docstring).

    Args:
        model: any ``nn.Module``, generalized or not.

    Returns:
        Every parameter's size, except that a generalized layer counts its unmasked
        coefficients, and a row-masked Linear layer in a rotated basis
        ``kept rows * (n_in + n_out)`` (its two low-rank factors).

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    special: dict[int, int] = {}
    direct = reads_child_weights(model)
    for target in generalized_parameters(model).values():
        c = target.coefficients
        keep = low_rank_rows(target.module) if target.tensor == "weight" and id(target.module) not in direct \
            else None
        if keep is not None:
            out_features, in_features = c.shape
            special[id(c)] = int(keep.sum().item()) * (in_features + out_features)
        else:
            special[id(c)] = int(target.mask.ne(0).sum().item())
    return sum(special.get(id(p), p.numel()) for p in model.parameters())


def multiply_adds(model: nn.Module, input_shape, *, nonzero: bool = False) -> int:
    """Multiply-adds of one forward pass of one example of shape ``input_shape`` (no batch axis).

    Counts the ``Linear`` and ``Conv1d/2d/3d`` layers (module docstring); bias
    additions, activations and pooling are not counted.

    Args:
        model: any ``nn.Module``, generalized or not (then its exported weights count).
        input_shape: one example's shape without the batch axis, e.g. ``(1, 28, 28)``.
        nonzero: count only the nonzero weights (the work of an ideal sparse kernel on
            the weights as the forward pass uses them).

    Returns:
        The number of multiply-adds.

    Raises:
        TypeError: ``model`` is not an ``nn.Module`` or ``input_shape`` not a tuple of sizes.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise TypeError(f"input_shape must be a tuple of sizes without the batch axis, e.g. (1, 28, 28), "
                        f"got {input_shape!r}") from None
    counts: list[int] = []

    def hook(module, inputs, output):
        weight = module.weight
        per_position = int(weight.ne(0).sum().item()) if nonzero else weight.numel()
        convolution = isinstance(module, nn.modules.conv._ConvNd)
        positions = output.shape[2:].numel() if convolution else output.shape[1:-1].numel()
        counts.append(per_position * positions)

    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
    handles = [m.register_forward_hook(hook) for m in layers]
    parameter = next(model.parameters(), None)
    x = torch.zeros(1, *shape, dtype=parameter.dtype if parameter is not None else torch.float32,
                    device=parameter.device if parameter is not None else None)
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()  # no BatchNorm statistics updated by the probe
        with torch.no_grad():
            model(x)
    finally:
        for module, training in modes.items():
            module.training = training
        for handle in handles:
            handle.remove()
    return sum(counts)


@torch.no_grad()
def remove_dead_units(first: nn.Linear, second: nn.Linear, activation=torch.relu) -> tuple[nn.Linear, nn.Linear]:
    r"""Drop the output units of ``first`` whose weight row is zero, from ``first`` and from ``second``.

    For ``y = second(activation(first(x)))`` with an elementwise ``activation``, a unit ``j``
    with ``W_1[j, :] = 0`` outputs the constant ``a_j = activation(b_{1,j})`` whatever ``x``, so its
    contribution ``W_2[:, j] a_j`` moves into ``second``'s bias and the unit goes:

    .. math::

        W_1' = W_1[K], \quad b_1' = b_1[K], \quad W_2' = W_2[:, K], \quad
        b_2' = b_2 + W_2[:, \bar K]\, a_{\bar K}

    (``K`` the live units). Same outputs, ``|K| (in + out)`` weights instead of
    ``units (in + out)``; use it on an :func:`export`-ed unit-pruned model.

    Args:
        first, second: plain ``nn.Linear`` layers (not generalized), ``second.in_features ==
            first.out_features``.
        activation: the elementwise function between them (default ``torch.relu``).

    Returns:
        ``(first', second')``, new ``nn.Linear`` layers (same dtype, device and mode).

    Raises:
        ValueError: layers that are not plain, chained ``nn.Linear`` layers.
    """
    for name, layer in (("first", first), ("second", second)):
        if not isinstance(layer, nn.Linear) or parametrize.is_parametrized(layer):
            raise ValueError(f"{name} must be a plain nn.Linear (export the generalized model first: "
                             f"glth_core.export(model)), got {type(layer).__name__}")
    if second.in_features != first.out_features:
        raise ValueError(f"second reads {second.in_features} features but first outputs {first.out_features}; "
                         "pass two consecutive layers")
    w1, w2 = first.weight, second.weight
    alive = w1.ne(0).any(dim=1)
    b1 = first.bias if first.bias is not None else torch.zeros(w1.shape[0], dtype=w1.dtype, device=w1.device)
    carried = w2[:, ~alive] @ activation(b1[~alive])
    needs_bias = second.bias is not None or bool(carried.ne(0).any())
    kept = int(alive.sum())
    new_first = nn.Linear(first.in_features, kept, bias=first.bias is not None, dtype=w1.dtype, device=w1.device)
    new_second = nn.Linear(kept, second.out_features, bias=needs_bias, dtype=w2.dtype, device=w2.device)
    new_first.weight.copy_(w1[alive])
    if first.bias is not None:
        new_first.bias.copy_(b1[alive])
    new_second.weight.copy_(w2[:, alive])
    if needs_bias:
        new_second.bias.copy_(carried + (second.bias if second.bias is not None else 0))
    new_first.train(first.training)
    new_second.train(second.training)
    return new_first, new_second
