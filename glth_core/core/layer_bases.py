r"""Per-layer bases: which basis, on which axes, each prunable layer of a model gets.

A *layer-bases spec* overrides a run's single basis for the layers it names. As a
string (the ``--layer-bases`` flag, :attr:`glth_core.engine.hparams.PruningHparams.layer_bases`)
it is a list of ``PATTERN=BASIS[:SIDE]`` entries separated by ``,`` or ``;``::

    "conv*=dct"              # the DCT in every conv layer, the run's --basis elsewhere
    "fc1=dct:in"             # fc1 with the DCT on its input axis only (output axis canonical)
    "conv*=dct; fc1=dct:out" # several entries

It may also be given as pairs ``(("fc1", "dct:in"), ...)`` or a dict. ``PATTERN`` is a
layer's qualified module name or an ``fnmatch`` glob over the names of
:func:`glth_core.core.parametrization.prunable_layers`; a layer takes the *last* entry that
matches it, and a pattern that matches no layer is an error (a typo never passes
silently). ``SIDE`` (:data:`SIDES`):

``both`` (default)
    the basis as :func:`glth_core.generalize` applies it to the whole layer.
``in``
    the input axes only: ``W = C A_in`` (output axis canonical). For a first Linear
    layer that reads images, the input axis is viewed as the image (``image_shape``),
    so the DCT is the 2-D DCT of each input image channel. For the DCT of a conv kernel
    this is the default spatial DCT (the channel axes stay canonical).
``out``
    the output axis only: ``W = A_out^T C`` (input axes canonical).

In tensor terms, a Linear weight ``(out, in)`` with ``side="in"`` has coefficients
``scipy.fft.dct(w, type=2, norm="ortho", axis=1)`` and with ``side="out"``
``scipy.fft.dct(w, type=2, norm="ortho", axis=0)``.
"""
from __future__ import annotations

import fnmatch
from typing import Mapping, Sequence

from .bases import BASIS_NAMES

__all__ = ["SIDES", "parse_layer_bases", "split_side", "resolve_layer_bases", "side_axes"]

#: Axis choices of one layer's basis (module docstring).
SIDES = ("both", "in", "out")

_EXAMPLE = 'e.g. "conv*=dct,fc1=dct:in"'


def split_side(value: str) -> tuple[str, str]:
    """``"dct:in"`` -> ``("dct", "in")``; ``"dct"`` -> ``("dct", "both")``.

    Raises:
        ValueError: unknown basis name or side.
    """
    if not isinstance(value, str):
        raise TypeError(f"a layer's basis must be a string such as 'dct' or 'dct:in', got {value!r}")
    name, _, side = value.strip().partition(":")
    name, side = name.strip(), (side.strip() or "both")
    if name not in BASIS_NAMES:
        raise ValueError(f"unknown basis name {name!r} (in {value!r}): name must be one of "
                         f"{', '.join(map(repr, BASIS_NAMES))}, optionally with ':in' or ':out'")
    if side not in SIDES:
        raise ValueError(f"unknown side {side!r} in layer basis {value!r}; sides: {', '.join(SIDES)} "
                         "(e.g. 'dct:in' for the input axis only)")
    return name, side


def parse_layer_bases(spec) -> tuple[tuple[str, str, str], ...]:
    """The entries ``(pattern, basis, side)`` of a layer-bases spec, in order.

    Args:
        spec: ``""``/``None`` (no override), a string ``"PATTERN=BASIS[:SIDE],..."``,
            a sequence of ``(pattern, "basis[:side]")`` pairs or a dict.

    Returns:
        A tuple of ``(pattern, basis name, side)`` (empty for no override).

    Raises:
        ValueError: an entry without ``=``, an empty pattern, an unknown basis or side.
        TypeError: a spec of another type.
    """
    if spec is None:
        return ()
    if isinstance(spec, str):
        entries = []
        for item in spec.replace(";", ",").split(","):
            if not item.strip():
                continue
            pattern, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"layer bases entry {item.strip()!r} has no '=': write PATTERN=BASIS[:SIDE], "
                                 f"{_EXAMPLE}")
            entries.append((pattern, value))
    elif isinstance(spec, Mapping):
        entries = list(spec.items())
    elif isinstance(spec, Sequence) and all(isinstance(e, Sequence) and not isinstance(e, str) and len(e) == 2
                                             for e in spec):
        entries = [tuple(e) for e in spec]
    else:
        raise TypeError(f"layer bases must be a string {_EXAMPLE}, pairs (('fc1', 'dct:in'),) or a dict, "
                        f"got {spec!r}")
    out = []
    for pattern, value in entries:
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValueError(f"layer bases: empty layer name or pattern before '={value}'; {_EXAMPLE}")
        out.append((pattern.strip(), *split_side(value)))
    return tuple(out)


def resolve_layer_bases(spec, layers: Sequence[str], default: str) -> dict[str, str]:
    """``{layer: "basis" or "basis:side"}`` for every name in ``layers``.

    Args:
        spec: a layer-bases spec (:func:`parse_layer_bases`).
        layers: the model's prunable layer names, in order.
        default: the basis of layers that no entry matches (the run's ``--basis``).

    Returns:
        A dict in ``layers`` order; sides other than ``both`` are kept as a
        ``":side"`` suffix (what :func:`glth_core.generalize` reads).

    Raises:
        ValueError: an entry whose pattern matches none of ``layers`` (the message lists them).
    """
    chosen = {name: default for name in layers}
    for pattern, name, side in parse_layer_bases(spec):
        matched = fnmatch.filter(layers, pattern)
        if not matched:
            raise ValueError(f"layer bases: {pattern!r} matches no prunable layer of this model; its layers are "
                             f"{list(layers)} (use a name or a glob such as 'conv*')")
        for layer in matched:
            chosen[layer] = name if side == "both" else f"{name}:{side}"
    return chosen


def side_axes(side: str, weight_dim: int, default_axes) -> tuple[int, ...] | None:
    """Tensor axes to transform for ``side`` of a weight with ``weight_dim`` axes.

    ``default_axes``: the axes the basis would transform for ``"both"`` (None: all).
    ``"in"`` keeps the default axes other than 0, ``"out"`` keeps axis 0 only.
    Returns None for ``"both"`` (the basis' own default).
    """
    if side == "both":
        return None if default_axes is None else tuple(default_axes)
    axes = range(weight_dim) if default_axes is None else default_axes
    if side == "in":
        return tuple(a for a in axes if a != 0)
    if side == "out":
        return (0,)
    raise ValueError(f"side must be one of {SIDES}, got {side!r}")
