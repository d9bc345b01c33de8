r"""Inference cost of exported models, measured side by side in one run.

:func:`latency_table` times a forward pass of several models on the same
inputs, interleaved (model after model, each repeat starting with the next
model, so none is always timed first) so that a slower
phase of a busy machine hits them alike, and reports the fastest of
``repeats`` timings per model and batch size with its ratio to a baseline:

* ``seconds``: the shortest wall-clock time of one forward pass
  (``torch.inference_mode``). Other processes only ever add time to a
  pass, so on a shared machine the minimum is the least disturbed estimate
  of what the model costs (the reasoning of Python's ``timeit``); the
  median mixes in the load;
* ``throughput``: examples per second, ``batch / seconds``;
* ``speedup``: ``seconds(baseline) / seconds`` at the same batch size (> 1: faster
  than the baseline; at a fixed batch it is also the throughput ratio).

Absolute times depend on the machine, its load and the number of torch
threads; ratios measured in one run are what carries over.
"""
from __future__ import annotations

import time
from typing import Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor, nn

__all__ = ["latency_table"]


def latency_table(models: Mapping[str, nn.Module], make_input: Callable[[int], Tensor],
                  batch_sizes: Sequence[int] = (1, 16, 128), *, repeats: int = 20, warmup: int = 2,
                  baseline: str | None = None) -> pd.DataFrame:
    """Shortest forward time of each model at each batch size, with ratios to ``baseline``.

    Args:
        models: ``{name: model}``; each is put in evaluation mode.
        make_input: ``batch -> input tensor`` (the same input is fed to every model).
        batch_sizes: batch sizes to time.
        repeats: timed passes per model and batch size (the shortest is reported).
        warmup: untimed passes first (allocations, lazy initialisation).
        baseline: the model the ratios refer to (default: the first).

    Returns:
        A tidy DataFrame, one row per model and batch size: ``model, batch, seconds,
        throughput, speedup`` (module docstring).

    Raises:
        ValueError: no models, an unknown baseline, or non-positive sizes or repeats.
    """
    if not models:
        raise ValueError("models must name at least one model, e.g. {'dense': plain_model}")
    baseline = next(iter(models)) if baseline is None else baseline
    if baseline not in models:
        raise ValueError(f"baseline {baseline!r} is not one of the models {list(models)}")
    if repeats < 1 or warmup < 0 or not batch_sizes or any(int(b) < 1 for b in batch_sizes):
        raise ValueError(f"repeats must be >= 1, warmup >= 0 and batch sizes >= 1, got repeats={repeats}, "
                         f"warmup={warmup}, batch_sizes={list(batch_sizes)}")
    for model in models.values():
        model.eval()
    rows = []
    with torch.inference_mode():
        for batch in batch_sizes:
            x = make_input(int(batch))
            for model in models.values():
                for _ in range(warmup):
                    model(x)
            timings: dict[str, list[float]] = {name: [] for name in models}
            names = list(models)
            for r in range(repeats):  # each repeat starts with the next model: no model is always first
                for name in names[r % len(names):] + names[:r % len(names)]:
                    model = models[name]
                    start = time.perf_counter()
                    model(x)
                    timings[name].append(time.perf_counter() - start)
            best = {name: min(t) for name, t in timings.items()}
            for name, seconds in best.items():
                rows.append({"model": name, "batch": int(batch), "seconds": seconds, "throughput": batch / seconds,
                             "speedup": best[baseline] / seconds})
    return pd.DataFrame(rows, columns=["model", "batch", "seconds", "throughput", "speedup"])
