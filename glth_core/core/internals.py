"""The private APIs of torch that the core relies on, all in one place (argparse's: :mod:`glth_core.cli.internals`).

Each function wraps one internal that has no public equivalent; ``tests/test_internals.py``
pins every behaviour relied on here, so a torch or Python upgrade that changes one
fails there, by name, rather than deep in a training run.
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = ["parametrize_caching", "install_class_forward", "conv_with_weight", "tensor_version"]


def parametrize_caching() -> bool:
    """Whether a ``torch.nn.utils.parametrize.cached()`` block is active.

    Reads ``parametrize._cache_enabled`` (a nesting counter): inside the block a
    generalized layer takes torch's plain parametrized forward, so that its weight is
    computed once per block as ``cached()`` promises.
    """
    return bool(parametrize._cache_enabled)


def install_class_forward(module: nn.Module, forward) -> None:
    """Set ``forward`` on the class ``register_parametrization`` created for ``module`` alone.

    ``parametrize`` swaps a parametrized module's class for a fresh subclass of its own
    (``Parametrized<Class>``) and restores the original class in
    ``remove_parametrizations``, so the new forward lives and dies with the
    parametrization and no other module sees it.
    """
    cls = type(module)
    if cls is parametrize.type_before_parametrizations(module):
        raise ValueError(f"{cls.__name__} has no parametrized class of its own: register a parametrization first")
    cls.forward = forward


def conv_with_weight(module: nn.Module, x: Tensor, weight: Tensor) -> Tensor:
    """The conv layer ``module`` applied to ``x`` with ``weight`` in place of its own (``_conv_forward``)."""
    return module._conv_forward(x, weight, module.bias)


def tensor_version(t: Tensor) -> int:
    """``t._version``: torch's counter of in-place changes to ``t``'s storage (a cache key)."""
    return t._version
