r"""Is training in a rotated basis the same training? A direct check of SGD's rotation equivariance.

With weights written as :math:`W = Q C` for an orthonormal :math:`Q`, an SGD step on
the coefficients (momentum, L2 weight decay included) is the same step on the weights,
so without a mask every basis follows the same trajectory of :math:`W` up to
floating-point round-off. Adam rescales each coordinate and is not equivariant.

* :func:`probe_network` trains one dense network for a few hundred SGD steps in a basis
  (in a chosen float dtype, optionally nudged by one rounding step of one weight);
* :func:`relative_gap` measures how far two networks are apart (weights, outputs);
* :func:`equivariance_probe` is the chapter's three-row table: a rotated basis against
  the canonical one in float64 and float32, and the round-off control (canonical
  against canonical nudged by one rounding step).
"""
from __future__ import annotations

import pandas as pd
import torch

from ..engine import lottery
from ..core.export import export
from ..engine.hparams import ImpHparams, update
from ..core.parametrization import generalized_layers
from ..engine.training import train

__all__ = ["PROBE_STEPS", "PROBE_WEIGHT_DECAY", "probe_network", "relative_gap", "equivariance_probe"]

#: SGD steps of the probe (short: the gaps of interest are visible after a few hundred steps).
PROBE_STEPS = 200
#: L2 weight decay of the probe (nonzero, so that the check covers the decay term too).
PROBE_WEIGHT_DECAY = 5e-4


def probe_network(hparams: ImpHparams, basis: str, dtype: torch.dtype, *, nudge: bool = False,
                  steps: int = PROBE_STEPS) -> torch.nn.Module:
    """Seed 0's dense network of ``hparams`` after ``steps`` SGD steps in ``basis``, exported to plain layers.

    Args:
        hparams: the run's settings (model, data set, optimiser); rounds, iterations,
            weight decay and milestones are replaced by the probe's (dense, ``steps``
            iterations, :data:`PROBE_WEIGHT_DECAY`, constant rate).
        basis: the basis the coefficients are trained in.
        dtype: ``torch.float64`` or ``torch.float32``: weights and bases are built in it.
        nudge: move the first weight of the second generalised layer up by one rounding
            step (``torch.nextafter``) before training: the round-off control.
        steps: SGD steps (minibatches), on the CPU.

    Returns:
        The trained network as plain ``Linear``/``Conv`` layers in ``dtype``, in eval mode.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    hp = update(hparams, basis=basis, rounds=0, iterations=steps, weight_decay=PROBE_WEIGHT_DECAY, milestones=())
    data = lottery.load_splits(hp.dataset)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # float64 bases are orthonormal to 1e-16
    try:
        net = lottery.generalized_model(hp, data.input_shape, data.num_classes, seed=0)
    finally:
        torch.set_default_dtype(default_dtype)
    if nudge:
        with torch.no_grad():
            weight = net.get_submodule(list(generalized_layers(net))[1]).parametrizations.weight.original
            weight.view(-1)[0] = torch.nextafter(weight.view(-1)[0], torch.tensor(float("inf"), dtype=dtype))
    train(net, (data.train[0].to(dtype), data.train[1]), (data.test[0][:1].to(dtype), data.test[1][:1]),
          hp.training, seed=0, device="cpu", progress=False)
    return export(net).eval()


def relative_gap(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor) -> dict:
    """Largest |difference| of two networks' weights and of their outputs on ``x``, relative to the largest value.

    Args:
        a, b: networks of the same architecture (any float dtypes).
        x: inputs ``(N, ...)``.

    Returns:
        ``{"weights": max over weight tensors of max|W_a - W_b| / max|W_a|,
        "test-set outputs": max|a(x) - b(x)| / max|a(x)|}`` (computed in float64).
    """
    wa, wb = ([p.detach().double() for n, p in m.named_parameters() if n.endswith("weight")] for m in (a, b))
    if len(wa) != len(wb) or any(u.shape != v.shape for u, v in zip(wa, wb)):
        raise ValueError("relative_gap compares two networks of the same architecture; their weights differ in shape")
    with torch.no_grad():
        ya, yb = a(x.to(next(a.parameters()).dtype)).double(), b(x.to(next(b.parameters()).dtype)).double()
    return {"weights": max(float((u - v).abs().max() / u.abs().max()) for u, v in zip(wa, wb)),
            "test-set outputs": float((ya - yb).abs().max() / ya.abs().max())}


def equivariance_probe(hparams: ImpHparams, basis: str, label: str | None = None, *,
                       steps: int = PROBE_STEPS, cache: bool = False, results_dir=None) -> pd.DataFrame:
    """The three gaps of the equivariance check, one row each (index ``pair``; columns of :func:`relative_gap`).

    Rows: ``basis`` against canonical in float64; the same in float32; canonical against
    canonical nudged by one rounding step in float32 (what round-off alone does).

    Args:
        hparams: the run's settings (see :func:`probe_network`).
        basis: the rotated basis to compare with the canonical one.
        label: how ``basis`` is named in the rows (default: ``basis``).
        steps: SGD steps of every probe network.
        cache: keep the gaps in the results folder (``equivariance/<run key>-<basis>-<steps>.csv``,
            written atomically; the run key names the settings and the numeric code), so a rebuilt
            chapter reads them instead of training the probe networks again.
        results_dir: that results folder (default: the engine's, ``$GLTH_RESULTS_DIR`` or ``./results``).
    """
    pairs = pd.Index([f"{label or basis} vs canonical, float64", f"{label or basis} vs canonical, float32",
                      "canonical vs canonical nudged by one rounding, float32"], name="pair")
    path = None
    if cache:
        from ..engine.run_identity import run_key
        from ..storage.store import default_results_dir

        path = default_results_dir(results_dir) / "equivariance" / f"{run_key('imp', hparams)}-{basis}-{steps}.csv"
        if path.is_file():
            return pd.read_csv(path, float_precision="round_trip").set_axis(pairs)
    x = lottery.load_splits(hparams.dataset).test[0]

    def gap(first, second, dtype, nudge=False):
        return relative_gap(probe_network(hparams, first, dtype, nudge=nudge, steps=steps),
                            probe_network(hparams, second, dtype, steps=steps), x)

    gaps = pd.DataFrame([gap(basis, "canonical", torch.float64), gap(basis, "canonical", torch.float32),
                         gap("canonical", "canonical", torch.float32, nudge=True)])
    if path is not None:
        from ..storage.store import atomic_write_csv

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_csv(gaps, path)
    return gaps.set_axis(pairs)
