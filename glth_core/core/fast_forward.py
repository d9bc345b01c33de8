r"""The fast forward path of a generalized Linear or Conv layer, and the analysed inputs of training.

:func:`plan` decides, per layer, batch and side, between synthesising the weight ``W`` and
transforming the activations (the cost model of :mod:`glth_core.core.parametrization`);
the forwards installed here follow that plan and fall back to torch's parametrized forward
inside ``parametrize.cached()``.
"""
from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils import parametrize

from .internals import conv_with_weight, install_class_forward, parametrize_caching
from .parametrization import GeneralizedWeight, generalized_layers, generalized_weight

__all__ = ["plan", "analyse_inputs", "inputs_analysed", "require_analysable", "serves_cached_weights"]


def plan(module: nn.Module, batch: int, input_requires_grad: bool = True) -> dict[str, str]:
    """Where a generalized layer applies each side of its basis for a forward+backward pass.

    ``batch``: rows of the input (``x.numel() // in_features`` for Linear).
    Returns ``{"input": side, "output": side}`` with side ``"activation"``,
    ``"weight"`` or ``"none"`` (canonical axis); see the module docstring.
    """
    gw = generalized_weight(module)
    if gw is None:
        raise ValueError("module is not generalized: call glth_core.generalize(model) first")
    fast = isinstance(module, nn.Linear) and len(module.parametrizations.weight) == 1
    act_in, act_out = _activation_sides(gw, fast, batch, input_requires_grad)
    b = gw.basis
    return {"input": "none" if not b.transforms_input else "activation" if act_in else "weight",
            "output": "none" if b.output_transform is None else "activation" if act_out else "weight"}


def _activation_sides(gw: GeneralizedWeight, fast: bool, batch: int, input_requires_grad: bool) -> tuple[bool, bool]:
    """``(input on activations?, output on activations?)`` by the cost model of the module docstring."""
    if not fast or gw.offset is not None or gw.strategy == "weight":
        return False, False
    if gw.strategy == "activation":
        return True, True
    out_features, in_features = gw.basis.shape
    return batch * (2 if input_requires_grad else 1) < 2 * out_features, batch < in_features


def _linear_forward(self: nn.Linear, x: Tensor) -> Tensor:
    """Forward of a generalized ``nn.Linear`` (installed on its parametrized class).

    Written for little per-call overhead: a LeNet step at batch 60 spends a good part of
    its time in Python, so the cost model is a few comparisons and the transforms are
    walked as plain tuples.
    """
    params = self.parametrizations.weight
    gw = params[0] if len(params) == 1 else None
    if not isinstance(gw, GeneralizedWeight):
        return parametrize.type_before_parametrizations(self).forward(self, x)
    c = params.original
    b = gw.basis
    in_features = b.shape[1]
    if gw.inputs_analysed:  # x holds rows x A_in^T already: only the output side is left
        act_in, act_out = True, _activation_sides(gw, True, x.numel() // in_features, False)[1]
    else:
        if parametrize_caching():
            return parametrize.type_before_parametrizations(self).forward(self, x)
        if not (torch.is_grad_enabled() and c.requires_grad):
            return F.linear(x, gw.cached_weight(c), self.bias)
        if b.is_canonical:
            w = gw.mask * c
            return F.linear(x, w if gw.offset is None else w + gw.offset, self.bias)
        act_in, act_out = _activation_sides(gw, True, x.numel() // in_features if in_features else 0,
                                            x.requires_grad)
        act_in = act_in and bool(b.active_input_axes)
        if not act_in and not (act_out and b.output_transform is not None):
            return F.linear(x, self.weight, self.bias)
    out_transform = b.output_transform if act_out else None
    coeffs = gw.mask * c
    weight_axes = [j for j, _ in b.active_axes if not (act_out if j == 0 else act_in)]
    if weight_axes:
        coeffs = b.apply_transforms(coeffs, inverse=True, axes=weight_axes)
    flat = x.dim() == 2
    x2 = x if flat else x.reshape(-1, in_features)
    if act_in and not gw.inputs_analysed:
        x2 = b.analyse_inputs(x2)
    if out_transform is not None:
        z = out_transform.synthesize_rows(F.linear(x2, coeffs), self.bias)
    else:
        z = F.linear(x2, coeffs, self.bias)
    return z if flat else z.reshape(x.shape[:-1] + (z.shape[-1],))


def require_analysable(module: nn.Module) -> GeneralizedWeight:
    """The parametrization of a layer whose input analysis can be taken out of its forward, or a ValueError."""
    gw = generalized_weight(module)
    if gw is None:
        inner = list(generalized_layers(module)) if isinstance(module, nn.Module) else []
        if inner:
            raise ValueError(f"pass the generalized Linear layer that reads the data (one of {inner}, e.g. "
                             f"model.{inner[0]}), not the whole model")
        raise ValueError("module is not generalized: call glth_core.generalize(model) first")
    if not isinstance(module, nn.Linear) or len(module.parametrizations.weight) != 1:
        raise ValueError(f"only a generalized nn.Linear with no other parametrization reads analysed inputs, "
                         f"got {type(module).__name__}")
    if gw.offset is not None:
        raise ValueError("a layer with an offset W0 (random-subspace mode) needs its raw inputs for x W0^T; "
                         "run it without inputs_analysed")
    return gw


@torch.no_grad()
def analyse_inputs(module: nn.Module, x: Tensor, chunk: int = 8192) -> Tensor:
    """``x A_in^T``: the inputs of the generalized ``nn.Linear`` ``module`` in its input basis.

    ``x`` has shape ``(n, ...)`` with ``prod(...) == in_features`` (images are
    flattened row-major, as ``nn.Flatten`` does); returns the same shape (contiguous), computed
    ``chunk`` rows at a time, without autograd. Feed the result to the model inside
    :func:`inputs_analysed`.
    """
    gw = require_analysable(module)
    in_features = gw.basis.shape[1]
    if not isinstance(x, Tensor) or x.dim() < 1 or x[0].numel() != in_features:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must have shape (n, ...) with {in_features} numbers per row (the layer's "
                         f"in_features), got {shape}")
    rows = x.reshape(len(x), in_features)
    out = torch.cat([gw.basis.analyse_inputs(rows[i:i + chunk]) for i in range(0, len(rows), chunk)]) \
        if len(rows) else rows.clone()
    return out.reshape(x.shape).contiguous()  # batches sliced from it flatten without copies


@contextlib.contextmanager
def inputs_analysed(module: nn.Module):
    r"""Within the block, the generalized ``nn.Linear`` ``module`` reads inputs already analysed.

    Its forward then takes ``x`` as ``x A_in^T`` (from :func:`analyse_inputs`) and
    computes ``y = (x A_in^T) C'^T A_out + b``, the same output as ``module(x)``
    outside the block, without transforming the inputs. For the first layer of an
    MLP the input transform is a fixed map of the data, so a training loop can
    analyse the data set once instead of every batch. Everything else (gradients of
    the coefficients, masks, the output side's cost model) is unchanged; inputs that
    were not analysed give wrong outputs inside the block. Not for layers with an
    offset ``W0``. Restores the previous state on exit.
    """
    gw = require_analysable(module)
    previous = gw.inputs_analysed
    gw.inputs_analysed = True
    try:
        yield module
    finally:
        gw.inputs_analysed = previous


def kernel_in_layout(kernel: Tensor, x: Tensor) -> Tensor:
    """``kernel`` in the memory layout of input ``x``: with channels-last strides when ``x`` has them (a
    model that runs its convolutions channels-last; strides set explicitly, since for one channel both
    layouts are "contiguous" and torch would keep the plain one), else plain contiguous."""
    if x.dim() == 4 and x.stride(1) == 1 and x.is_contiguous(memory_format=torch.channels_last):
        return kernel.clone(memory_format=torch.channels_last)
    return kernel.contiguous()


def _conv_forward(self: nn.Module, x: Tensor) -> Tensor:
    """Forward of a generalized conv layer: the weight side, cached when no gradient is needed."""
    gw = generalized_weight(self)
    if gw is not None and not parametrize_caching() and len(self.parametrizations.weight) == 1:
        c = self.parametrizations.weight.original
        # a synthesised kernel can have permuted strides (the DCT's axis moves), and a kernel whose layout
        # differs from the input's makes oneDNN reorder it on every call, forward and backward
        if not (torch.is_grad_enabled() and c.requires_grad):
            return conv_with_weight(self, x, kernel_in_layout(gw.cached_weight(c), x))
        return conv_with_weight(self, x, kernel_in_layout(gw(c), x))
    return parametrize.type_before_parametrizations(self).forward(self, x)


def serves_cached_weights(module: nn.Module) -> bool:
    """Whether ``module``'s forward reuses its synthesised weight under ``torch.no_grad()`` by itself.

    True for a layer :func:`~glth_core.core.generalize.generalize` gave a fast forward, with its :class:`~glth_core.core.parametrization.GeneralizedWeight` as the
    only parametrization: it then keeps its weight across calls until the coefficients, mask, offset
    or basis change, so ``parametrize.cached()`` (which synthesises once per block) is not needed.
    """
    return (type(module).forward in (_linear_forward, _conv_forward) and len(module.parametrizations) == 1
            and len(module.parametrizations.weight) == 1 and generalized_weight(module) is not None)


def _install_fast_forward(module: nn.Module) -> None:
    """Give the module's own parametrized class (created per module by ``parametrize``) a fast forward.

    ``remove_parametrizations`` restores the original class, and with it the plain forward.
    """
    forward = type(module).forward
    if forward is nn.Linear.forward:
        install_class_forward(module, _linear_forward)
    elif forward in (nn.Conv1d.forward, nn.Conv2d.forward, nn.Conv3d.forward):
        install_class_forward(module, _conv_forward)


#: Forwards that :func:`_install_fast_forward` replaces (module types with a fast generalized forward).
_FAST_FORWARDS = (nn.Linear.forward, nn.Conv1d.forward, nn.Conv2d.forward, nn.Conv3d.forward)
