r"""One round of training on in-memory tensors, seeded end to end.

The data sets used here fit in memory, so batches are slices of one tensor on
the training device (no DataLoader, no worker processes). The data order of
epoch ``e`` is the ``e``-th ``torch.randperm`` drawn from a
``torch.Generator`` seeded with ``seed``, so a round that starts at iteration
``k > 0`` (late rewinding) sees exactly the batches an uninterrupted run
would see from step ``k`` on. ``torch.manual_seed(seed)`` is also set inside
a forked RNG for any stochastic layer. With the same hyperparameters, seed and
thread count, numbers are bit-identical on CPU.

Learning rate at iteration ``t`` (0-based, ``I`` iterations per epoch)::

    lr(t) = lr * min(1, (t + 1) / warmup) * gamma ** #{m in milestones : t >= m * I}

A generalized first ``nn.Linear`` that reads the model's input (an MLP on
images) applies its input transform to every batch; that transform is a fixed
map of the data, so :func:`train` analyses the training set once per call
(:func:`glth_core.core.parametrization.analyse_inputs`, one more copy of the
training inputs on the device) and feeds the analysed rows to the layer
(:func:`~glth_core.core.parametrization.inputs_analysed`). It checks first, on a few
examples, that this gives the model's outputs (a layer behind any operation
that does not commute with the transform is left alone). Outputs agree to
float round-off; ``pre_analyse=False`` turns it off. Analysing costs what the
per-batch transforms of one epoch cost, so the engine keeps the analysed set
for all rounds of a run (:class:`~glth_core.engine.analysed_inputs.AnalysedInputs`).

Evaluation runs under ``torch.no_grad()`` and synthesises each generalized weight once; the
weight is kept (contiguous, keyed on the versions of the coefficients, mask and basis) until a
training step changes it, so evaluating test and validation sets after the same step, or a
model that did not change, synthesises nothing again. Weights under other parametrizations are
synthesised once per evaluation (``torch.nn.utils.parametrize.cached()``).
A loss that is NaN, infinite or above ``MAX_LOSS`` raises
:class:`TrainingDiverged` naming the round and step. On a CPU the loss is
checked after every step; on a GPU every ``LOSS_CHECK_EVERY["cuda"]`` steps, from
the losses kept on the device, so that a step needs no transfer to the host
(``loss.item()`` waits for the GPU to finish). The check does not change the
numbers, only how many steps a diverged round runs on before it stops.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from .hparams import TrainingHparams
from ..core.fast_forward import analyse_inputs, inputs_analysed, serves_cached_weights
from .analysed_inputs import AnalysedInputs, input_analysis_layer

__all__ = [
    "TrainingDiverged",
    "TrainResult",
    "MAX_LOSS",
    "LOSS_CHECK_EVERY",
    "resolve_device",
    "iterations_per_epoch",
    "total_iterations",
    "lr_factor",
    "make_optimizer",
    "evaluate",
    "train",
    "progress_enabled",
    "AnalysedInputs",
    "input_analysis_layer",
]


#: A training loss above this is treated as divergence (cross-entropy starts near log(classes)).
MAX_LOSS = 1e4
#: Steps between two divergence checks of the training loss, by device type.
LOSS_CHECK_EVERY = {"cpu": 1, "cuda": 64}


class TrainingDiverged(RuntimeError):
    """The training loss became NaN/inf or exceeded ``MAX_LOSS``."""

    def __init__(self, round_index: int, step: int, loss: float):
        self.round_index, self.step, self.loss = round_index, step, loss
        super().__init__(
            f"training diverged in round {round_index} at step {step}: loss = {loss}; "
            f"lower --lr, add --warmup-iterations, or check the data (finished rounds are kept)"
        )


@dataclass
class TrainResult:
    """Outcome of :func:`train`. Accuracies are fractions in [0, 1]."""

    test_accuracy: float
    test_loss: float
    best_accuracy: float  # best evaluation accuracy (validation if given, else test)
    best_iteration: int
    val_accuracy: float | None
    iterations: int  # last iteration reached (total of the schedule)
    snapshot: dict | None = None  # snapshot_fn(model) after `snapshot_at` iterations
    history: list[dict] = field(default_factory=list)


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"``: CUDA if available, else CPU; otherwise ``torch.device(device)``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N' (a str or torch.device), got {device!r}")
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but CUDA is not available; use device='cpu' or 'auto'")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                         "use cuda:0 .. cuda:N-1 or 'auto'")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {str(device)!r} is not supported: use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    return device


def progress_enabled(progress: bool | None) -> bool:
    """``progress=None``: show bars only when stderr is a terminal."""
    if progress is None:
        import sys

        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def progress_bar(**kwargs):
    """A ``tqdm.auto`` progress bar (a widget in notebooks with ipywidgets, text elsewhere).

    ``tqdm.auto`` warns once when ipywidgets is missing and falls back to text; the
    warning (which names a local path) is silenced, the fallback is what we want.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm
    return tqdm(**kwargs)


def iterations_per_epoch(num_examples: int, batch_size: int) -> int:
    """``ceil(num_examples / batch_size)``: the last batch of an epoch may be smaller."""
    return max(1, math.ceil(num_examples / batch_size))


def total_iterations(hp: TrainingHparams, num_examples: int) -> int:
    """``hp.iterations`` if > 0, else ``hp.epochs * iterations_per_epoch``."""
    if hp.iterations > 0:
        return hp.iterations
    return hp.epochs * iterations_per_epoch(num_examples, hp.batch_size)


def lr_factor(iteration: int, hp: TrainingHparams, per_epoch: int) -> float:
    """Multiplier of ``hp.lr`` at 0-based ``iteration`` (warm-up times step decay)."""
    factor = 1.0
    if hp.warmup_iterations > 0:
        factor = min(1.0, (iteration + 1) / hp.warmup_iterations)
    passed = sum(1 for m in hp.milestones if iteration >= m * per_epoch)
    return factor * hp.gamma**passed


def make_optimizer(params, hp: TrainingHparams) -> torch.optim.Optimizer:
    """SGD (momentum, L2 weight decay) or Adam (L2 weight decay) at the peak ``hp.lr``."""
    params = list(params)
    if not params:
        raise ValueError("the model has no trainable parameters")
    if hp.optimizer == "sgd":
        return torch.optim.SGD(params, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
    if hp.optimizer == "adam":
        return torch.optim.Adam(params, lr=hp.lr, weight_decay=hp.weight_decay)
    raise ValueError(f"unknown optimizer {hp.optimizer!r}; valid names: sgd, adam")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``model`` on ``(x, y)``, in eval mode.

    Generalized weights are synthesised once and kept while the model does not change
    (:func:`~glth_core.core.parametrization.serves_cached_weights`); other parametrized weights
    once per call (``parametrize.cached()``). The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    correct, loss_sum = 0, 0.0
    parametrized = [m for m in model.modules() if parametrize.is_parametrized(m)]
    # generalized layers keep their synthesised weights across calls (keyed on the coefficients'
    # versions), so consecutive evaluations of an unchanged model synthesise nothing
    caching = (contextlib.nullcontext() if all(serves_cached_weights(m) for m in parametrized)
               else parametrize.cached())
    with caching:
        for i in range(0, len(x), batch_size):
            logits = model(x[i : i + batch_size])
            target = y[i : i + batch_size]
            loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
            correct += (logits.argmax(1) == target).sum().item()
    model.train(was_training)
    n = max(1, len(x))
    return correct / n, loss_sum / n


def _state_clone(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train(
    model: nn.Module,
    train_data: tuple[torch.Tensor, torch.Tensor],
    test_data: tuple[torch.Tensor, torch.Tensor],
    hp: TrainingHparams,
    *,
    seed: int,
    round_index: int = 0,
    start_iteration: int = 0,
    snapshot_at: Optional[int] = None,
    snapshot_fn: Callable[[nn.Module], dict] = _state_clone,
    val_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    pre_analyse: bool = True,
    analysed_inputs: AnalysedInputs | None = None,
    loss_check_every: int | None = None,
) -> TrainResult:
    """Train ``model`` in place from ``start_iteration`` to the end of the schedule.

    ``train_data``/``test_data``/``val_data``: ``(x, y)`` with ``x`` of shape
    ``(n, *input_shape)`` float and ``y`` of shape ``(n,)`` int64. Only
    parameters with ``requires_grad`` are optimised (a fresh optimiser each
    call). If ``snapshot_at`` is given (``start_iteration <= snapshot_at <=
    total``), ``snapshot_fn(model)`` is taken after that many iterations and
    returned in ``result.snapshot``. ``pre_analyse``: analyse the training
    inputs of a first generalized Linear once (module docstring);
    ``analysed_inputs``: keep them there for the next call.
    ``loss_check_every``: steps between divergence checks (default
    :data:`LOSS_CHECK_EVERY` of the device). Raises :class:`TrainingDiverged`.
    """
    device = resolve_device(device)
    check_every = LOSS_CHECK_EVERY.get(device.type, 1) if loss_check_every is None else loss_check_every
    if isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1:
        raise ValueError(f"loss_check_every must be an int >= 1, got {loss_check_every!r}")
    model.to(device)
    x_train, y_train = (t.to(device) for t in train_data)
    x_test, y_test = (t.to(device) for t in test_data)
    if val_data is not None:
        x_val, y_val = (t.to(device) for t in val_data)
    n = len(x_train)
    if n == 0:
        raise ValueError("train_data is empty")
    per_epoch = iterations_per_epoch(n, hp.batch_size)
    total = total_iterations(hp, n)
    if not 0 <= start_iteration <= total:
        raise ValueError(f"start_iteration={start_iteration} outside the schedule [0, {total}]")
    if snapshot_at is not None and not start_iteration <= snapshot_at <= total:
        raise ValueError(
            f"rewind iteration {snapshot_at} is outside the {total} iterations of a round; lower --rewind-iteration"
        )
    eval_every = hp.eval_every or per_epoch
    first = input_analysis_layer(model, x_train) if pre_analyse else None
    if first is None:
        x_fit = x_train
    elif analysed_inputs is not None:
        x_fit = analysed_inputs.get(first, train_data[0], x_train)
    else:
        x_fit = analyse_inputs(first, x_train)

    def forward(batch: torch.Tensor) -> torch.Tensor:
        if first is None:
            return model(batch)
        with inputs_analysed(first):
            return model(batch)

    optimizer = make_optimizer((p for p in model.parameters() if p.requires_grad), hp)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: lr_factor(t + start_iteration, hp, per_epoch))
    generator = torch.Generator().manual_seed(seed)
    result = TrainResult(math.nan, math.nan, -1.0, 0, None, total)

    def record(iteration: int) -> None:
        test_acc, test_loss = evaluate(model, x_test, y_test)
        entry = {"iteration": iteration, "test_accuracy": test_acc, "test_loss": test_loss}
        watched = test_acc
        if val_data is not None:
            val_acc, val_loss = evaluate(model, x_val, y_val)
            entry.update(val_accuracy=val_acc, val_loss=val_loss)
            watched = val_acc
            result.val_accuracy = val_acc
        if watched > result.best_accuracy:
            result.best_accuracy, result.best_iteration = watched, iteration
        result.test_accuracy, result.test_loss = test_acc, test_loss
        result.history.append(entry)

    if snapshot_at == start_iteration:
        result.snapshot = snapshot_fn(model)

    show = progress_enabled(progress)
    bar = None
    if show:
        bar = progress_bar(total=total, initial=start_iteration, desc=f"round {round_index}", unit="step", leave=False)
    model.train()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        iteration = 0
        epoch = 0
        pending: list[tuple[int, torch.Tensor]] = []  # (step, loss on the device) not yet checked
        loss_value = math.nan
        while iteration < total:
            order = torch.randperm(n, generator=generator).to(device)
            for start in range(0, n, hp.batch_size):
                if iteration >= total:
                    break
                if iteration < start_iteration:  # replay the data order up to the rewind point
                    iteration += 1
                    continue
                index = order[start : start + hp.batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(forward(x_fit[index]), y_train[index])
                pending.append((iteration, loss.detach()))
                if len(pending) >= check_every or iteration + 1 >= total:
                    loss_value = _check_losses(pending, round_index, bar)
                loss.backward()
                optimizer.step()
                scheduler.step()
                iteration += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=epoch, loss=f"{loss_value:.3f}", refresh=False)
                if snapshot_at == iteration:
                    result.snapshot = snapshot_fn(model)
                if iteration % eval_every == 0 and iteration < total:
                    record(iteration)
            epoch += 1
    if pending:
        _check_losses(pending, round_index, bar)
    if bar is not None:
        bar.close()
    record(total)
    return result


def _check_losses(pending: list[tuple[int, torch.Tensor]], round_index: int, bar) -> float:
    """Raise :class:`TrainingDiverged` at the first bad loss of ``pending`` (emptied); return the last loss."""
    if len(pending) == 1:  # the CPU's check after every step: no stacking on the hot path
        values = [pending[0][1].item()]
    else:
        values = torch.stack([loss for _, loss in pending]).double().cpu().tolist()  # one transfer for all
    steps = [step for step, _ in pending]
    pending.clear()
    for step, value in zip(steps, values):
        if not math.isfinite(value) or value > MAX_LOSS:
            if bar is not None:
                bar.close()
            raise TrainingDiverged(round_index, step, value)
    return values[-1]
