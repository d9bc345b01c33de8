"""The training steps and evaluations that ``benchmarks/run.py`` times and ``benchmarks/profile_bases.py`` profiles.

Two ways of training a generalized model are measured side by side:

* ``"engine"``: the model as ``glth_core.engine.lottery.generalized_model`` builds it (the first layer
  of an MLP sees its input as a ``C x H x W`` image) and stepped as ``glth_core.engine.training.train``
  steps it: a first layer that reads the data gets inputs analysed once beforehand
  (``analyse_inputs`` / ``inputs_analysed``), SGD with momentum, the loss read back with
  ``.item()`` after every step as the engine's divergence check does on a CPU;
* ``"user"``: a practitioner's own loop: ``glth_core.engine.models.build_model`` then plain
  ``glth_core.generalize(model, basis)``, ``torch.optim.SGD(momentum=0.9)``, raw inputs.

Evaluation is the engine's ``glth_core.engine.training.evaluate`` in both (eval mode, ``no_grad``).
Inputs are random (timings do not depend on values) and fixed per case.
"""
from __future__ import annotations

import statistics
import time

import torch
from torch.nn import functional as F

from glth_core.engine.hparams import ImpHparams, update
from glth_core.engine.lottery import generalized_model
from glth_core.engine.models import build_model
from glth_core.core.parametrization import analyse_inputs, generalize, inputs_analysed
from glth_core.engine.training import evaluate, input_analysis_layer

LOOPS = ("engine", "user")


def build(model_name: str, input_shape, basis: str, loop: str, device: torch.device):
    """The model of one case; ``basis="plain"``: the model before ``generalize``."""
    if basis == "plain":
        model = build_model(model_name, input_shape, 10, seed=0)
    elif loop == "engine":
        model = generalized_model(update(ImpHparams(), model=model_name, basis=basis, seed=0, basis_seed=0),
                                  input_shape, 10)
    elif loop == "user":
        model = generalize(build_model(model_name, input_shape, 10, seed=0), basis)
    else:
        raise ValueError(f"loop must be one of {LOOPS}, got {loop!r}")
    return model.to(device)


class Case:
    """One (model, batch, basis, loop): model, optimiser and fixed batches; :meth:`step` and :meth:`evaluate`."""

    def __init__(self, model_name, input_shape, batch, basis, loop, device, eval_examples):
        self.basis, self.loop, self.device = basis, loop, device
        self.model = build(model_name, input_shape, basis, loop, device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9)
        g = torch.Generator().manual_seed(1)
        self.batches = [(torch.randn((batch,) + tuple(input_shape), generator=g).to(device),
                         torch.randint(0, 10, (batch,), generator=g).to(device)) for _ in range(4)]
        self.x_eval = torch.randn((eval_examples,) + tuple(input_shape), generator=g).to(device)
        self.y_eval = torch.randint(0, 10, (eval_examples,), generator=g).to(device)
        self.first = None
        if loop == "engine":  # as training.train does: a first layer reading the input gets it analysed once
            self.first = input_analysis_layer(self.model, self.batches[0][0])
            if self.first is not None:
                self.batches = [(analyse_inputs(self.first, x), y) for x, y in self.batches]
        self.i = 0

    def step(self) -> None:
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        self.optimizer.zero_grad(set_to_none=True)
        if self.first is None:
            logits = self.model(x)
        else:
            with inputs_analysed(self.first):
                logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        if self.loop == "engine" and self.device.type == "cpu":
            loss.detach().item()  # the engine's per-step divergence check
        loss.backward()
        self.optimizer.step()

    def evaluate(self) -> None:
        evaluate(self.model, self.x_eval, self.y_eval, batch_size=1000)


def interleaved_medians(jobs: dict, reps: int, calls: int) -> dict:
    """Median milliseconds per call of each ``jobs`` value (a no-argument callable), over ``reps`` repetitions of
    ``calls`` calls; the order of the jobs rotates every repetition, so a noisy machine slows every job alike."""
    times = {k: [] for k in jobs}
    keys = list(jobs)
    for rep in range(reps):
        for k in keys[rep % len(keys):] + keys[:rep % len(keys)]:
            start = time.perf_counter()
            for _ in range(calls):
                jobs[k]()
            times[k].append((time.perf_counter() - start) / calls * 1e3)
    return {k: statistics.median(t) for k, t in times.items()}


def markdown_table(header: str, columns, rows) -> str:
    """``header``, a blank line, then a Markdown table of ``columns`` (names) and ``rows`` (lists of cell strings)."""
    lines = [header, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
