"""Three models written with plain ``torch.nn``, as a user would write them (chapter 07, "Your own model").

None of them knows about bases or masks: :func:`glth_core.generalize` finds their weights.

* :class:`RowTransformer`: image rows as tokens, ``nn.TransformerEncoder``, a two-layer head;
* :class:`RowLSTM`: image rows as a sequence, ``nn.LSTM``, a two-layer head;
* :func:`resnet18`: torchvision's ResNet-18 with a first convolution for grey images.

:func:`tutorial_parameters` checks the chapter's parameters; :data:`UNIT_PAIRS`,
:data:`UNIT_LAYERS` and :data:`LOW_RANK_LAYERS` name the layers of each model that the
chapter's structured tickets prune.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["RowTransformer", "RowLSTM", "resnet18", "MODELS", "build", "tutorial_parameters", "UNIT_PAIRS",
           "UNIT_LAYERS", "LOW_RANK_LAYERS", "accuracy"]


class RowTransformer(nn.Module):
    """Image rows as tokens: a linear embedding plus a learned position embedding, a Transformer encoder,
    and a two-layer head on the flattened tokens. Input ``(n, 1, H, W)``, output ``(n, classes)``."""

    def __init__(self, height, width, classes=10, d=64, heads=4, feedforward=256, layers=2, hidden=256):
        super().__init__()
        self.embed = nn.Linear(width, d)
        self.position = nn.Embedding(height, d)
        layer = nn.TransformerEncoderLayer(d, heads, feedforward, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(height * d, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x):
        tokens = self.embed(x[:, 0]) + self.position.weight
        return self.head(self.encoder(tokens))


class RowLSTM(nn.Module):
    """Image rows as a sequence: an LSTM, then a two-layer head on its last output.
    Input ``(n, 1, H, W)``, output ``(n, classes)``."""

    def __init__(self, height, width, classes=10, hidden=128):
        super().__init__()
        self.lstm = nn.LSTM(width, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x):
        out, _ = self.lstm(x[:, 0])
        return self.head(out[:, -1])


def resnet18(height, width, classes=10):
    """torchvision's ResNet-18 with a first convolution for grey images (``height``/``width`` unused)."""
    import torchvision

    model = torchvision.models.resnet18(num_classes=classes)
    model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model


MODELS = {"transformer": RowTransformer, "lstm": RowLSTM, "resnet18": resnet18}

#: Pairs ``Linear -> activation -> Linear`` whose hidden units a unit-pruned ticket can remove.
UNIT_PAIRS = {"transformer": [("encoder.layers.0.linear1", "encoder.layers.0.linear2"),
                              ("encoder.layers.1.linear1", "encoder.layers.1.linear2"), ("head.1", "head.3")],
              "lstm": [("head.0", "head.2")], "resnet18": []}
#: Layers unit-pruned where a model has no such pair (ResNet-18: each block's first convolution).
UNIT_LAYERS = {"resnet18": [f"layer{i}.{j}.conv1" for i in range(1, 5) for j in range(2)]}
#: Large Linear layers, called as modules, that a low-rank ticket factorises.
LOW_RANK_LAYERS = {"transformer": ["head.1"], "lstm": ["head.0"], "resnet18": ["fc"]}


def build(name: str, height: int, width: int, seed: int = 0) -> nn.Module:
    """The model ``name`` of :data:`MODELS` for ``(1, height, width)`` images, its weights drawn with ``seed``.

    Raises:
        ValueError: an unknown name.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    torch.manual_seed(seed)
    return MODELS[name](height, width)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    """Test accuracy (%) of ``model`` (set to eval mode) on ``x`` ``(n, ...)`` with labels ``y`` ``(n,)``."""
    model.eval()
    hits = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(x), batch))
    return 100 * hits / len(x)


def tutorial_parameters(namespace: Mapping) -> dict:
    """Chapter 07's parameters, checked, with ``None`` resolved (smoke: the first two models, fewer steps).

    The chapter refuses undeclared papermill parameters first (:func:`glth_core.book.chapter.check_parameters`).

    Raises:
        ValueError, TypeError: naming the parameter that is wrong and what it must be.
    """
    import os

    from .chapter import require_bool, require_fraction, require_int, require_names, smoke_scheduler

    p = dict(namespace)
    smoke = p["smoke"]
    require_bool("smoke", smoke)
    defaults = {"models": list(MODELS)[:2] if smoke else list(MODELS), "steps": 8 if smoke else 150,
                "resnet_steps": 3 if smoke else 40, "batch_sizes": [1, 8] if smoke else [1, 16, 128],
                "repeats": 2 if smoke else 15}
    p = {name: p[name] for name in ("smoke", "models", "steps", "resnet_steps", "batch_size", "lr", "density",
                                    "unit_density", "rank_density", "batch_sizes", "repeats", "results_dir")}
    p.update({name: value for name, value in defaults.items() if p[name] is None})
    require_names("models", p["models"], MODELS)
    for name in ("steps", "resnet_steps", "batch_size", "repeats"):
        require_int(name, p[name], 1)
    for name in ("lr", "density", "unit_density", "rank_density"):
        require_fraction(name, p[name])
    sizes = p["batch_sizes"]
    if not isinstance(sizes, list) or not sizes or any(isinstance(b, bool) or not isinstance(b, int) or b < 1
                                                       for b in sizes):
        raise ValueError(f"parameter batch_sizes must be a non-empty list of integers >= 1, got {sizes!r}")
    if p["results_dir"] is not None and not isinstance(p["results_dir"], (str, os.PathLike)):
        raise ValueError(f"parameter results_dir must be None or a folder path, got {p['results_dir']!r}")
    if smoke:
        smoke_scheduler("serial")  # one torch thread: the smoke models are tiny
    print(f"models {p['models']}; {p['steps']} steps ({p['resnet_steps']} for ResNet-18) of batch "
          f"{p['batch_size']}; element ticket density {p['density']}, unit density {p['unit_density']}, "
          f"rank density {p['rank_density']}")
    return p
