r"""Chapter 05 (convolutional networks): what its networks' weights look like in each basis.

* :func:`basis_check_table`: the axes each basis variant transforms, and the kernels'
  coefficients checked against SciPy's ``dctn``;
* :func:`prunable_shares`: where a network's prunable weights are (per layer, and conv
  kernels against fully connected layers);
* :func:`noise_energy`: the share of energy held by the largest fraction $q$ of
  uniform and of Gaussian noise (closed forms);
* :func:`energy_table` / :func:`energy_numbers`: energy compaction $E(k)$ of seed 0's
  weights per layer kind, at initialisation, after dense training and for each sparsest
  ticket, read at the density of the sparsest round;
* :func:`multiply_adds_table`: multiply-adds per image, dense and of each sparsest ticket.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["basis_check_table", "prunable_shares", "noise_energy", "sparsest_densities", "energy_table",
           "energy_numbers", "multiply_adds_table", "STATES", "KINDS"]

STATES = ("initialisation", "after dense training", "sparsest ticket")
KINDS = ("conv kernels", "fully connected")


def basis_check_table(runs: Mapping, p: Mapping, splits, tolerance: float = 1e-5) -> pd.DataFrame:
    """One row per basis variant and layer of the first model (seed 0): weight shape, transformed axes,
    and for DCT conv kernels ``max |C - scipy dctn|``.

    Raises:
        AssertionError: a kernel's coefficients differ from SciPy's DCT by ``tolerance`` or more.
    """
    import scipy.fft
    import torch

    from ..core.parametrization import coefficients, generalized_layers
    from ..engine.lottery import generalized_model

    rows = []
    for hp, (m, label) in runs.items():
        if m != p["models"][0] or hp.seed != 0:
            continue
        probe = generalized_model(hp, splits.input_shape, splits.num_classes)
        for name, module in generalized_layers(probe).items():
            basis = module.parametrizations.weight[0].basis
            row = {"variant": label, "layer": name, "weight shape": " x ".join(map(str, basis.shape)),
                   "transformed axes": ", ".join(str(i) for i, t in enumerate(basis.transforms)
                                                 if not t.is_identity) or "none"}
            if isinstance(module, torch.nn.Conv2d) and hp.pruning.basis == "dct":
                axes = (1, 2, 3) if hp.pruning.channel_dct else (2, 3)
                w = module.weight.detach().double().numpy()
                row["max |C - scipy dctn|"] = float(np.abs(coefficients(module).detach().double().numpy()
                                                           - scipy.fft.dctn(w, type=2, norm="ortho", axes=axes)).max())
            rows.append(row)
    table = pd.DataFrame(rows)
    if "max |C - scipy dctn|" in table:
        assert table["max |C - scipy dctn|"].max() < tolerance, "conv coefficients differ from scipy's DCT"
    return table


def prunable_shares(model: str, input_shape, num_classes: int) -> pd.DataFrame:
    """Share (%) of the prunable weights (conv and Linear weights, no biases) of ``model`` per layer.

    Returns:
        One row per layer: ``layer``, ``kind`` ("conv kernels" / "fully connected"), ``weights``,
        ``share (%)``; sorted by share, largest first.
    """
    import torch

    from ..engine.models import build_model

    net = build_model(model, input_shape, num_classes)
    rows = [{"layer": name, "kind": KINDS[0] if isinstance(module, torch.nn.Conv2d) else KINDS[1],
             "weights": module.weight.numel()}
            for name, module in net.named_modules() if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear))]
    table = pd.DataFrame(rows)
    table["share (%)"] = 100 * table["weights"] / table["weights"].sum()
    return table.sort_values("share (%)", ascending=False, kind="stable").reset_index(drop=True)


def noise_energy(q: float) -> tuple[float, float]:
    r"""(uniform, Gaussian): the share of the energy held by the largest fraction ``q`` of i.i.d. noise.

    Uniform on $[-a, a]$: $1 - (1 - q)^3$. Gaussian: $q + 2t\varphi(t)$ with $q = 2(1 - \Phi(t))$.

    Raises:
        ValueError: ``q`` outside (0, 1].
    """
    import scipy.stats

    if not 0 < q <= 1:
        raise ValueError(f"q must be a fraction in (0, 1], got {q!r}")
    t = scipy.stats.norm.isf(q / 2)
    return float(1 - (1 - q) ** 3), float(q + 2 * t * scipy.stats.norm.pdf(t))


def sparsest_densities(p: Mapping, last_round: int) -> tuple[float, float]:
    """(k*, k_next): a hidden layer's density (%) at the sparsest round, and after one more round."""
    k_star = round(100 * (1 - p["fraction"]) ** last_round, 6)
    return k_star, round(k_star * (1 - p["fraction"]), 6)


def _measured(p: Mapping) -> dict:
    from .conv_analysis import DCT_LABELS, basis_variants

    measured = {"canonical": {"basis": "canonical"}, **{label: {"basis": "dct", "channel_dct": flag}
                                                        for flag, label in DCT_LABELS.items()}}
    measured.update({label: ov for label, ov in basis_variants(p).items() if label not in measured})
    return measured


def energy_table(runs: Mapping, p: Mapping, splits, last_round: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Energy compaction of seed 0's weights, mean over the layers of each kind (pruning is per layer).

    Returns:
        ``(curves, at_k)``: ``curves`` has one row per model, layer kind, state, basis and ``k_percent``
        (``energy_fraction``); ``at_k`` is the energy fraction read at k* (at k_next for the sparsest
        tickets), indexed by (model, layers, state), one column per basis.
    """
    from ..analysis import compaction
    from ..core.parametrization import generalized_layers
    from .conv_analysis import variant_order
    from ..engine.lottery import generalized_model, round_model

    k_star, k_next = sparsest_densities(p, last_round)
    k_grid = sorted({*compaction.DEFAULT_K_PERCENT, k_star, k_next})

    def by_kind(net, basis=None, **options):
        import torch

        kinds = {name: KINDS[0] if isinstance(module, torch.nn.Conv2d) else KINDS[1]
                 for name, module in generalized_layers(net).items()}
        curve = compaction.energy_curve(net, basis, k_percent=k_grid, **options)
        curve["layers"] = curve["layer"].map(kinds)
        return curve.groupby(["layers", "k_percent"], as_index=False)["energy_fraction"].mean()

    variants, reference = variant_order(p)
    measured = _measured(p)
    seed0 = {(m, label): hp for hp, (m, label) in runs.items() if hp.seed == 0}
    curves = []
    for m in p["models"]:
        hp0 = seed0[(m, reference)]
        states = {STATES[0]: generalized_model(hp0, splits.input_shape, splits.num_classes),
                  STATES[1]: round_model(hp0, 0, p["results_dir"])}
        for state, net in states.items():
            for label, ov in measured.items():
                options = {"channel_dct": True} if ov.get("channel_dct") else {}
                curves.append(by_kind(net, ov["basis"], **options).assign(model=m, state=state, basis=label))
        for label in variants:
            ticket = round_model(seed0[(m, label)], last_round, p["results_dir"])
            curves.append(by_kind(ticket).assign(model=m, state=STATES[2], basis=label))
    curves = pd.concat(curves, ignore_index=True)
    read_at = np.where(curves["state"] == STATES[2], k_next, k_star)
    at_k = (curves[np.isclose(curves["k_percent"], read_at)]
            .pivot_table(index=["model", "layers", "state"], columns="basis", values="energy_fraction", sort=False))
    return curves, at_k[[c for c in measured if c in at_k.columns]]


def energy_numbers(at_k: pd.DataFrame, model: str, reference: str, compared: str, k_star: float) -> dict:
    """Percentages of ``at_k`` for ``model``, ``compared`` against ``reference``, for the chapter's prose.

    Returns:
        ``{"init_ref", "init_cmp", "dense_conv_ref", "dense_conv_cmp", "dense_fc_ref", "dense_fc_cmp",
        "ticket_ref", "ticket_cmp"}`` (energy, %), ``"change"`` (points: the conv kernels' gap
        ``compared - reference`` after training minus the gap at initialisation) and the words
        ``"conv_word"`` / ``"fc_word"`` ("more" or "less": ``compared`` after training against
        ``reference``). NaN (and "not measured") where a basis was not measured. Also ``uniform`` and
        ``gauss``: the energy (%) of noise at ``k_star`` (:func:`noise_energy`).
    """
    def value(kind, state, basis):
        key = (model, kind, state)
        if basis not in at_k.columns or key not in at_k.index:
            return float("nan")
        return float(100 * at_k.loc[key, basis])

    def word(kind):
        a, b = value(kind, STATES[1], compared), value(kind, STATES[1], reference)
        return "not measured" if np.isnan(a) or np.isnan(b) else ("more" if a > b else "less")

    numbers = {}
    for name, (kind, state) in {"init": (KINDS[0], STATES[0]), "dense_conv": (KINDS[0], STATES[1]),
                                "dense_fc": (KINDS[1], STATES[1]), "ticket": (KINDS[0], STATES[2])}.items():
        numbers[f"{name}_ref"] = value(kind, state, reference)
        numbers[f"{name}_cmp"] = value(kind, state, compared)
    numbers["change"] = ((numbers["dense_conv_cmp"] - numbers["dense_conv_ref"])
                         - (numbers["init_cmp"] - numbers["init_ref"]))
    numbers["conv_word"], numbers["fc_word"] = word(KINDS[0]), word(KINDS[1])
    numbers["uniform"], numbers["gauss"] = (100 * v for v in noise_energy(k_star / 100))
    return numbers


def multiply_adds_table(runs: Mapping, p: Mapping, splits, last_round: int) -> tuple[pd.DataFrame, float]:
    """(multiply-adds per image of each model, dense and of seed 0's sparsest ticket of each variant,
    the first model's dense multiply-adds over LeNet-300-100's)."""
    from .conv_analysis import variant_order
    from ..core.export import multiply_adds
    from ..engine.lottery import round_model
    from ..engine.models import build_model

    variants, _ = variant_order(p)
    seed0 = {(m, label): hp for hp, (m, label) in runs.items() if hp.seed == 0}
    rows = []
    for m in p["models"]:
        row = {"model": m, "dense": multiply_adds(build_model(m, splits.input_shape, splits.num_classes),
                                                  splits.input_shape)}
        for label in variants:
            ticket = round_model(seed0[(m, label)], last_round, p["results_dir"])
            row[f"{label}, nonzero weights"] = multiply_adds(ticket, splits.input_shape, nonzero=True)
        rows.append(row)
    macs = pd.DataFrame(rows).set_index("model")
    lenet = multiply_adds(build_model("lenet300", splits.input_shape, splits.num_classes), splits.input_shape)
    return macs, float(macs["dense"].iloc[0] / lenet)
