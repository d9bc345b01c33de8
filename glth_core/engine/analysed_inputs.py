r"""The first layer's inputs, analysed once per run instead of once per step.

When a model's first generalized layer is a Linear with an input transform and no offset,
training can feed it ``A x`` computed once on the whole training set (:func:`input_analysis_layer`
decides, :class:`AnalysedInputs` keeps the result across the rounds of a run).
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.internals import tensor_version
from ..core.fast_forward import analyse_inputs, inputs_analysed, require_analysable
from ..core.parametrization import generalized_layers

__all__ = ["AnalysedInputs", "input_analysis_layer"]


def input_analysis_layer(model: nn.Module, x: torch.Tensor) -> nn.Module | None:
    """The generalized ``nn.Linear`` whose input analysis can be done once on the data ``x``, or None.

    That is the model's first generalized layer if it is a Linear with an input
    transform and no offset, and if the model's outputs on the first examples of
    ``x`` are the same (float round-off) when that layer reads analysed inputs.
    """
    layers = list(generalized_layers(model).values())
    if not layers or len(x) == 0:
        return None
    layer = layers[0]
    try:
        gw = require_analysable(layer)
    except ValueError:  # not a plain generalized Linear, or it has an offset
        return None
    if not gw.basis.active_input_axes or x[0].numel() != layer.in_features:
        return None
    sample = x[:16]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            expected = model(sample)
            with inputs_analysed(layer):
                got = model(analyse_inputs(layer, sample))
    finally:
        model.train(was_training)
    if not isinstance(expected, torch.Tensor) or got.shape != expected.shape:
        return None
    scale = expected.abs().max().item() or 1.0
    return layer if torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * scale) else None


class AnalysedInputs:
    """The training inputs analysed for a first layer, kept for the next :func:`~glth_core.engine.training.train` call.

    Pass one instance to every round of a run: it is reused while the data tensor
    (same object, same in-place version, same device) and the layer's input
    transforms (equal tables) are the same, and recomputed otherwise.
    """

    def __init__(self):
        self._entry = None

    @staticmethod
    def _tables(layer: nn.Module) -> list[torch.Tensor]:
        basis = layer.parametrizations.weight[0].basis
        return [b for _, t in basis.active_input_axes for b in t.buffers()]

    def get(self, layer: nn.Module, data: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``analyse_inputs(layer, x)``, where ``x`` is ``data`` on the training device."""
        tables = self._tables(layer)
        entry = self._entry
        if (entry is not None and entry[0] is data and entry[1] == tensor_version(data) and entry[2] == x.device
                and len(entry[3]) == len(tables)
                and all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(entry[3], tables))):
            return entry[4]
        analysed = analyse_inputs(layer, x)
        self._entry = (data, tensor_version(data), x.device, [t.detach().clone() for t in tables], analysed)
        return analysed

