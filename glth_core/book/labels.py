"""How the book names things to a reader: models, controls and bases (legends, tables, prose).

The one place these labels live; a chapter reads them from here instead of declaring its own.
The basis labels are the basis registry's (:data:`glth_core.core.bases.REGISTRY`, as the mapping :data:`~glth_core.core.bases.BASIS_LABELS`).
"""
from __future__ import annotations

from ..core.bases import BASIS_LABELS, basis_label

__all__ = ["BASIS_LABELS", "basis_label", "MODEL_LABELS", "model_label", "CONTROL_LABELS", "control_label",
           "schedule_label"]

#: Reader's names of the models of :data:`glth_core.engine.models.MODELS`.
MODEL_LABELS = {"lenet300": "LeNet-300-100", "conv2": "Conv-2", "conv4": "Conv-4", "conv6": "Conv-6",
                "small_cnn": "small CNN", "resnet20": "ResNet-20", "mlp1d": "MLP"}

#: Reader's names of the runs of IMP (:data:`glth_core.engine.hparams.CONTROLS`).
CONTROL_LABELS = {"ticket": "IMP ticket", "reinit": "random re-initialisation", "random_mask": "random mask"}


def model_label(name: str) -> str:
    """The reader's name of model ``name`` (:data:`MODEL_LABELS`); an unlisted model keeps its name."""
    return MODEL_LABELS.get(name, name)


def control_label(name: str) -> str:
    """The reader's name of control ``name`` (:data:`CONTROL_LABELS`).

    Raises:
        ValueError: ``name`` is not a control.
    """
    if name not in CONTROL_LABELS:
        raise ValueError(f"unknown control {name!r}; controls: {', '.join(CONTROL_LABELS)}")
    return CONTROL_LABELS[name]


def schedule_label(params) -> str:
    """A training schedule (``optimizer``, ``lr``, ``momentum``, ``weight_decay``, ``epochs``, ``milestones``,
    ``gamma``) in words: ``"5 epochs of SGD, learning rate 0.05, momentum 0.9, learning rate x0.1 after epoch 4"``."""
    words = f"{params['epochs']} epochs of {params['optimizer'].upper()}, learning rate {params['lr']:g}"
    if params["optimizer"] == "sgd":
        words += f", momentum {params['momentum']:g}" if params["momentum"] else ", no momentum"
    if params["weight_decay"]:
        words += f", weight decay {params['weight_decay']:g}"
    milestones = list(params["milestones"])
    plural = "s" if len(milestones) > 1 else ""
    return words + (f", learning rate x{params['gamma']:g} after epoch{plural} {', '.join(map(str, milestones))}"
                    if milestones else ", no decay")
