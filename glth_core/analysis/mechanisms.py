r"""Candidate mechanisms of a basis effect: measurements of a ticket, and how well each predicts the effect.

Why does a basis give better (or worse) tickets? Each candidate explanation is a
number per layer of a ticket, measured here, and a candidate *explains* the
effect only if, across configurations (networks, bases, ablations), its value
predicts the measured accuracy difference (:func:`predictive_power`).

Measurements of one layer with weight ``W`` (shape ``(out, in, ...)``), coefficients
``C`` in the ticket's basis and mask ``M`` of density ``rho``:

* **energy compaction** (:func:`energy_at_density`): ``E(rho)``, the fraction of the
  squared norm held by the largest ``rho`` of the coefficients
  (:func:`glth_core.analysis.compaction.energy_fraction`) of the weights at initialisation and
  after dense training, written in the ticket's basis: what magnitude pruning to
  ``rho`` would keep.
* **canonical connectivity** (:func:`connectivity`): the output units (rows of ``W``,
  or output channels) and inputs (columns, or input channels) left with no nonzero
  weight, ``|w| <= atol``. In the canonical basis a ticket disconnects units; the
  synthesised weight of a rotated ticket is dense.
* **effective rank** (:func:`effective_rank`; Roy & Vetterli, 2007): with the
  singular values ``s_i`` of ``W`` viewed as an ``out x (in ...)`` matrix and
  ``p_i = s_i / sum_j s_j``, ``erank = exp(-sum_i p_i log p_i)``, between 1 and
  ``min(out, in ...)``; ``k`` equal nonzero singular values give exactly ``k``.
* **mask overlap** (:func:`jaccard`): ``|A and B| / |A or B|`` of two 0/1 masks.
  IMP masks are nested (``M_{r+1} <= M_r``), so between its rounds the overlap is the
  density ratio; the informative overlaps are with masks chosen otherwise, e.g. the
  largest coefficients at initialisation (:func:`magnitude_mask`).
* **distance travelled** (:func:`distance_travelled`): ``||W_T - W_0||_F / ||W_0||_F``,
  the same in every orthonormal basis (Parseval).

:func:`ticket_measurements` gathers them for every layer of a ticket (a generalized
model) in one tidy table, and :func:`layer_weighted` turns a layer table into one value per network,
each layer weighted by its share of the prunable weights. :func:`predictive_power` takes a table with one row per
configuration, the measured effect (e.g. DCT minus canonical ticket accuracy) and the
candidates' values (e.g. DCT minus canonical compaction), and gives per candidate the
Pearson and Spearman correlations with Fisher-z intervals and the rate at which the
candidate's sign agrees with the effect's, with a Wilson interval; :func:`prediction_sentences`
says in words what such a table supports, and nothing else.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats
import torch
from torch import Tensor, nn

from .compaction import energy_fraction
from ..core.parametrization import generalized_layers, generalized_weight

__all__ = ["effective_rank", "jaccard", "magnitude_mask", "connectivity", "distance_travelled",
           "energy_at_density", "ticket_measurements", "layer_weighted", "predictive_power",
           "prediction_sentences", "MEASUREMENT_COLUMNS", "PREDICTION_COLUMNS"]

#: Columns of :func:`ticket_measurements`.
MEASUREMENT_COLUMNS = ["layer", "basis", "density", "dead_outputs", "dead_inputs", "effective_rank",
                       "effective_rank_fraction", "energy_init", "energy_dense", "distance", "overlap_previous",
                       "overlap_init_magnitude", "weights"]
#: Columns of :func:`predictive_power`.
PREDICTION_COLUMNS = ["candidate", "n", "pearson", "pearson_low", "pearson_high", "spearman", "spearman_low",
                      "spearman_high", "sign_agreement", "sign_low", "sign_high"]


def _as_tensor(x, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 0:
        raise ValueError(f"{name} must have at least one axis, got a 0-d tensor")
    return x.detach().to("cpu", torch.float64)


def effective_rank(weight: Tensor) -> float:
    """Entropy effective rank of ``weight`` viewed as ``(shape[0], prod(shape[1:]))`` (module docstring).

    Args:
        weight: a tensor with at least one axis (a 1-D tensor is one row).

    Returns:
        ``exp(H(p))`` with ``p`` the normalised singular values; NaN for an all-zero weight.
    """
    w = _as_tensor(weight, "weight")
    w = w.reshape(w.shape[0], -1) if w.dim() > 1 else w.reshape(1, -1)
    # singular values from the eigenvalues of the smaller Gram matrix, 20x faster than an SVD of a
    # 300 x 784 layer. Its rounding noise is ~ n * eps * s_max^2, so squared singular values below
    # 100 n eps s_max^2 (s below ~1e-6 s_max in a 300-wide layer) are taken as 0: such a value would add
    # less than 1e-5 to the effective rank
    eigenvalues = torch.linalg.eigvalsh(w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w)
    noise = 100 * max(w.shape) * torch.finfo(torch.float64).eps * float(eigenvalues.max().clamp_min(0))
    s = torch.where(eigenvalues > noise, eigenvalues, 0.0).sqrt()
    total = float(s.sum())
    if total == 0:
        return math.nan
    p = (s / total).numpy()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def jaccard(a: Tensor, b: Tensor) -> float:
    """``|a and b| / |a or b|`` of two 0/1 masks of one shape (1.0 when both are empty)."""
    a, b = _as_tensor(a, "a") != 0, _as_tensor(b, "b") != 0
    if a.shape != b.shape:
        raise ValueError(f"masks must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def magnitude_mask(values: Tensor, keep: int) -> Tensor:
    """0/1 mask of the ``keep`` entries of largest ``|values|`` (ties: the earlier in row-major order)."""
    v = _as_tensor(values, "values").reshape(-1)
    if isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) or not 0 <= keep <= v.numel():
        raise ValueError(f"keep must be an int in [0, {v.numel()}], got {keep!r}")
    order = np.argsort(-np.abs(v.numpy()), kind="stable")[:keep]
    mask = torch.zeros(v.numel(), dtype=torch.float64)
    mask[torch.from_numpy(order.copy())] = 1.0
    return mask.reshape(values.shape)


def connectivity(weight: Tensor, atol: float = 0.0) -> dict[str, float]:
    """Fractions of output units and of inputs of ``weight`` left with no weight above ``atol``.

    Output unit ``i``: the slice ``weight[i]``; input ``j``: the slice ``weight[:, j]``
    (an input channel of a conv kernel, a pixel of a first Linear layer).

    Returns:
        ``{"dead_outputs": fraction, "dead_inputs": fraction}``.
    """
    w = _as_tensor(weight, "weight")
    if w.dim() < 2:
        raise ValueError(f"weight must have an output and an input axis, got shape {tuple(w.shape)}")
    alive = w.abs() > atol
    rows = alive.reshape(w.shape[0], -1).any(dim=1)
    columns = alive.transpose(0, 1).reshape(w.shape[1], -1).any(dim=1)
    return {"dead_outputs": 1 - float(rows.double().mean()), "dead_inputs": 1 - float(columns.double().mean())}


def distance_travelled(initial: Tensor, trained: Tensor) -> float:
    """``||trained - initial||_F / ||initial||_F`` (NaN for an all-zero ``initial``)."""
    w0, w = _as_tensor(initial, "initial"), _as_tensor(trained, "trained")
    if w0.shape != w.shape:
        raise ValueError(f"initial and trained must have the same shape, got {tuple(w0.shape)} and {tuple(w.shape)}")
    norm = float(w0.norm())
    return math.nan if norm == 0 else float((w - w0).norm()) / norm


def _own_coefficients(model: nn.Module, what: str) -> dict[str, tuple[str, Tensor, Tensor]]:
    """``{layer: (basis name, M * C, effective weight)}`` of a generalized model."""
    layers = generalized_layers(model)
    if not layers:
        raise ValueError(f"{what} must be a generalized model (glth_core.generalize or "
                         "glth_core.engine.lottery.generalized_model); it has no generalized layer")
    out = {}
    with torch.no_grad():
        for name, module in layers.items():
            gw = generalized_weight(module)
            c = (gw.mask * module.parametrizations.weight.original).detach().to("cpu", torch.float64)
            out[name] = (gw.basis.name, c, module.weight.detach().to("cpu", torch.float64))
    return out


def energy_at_density(model: nn.Module, densities: Mapping[str, float]) -> dict[str, float]:
    """``{layer: E(100 * densities[layer])}`` of the coefficients of a generalized ``model`` in its own bases.

    Pass the model at initialisation or after dense training (mask all ones), built in
    the basis of the ticket whose densities are given.
    """
    return _energy(model, _own_coefficients(model, "model"), densities)


def _energy(model: nn.Module, own: dict, densities: Mapping[str, float]) -> dict[str, float]:
    pruned = [name for name, m in generalized_layers(model).items() if not bool(generalized_weight(m).mask.all())]
    if pruned:
        raise ValueError(f"layers {pruned} of model are pruned; pass the network before pruning (mask all ones), "
                         "at initialisation or after dense training")
    missing = [name for name in densities if name not in own]
    if missing:
        raise ValueError(f"densities name layers {missing} that the model does not have; its layers are {list(own)}")
    return {name: float(energy_fraction(own[name][1], [100.0 * float(d)])[0]) for name, d in densities.items()}


def ticket_measurements(ticket: nn.Module, *, initial: nn.Module | None = None, dense: nn.Module | None = None,
                        previous_masks: Mapping[str, Tensor] | None = None, atol: float = 0.0) -> pd.DataFrame:
    """Every candidate measurement for every generalized layer of ``ticket`` (one row per layer).

    Args:
        ticket: the trained ticket, a generalized model with its masks.
        initial: the same network at the weights the ticket was rewound to, generalized in
            the ticket's bases (mask all ones): compaction at initialisation, distance
            travelled and the overlap of the mask with the largest initial coefficients.
        dense: the dense trained network in the same bases: compaction after training.
        previous_masks: ``{layer: mask}`` of an earlier round (:func:`glth_core.core.pruning.masks`).
        atol: weights with ``|w| <= atol`` count as absent in :func:`connectivity`.

    Returns:
        A DataFrame with :data:`MEASUREMENT_COLUMNS`; columns whose input was not given are NaN.
        ``effective_rank_fraction``: ``effective_rank / min(out, prod(in ...))``; ``weights``: the
        layer's number of prunable weights (for :func:`layer_weighted`).
    """
    own = _own_coefficients(ticket, "ticket")
    masks = {name: (generalized_weight(m).mask.detach().cpu() != 0)
             for name, m in generalized_layers(ticket).items()}
    densities = {name: float(mask.double().mean()) for name, mask in masks.items()}
    bases_of_ticket = {n: b for n, (b, _, _) in own.items()}
    others = {}
    for model, label in ((initial, "initial"), (dense, "dense")):
        if model is None:
            continue
        others[label] = _own_coefficients(model, label)
        bases = {n: b for n, (b, _, _) in others[label].items()}
        if bases != bases_of_ticket:
            raise ValueError(f"{label} must have the ticket's layers in the ticket's bases: {bases_of_ticket}, "
                             f"got {bases}")
    start = others.get("initial")
    energy_init = _energy(initial, start, densities) if initial is not None else {}
    energy_dense = _energy(dense, others["dense"], densities) if dense is not None else {}
    rows = []
    for name, (basis_name, coefficients_, weight) in own.items():
        erank = effective_rank(weight)
        links = connectivity(weight, atol)
        row = {"layer": name, "basis": basis_name, "density": densities[name], **links,
               "effective_rank": erank,
               "effective_rank_fraction": erank / min(weight.shape[0], weight[0].numel()),
               "energy_init": energy_init.get(name, math.nan), "energy_dense": energy_dense.get(name, math.nan),
               "distance": math.nan, "overlap_previous": math.nan, "overlap_init_magnitude": math.nan,
               "weights": int(weight.numel())}
        if start is not None:
            row["distance"] = distance_travelled(start[name][2], weight)
            kept = int(masks[name].sum())
            row["overlap_init_magnitude"] = jaccard(masks[name], magnitude_mask(start[name][1], kept))
        if previous_masks is not None:
            if name not in previous_masks:
                raise ValueError(f"previous_masks has no layer {name!r}; it has {list(previous_masks)}")
            row["overlap_previous"] = jaccard(masks[name], previous_masks[name])
        rows.append(row)
    return pd.DataFrame(rows, columns=MEASUREMENT_COLUMNS)


def layer_weighted(measurements: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    r"""The network's value of each column: the layers' values weighted by their share of the prunable weights.

    ``sum_l n_l v_l / sum_l n_l`` with ``n_l`` the ``weights`` column (:func:`ticket_measurements`), so a
    layer counts as much as the coefficients that pruning removes from it (the fully connected layer that
    holds 97% of a small CNN's weights decides its value, as it decides its tickets' accuracy).

    Args:
        measurements: one row per layer with a ``weights`` column and ``columns``.
        columns: the measurements to aggregate.

    Returns:
        A Series indexed by ``columns``; NaN for a column with a NaN in any layer (no layer is silently left out).

    Raises:
        ValueError: a missing column, or weights that are not positive.
    """
    missing = [c for c in ["weights", *columns] if c not in measurements.columns]
    if missing:
        raise ValueError(f"measurements has no column(s) {missing}; its columns are {list(measurements.columns)}")
    weights = measurements["weights"].to_numpy(dtype=float)
    if len(weights) == 0 or not (weights > 0).all():
        raise ValueError(f"weights must be positive layer sizes, got {weights.tolist()}")
    values = measurements[list(columns)].to_numpy(dtype=float)
    return pd.Series(weights @ values / weights.sum(), index=list(columns))


def _fisher_interval(r: float, n: int, se: float, confidence: float) -> tuple[float, float]:
    if n < 4 or not math.isfinite(r):
        return math.nan, math.nan
    if abs(r) == 1:
        return r, r
    z, half = math.atanh(r), scipy.stats.norm.ppf((1 + confidence) / 2) * se
    return math.tanh(z - half), math.tanh(z + half)


def predictive_power(table: pd.DataFrame, effect: str, candidates: Sequence[str], *,
                     confidence: float = 0.95) -> pd.DataFrame:
    """How well each candidate column predicts ``effect`` across the rows (configurations) of ``table``.

    Args:
        table: one row per configuration (network, basis, ablation, ...), e.g. the
            paired accuracy difference of a basis against the canonical one and the
            matching differences of the candidates' measurements.
        effect: the column of the measured effect.
        candidates: the candidate columns.
        confidence: level of every interval.

    Returns:
        One row per candidate (:data:`PREDICTION_COLUMNS`), rows with a NaN dropped
        per candidate: ``n``; the Pearson correlation with its Fisher-z interval
        (``scipy.stats.pearsonr``); the Spearman correlation with the Fisher-z
        interval of Bonett & Wright (2000), standard error
        ``sqrt((1 + r^2 / 2) / (n - 3))``; and the fraction of rows where the
        candidate's sign equals the effect's (zeros agree with nothing) with its
        Wilson interval (``scipy.stats.binomtest``). Correlation intervals need
        ``n >= 4`` (NaN otherwise).

    Raises:
        ValueError: a missing column, or a confidence outside (0, 1).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(candidates, str):
        candidates = [candidates]
    missing = [c for c in [effect, *candidates] if c not in table.columns]
    if missing:
        raise ValueError(f"table has no column(s) {missing}; its columns are {list(table.columns)}")
    rows = []
    for candidate in candidates:
        part = table[[effect, candidate]].astype(float).dropna()
        y, x = part[effect].to_numpy(), part[candidate].to_numpy()
        n = int(len(part))
        row = dict.fromkeys(PREDICTION_COLUMNS, math.nan)
        row.update(candidate=candidate, n=n)
        if n >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            pearson = scipy.stats.pearsonr(x, y)
            row["pearson"] = float(pearson.statistic)
            if n >= 4:
                interval = pearson.confidence_interval(confidence)
                row["pearson_low"], row["pearson_high"] = float(interval.low), float(interval.high)
            rho = float(scipy.stats.spearmanr(x, y).statistic)
            se = math.sqrt((1 + rho ** 2 / 2) / (n - 3)) if n > 3 else math.nan
            row["spearman"] = rho
            row["spearman_low"], row["spearman_high"] = _fisher_interval(rho, n, se, confidence)
        if n:
            agree = int((np.sign(x) * np.sign(y) > 0).sum())
            interval = scipy.stats.binomtest(agree, n).proportion_ci(confidence, method="wilson")
            row["sign_agreement"] = agree / n
            row["sign_low"], row["sign_high"] = float(interval.low), float(interval.high)
        rows.append(row)
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)


def _interval(low: float, high: float, digits: int = 2) -> str:
    return f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def prediction_sentences(power: pd.DataFrame, labels: Mapping[str, str] | None = None,
                         unit: str = "configurations") -> list[str]:
    """What a :func:`predictive_power` table supports, in words: one sentence per statement, nothing more.

    First the correlations (which candidates' Pearson interval excludes 0, or that none does, or that
    ``n`` is too small for an interval), then per candidate the sign agreement, ``k of n`` with its
    Wilson interval, and whether that interval lies above or below one half (agreement more or less
    often than not). No sentence says that a candidate is necessary or sufficient: a correlation
    across configurations supports neither.

    Args:
        power: a :func:`predictive_power` table.
        labels: candidate column -> its name in the text (default: the column name).
        unit: what a row of the measured table was, plural ("configurations").

    Returns:
        The sentences, each ending with a full stop.
    """
    labels = dict(labels or {})
    name = lambda c: labels.get(c, c)  # noqa: E731
    sentences = []
    with_interval = power.dropna(subset=["pearson_low", "pearson_high"])
    if with_interval.empty:
        sentences.append(f"With n = {int(power.n.max()) if len(power) else 0} {unit}, no correlation has an "
                         "interval (it needs n >= 4): only the sign agreements below are measured.")
    else:
        excluding = with_interval[(with_interval.pearson_low > 0) | (with_interval.pearson_high < 0)]
        if excluding.empty:
            sentences.append("No candidate's correlation interval excludes 0.")
        for r in excluding.itertuples():
            direction = "positively" if r.pearson > 0 else "negatively"
            sentences.append(f"{name(r.candidate)} is {direction} correlated with the effect across {r.n} {unit}: "
                             f"Pearson r = {r.pearson:+.2f}, 95% interval {_interval(r.pearson_low, r.pearson_high)}.")
    for r in power.itertuples():
        if not r.n:
            sentences.append(f"{name(r.candidate)} was measured in no {unit[:-1] if unit.endswith('s') else unit}.")
            continue
        agree = int(round(r.sign_agreement * r.n))
        side = (" (more often than not: the interval lies above 1/2)" if r.sign_low > 0.5 else
                " (less often than not: the interval lies below 1/2)" if r.sign_high < 0.5 else "")
        sentences.append(f"{name(r.candidate)} agrees in sign with the effect in {agree} of {r.n} {unit}, "
                         f"95% interval {r.sign_low:.2f}-{r.sign_high:.2f}{side}.")
    return [sentence[0].upper() + sentence[1:] for sentence in sentences]
