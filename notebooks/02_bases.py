# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["remove-cell"]
# On Colab or Binder without glth_core: install it from the book's repository (silent otherwise).
import importlib.util

if importlib.util.find_spec("glth_core") is None:  # %pip install, written as valid Python
    get_ipython().run_line_magic(
        "pip", 'install --quiet "glth_core[data,sweep] @ git+https://github.com/glth-book/glth_core@main" seaborn myst-nb')

# %% [markdown]
# # Lottery tickets in other bases
#
# The generalized lottery ticket hypothesis {cite:p}`alabdulmohsin2021generalized`
# replaces "few nonzero weights" by "few nonzero coefficients in some
# orthonormal basis": the coefficients $C$ of {eq}`eq-analysis` are pruned,
# trained and rewound, and the network uses the weights synthesised from the
# surviving ones by {eq}`eq-synthesis`. This chapter tests the paper's first
# three claims side by side in four bases of {doc}`../book/method`:
#
# 1. sparsity can be taken in any orthonormal basis (here: canonical, DCT,
#    randomised Walsh–Hadamard, random orthogonal);
# 2. the lottery-ticket results of {doc}`01_canonical` carry over: in each
#    basis, IMP with rewinding finds sparse trainable coefficient sets, and the
#    ticket's mask on a fresh initialisation trains worse;
# 3. a suitable basis, such as the DCT {cite:p}`ahmed1974dct`, gives better
#    compression: the same accuracy with fewer nonzero coefficients.
#
# The network is LeNet-300-100 {cite:p}`lecun1998gradient,frankle2019lottery`
# on Fashion-MNIST {cite:p}`xiao2017fashion`, trained with plain SGD as in
# {doc}`01_canonical`. Compression is decided where accuracy finally drops,
# below the sparsity range of that chapter, so this chapter prunes faster: by
# default 40% of each hidden layer's remaining coefficients per round (the
# output layer at half that rate), which reaches below 1% of the
# coefficients in ten rounds, on a coarser grid (each round multiplies the
# density by $0.6$, where the 20% rounds of {doc}`01_canonical` multiply it by
# $0.8$).

# %% tags=["parameters"]
smoke = False               # True: a few seconds on scikit-learn's 8x8 digits (make test)
dataset = "fashion_mnist"   # data set (glth_core.data.DATASETS)
model = "lenet300"          # model (glth_core.models.MODELS)
seeds = 2                   # seeds per configuration (bands are over seeds)
rounds = 10                 # pruning rounds after the dense round 0
fraction = 0.4              # fraction of the remaining hidden-layer coefficients pruned per round
epochs = 2                  # training epochs per round
bases = ["canonical", "dct", "hadamard", "random"]  # bases of the ticket runs
reinit_bases = ["canonical", "dct"]  # bases that also get the random re-initialisation control
image_aware = True          # view the first layer's input axis as the image in non-canonical bases
tolerance = 1.0             # "equal accuracy": within this many percentage points of the reference
reference = "canonical"     # reference accuracy: "canonical" (dense canonical net) or "own" (each basis' dense net)
device = "auto"             # "auto" (CUDA if available), "cpu" or "cuda"
scheduler = "local"         # "local" (Dask LocalCluster), "serial", or a scheduler address tcp://HOST:PORT
results_dir = None          # None: the engine default ($GLTH_RESULTS_DIR or ./results)

# %% tags=["hide-input"]
# Check every parameter before anything runs (papermill -p ... with a bad value fails here).
from glth_core.chapter import check_parameters; check_parameters(globals())  # a -p NAME not declared above fails here
from glth_core.chapter import (check_common, require_bool, require_fraction, require_names, require_nonnegative,
                               smoke_scheduler)

from glth_core.bases import FIXED_BASES as ALLOWED_BASES  # not svd: it is fitted to trained weights
check_common(smoke=smoke, dataset=dataset, model=model, device=device, scheduler=scheduler, results_dir=results_dir,
             seeds=(seeds, 1), rounds=(rounds, 1), epochs=(epochs, 1))
require_fraction("fraction", fraction)
require_names("bases", bases, ALLOWED_BASES)
require_names("reinit_bases", reinit_bases, bases, allow_empty=True)
require_bool("image_aware", image_aware)
require_nonnegative("tolerance", tolerance, unit="percentage points")
if reference not in ("canonical", "own"):
    raise ValueError(f"parameter reference must be 'canonical' or 'own', got {reference!r}")
if reference == "canonical" and "canonical" not in bases:
    raise ValueError("parameter reference='canonical' needs 'canonical' in parameter bases; "
                     "add it or use reference='own'")

if smoke:  # the whole chapter in seconds: tiny data, few rounds
    dataset, seeds, rounds, epochs = "digits", min(seeds, 2), min(rounds, 4), min(epochs, 2)
    scheduler = smoke_scheduler(scheduler)
print(f"dataset={dataset}, model={model}, seeds={seeds}, rounds={rounds}, fraction={fraction}, epochs={epochs}, "
      f"bases={list(bases)}, reinit_bases={list(reinit_bases)}, tolerance={tolerance}, reference={reference}")

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from myst_nb import glue

from glth_core.chapter import log_percent_axis
from glth_core.hparams import ImpHparams, update
from glth_core.sweep import grid, sweep

sns.set_theme(style="whitegrid", context="notebook")




# %% [markdown]
# ## The experiment
#
# For each basis and seed, one IMP ticket run (rewinding to the initialisation,
# $k = 0$), and for the bases in `reinit_bases` also the random
# re-initialisation control (the ticket's mask on a fresh initialisation,
# written in the same basis). Everything else is fixed: the optimiser, the
# schedule, the initial weights of each seed, and the pruning rule (the
# lowest-magnitude fraction of each layer's remaining coefficients per round).
#
# Two details of the bases matter for reading the results. First, with
# `image_aware=True` the first layer's input axis is viewed as the
# $28 \times 28$ image in every non-canonical basis, so its basis is a Kronecker
# product of two $28 \times 28$ transforms (see {doc}`../book/method`): a 2D DCT
# for "dct", but also a factorised, not a full $784$-dimensional, rotation for
# "hadamard" and "random". Second, the Walsh–Hadamard transform needs sizes
# that are powers of two; for the other sizes (28, 300, 100, 10)
# `glth_core.bases` uses $H_{2^k} \otimes R_m$ with a seeded random orthogonal
# $R_m$ for the odd factor $m$, so "hadamard" is partly a random rotation too.

# %% tags=["remove-stderr"]
base = update(ImpHparams(), model=model, dataset=dataset, epochs=epochs, fraction=fraction, rounds=rounds,
              image_aware=image_aware)
runs = grid(base, basis=list(bases), seed=list(range(seeds)))
if reinit_bases:
    runs += grid(base, basis=list(reinit_bases), seed=list(range(seeds)), control="reinit")
table = sweep(runs, scheduler=scheduler, device=device, results_dir=results_dir, progress=False)
failures = table.attrs["failures"]
print(f"{len(runs)} runs, {len(failures)} failed, {len(table)} rows")
if failures:
    raise RuntimeError("some runs failed:\n" + "\n".join(map(str, failures)))

# %%
BASIS_LABELS = {"canonical": "canonical", "dct": "DCT", "hadamard": "Hadamard", "random": "random orthogonal"}
tickets = table[table.control == "ticket"]
# the reinit runs start at round 1; round 0 (the dense network) is shared with the ticket
dense_rows = tickets[(tickets["round"] == 0) & tickets.basis.isin(reinit_bases)].assign(control="reinit")
frame = pd.concat([table, dense_rows], ignore_index=True)
frame["basis label"] = frame.basis.map(BASIS_LABELS)
frame["method"] = frame.control.map({"ticket": "ticket", "reinit": "random re-init"})
frame["weights remaining (%)"] = 100 * frame.density
frame["test accuracy (%)"] = 100 * frame.test_accuracy
basis_order = [BASIS_LABELS[b] for b in bases]

summary = (
    frame.groupby(["basis", "control", "round"], sort=False)
    .agg(weights_pct=("weights remaining (%)", "mean"), params=("params", "mean"),
         acc_mean=("test accuracy (%)", "mean"), acc_sd=("test accuracy (%)", "std"))
    .reset_index()
)
curves = summary.pivot(index="round", columns=["basis", "control"], values="acc_mean")
curves.columns = [f"{b}/{c}" for b, c in curves.columns]
curves.insert(0, "weights remaining (%)", summary.query("control == 'ticket'").groupby("round").weights_pct.mean())
print("mean test accuracy (%) over seeds, by round")
print(curves.round(2).to_string())

# %% [markdown]
# The densities are the same in every basis (same pruning schedule), so the
# columns of this table are directly comparable row by row.
#
# ## Accuracy against coefficients remaining

# %%
palette = dict(zip(basis_order, sns.color_palette("colorblind", len(basis_order))))
fig, axes = plt.subplots(1, 2 if reinit_bases else 1, figsize=(12 if reinit_bases else 7, 4.5), squeeze=False,
                         sharey=True)
ax = axes[0, 0]
sns.lineplot(data=frame[frame.control == "ticket"], x="weights remaining (%)", y="test accuracy (%)",
             hue="basis label", hue_order=basis_order, palette=palette, style="basis label",
             style_order=basis_order, markers=True, dashes=False, errorbar="sd", ax=ax)
ax.set_title("IMP tickets in four bases")
if reinit_bases:
    ax = axes[0, 1]
    part = frame[frame.basis.isin(reinit_bases)]
    sns.lineplot(data=part, x="weights remaining (%)", y="test accuracy (%)", hue="basis label",
                 hue_order=[BASIS_LABELS[b] for b in reinit_bases], palette=palette, style="method",
                 style_order=["ticket", "random re-init"], markers=True, errorbar="sd", ax=ax)
    ax.set_title("ticket against random re-initialisation")
for ax in axes[0]:
    ax.set_xscale("log")
    log_percent_axis(ax.xaxis)
    ax.invert_xaxis()
    ax.set_xlabel("nonzero coefficients remaining (%, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(title=None, loc="lower left", fontsize="small")
fig.tight_layout()
glue("c2_fig_accuracy", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} c2_fig_accuracy
# :name: fig-c2-accuracy
#
# Test accuracy (%) of LeNet-300-100 after each round of IMP against the
# nonzero coefficients remaining (%, log scale, pruning proceeds to the
# right). Left: tickets in each basis. Right: tickets (solid) against the
# random re-initialisation control (dashed) in the bases that have it. Lines:
# mean over seeds; bands: one standard deviation over seeds.
# ```

# %%
dense = summary.query("control == 'ticket' and round == 0").set_index("basis").acc_mean
glue("c2_dense_spread", float(dense.max() - dense.min()), display=False)
glue("c2_dense_canonical", float(dense.get("canonical", dense.iloc[0])), display=False)

per_basis = []
for b in bases:
    t = summary.query("basis == @b and control == 'ticket'").set_index("round")
    peak, last = int(t.acc_mean.idxmax()), int(t.index.max())
    row = {"basis": BASIS_LABELS[b], "dense (%)": t.acc_mean[0], "best (%)": t.acc_mean[peak],
           "best at weights (%)": t.weights_pct[peak], "sparsest (%)": t.acc_mean[last]}
    if b in reinit_bases:
        r = summary.query("basis == @b and control == 'reinit'").set_index("round")
        gap = (t.acc_mean - r.acc_mean).drop(index=0)
        row["re-init at sparsest (%)"] = r.acc_mean[last]
        row["rounds ticket > re-init"] = f"{int((gap > 0).sum())} of {len(gap)}"
        glue(f"c2_reinit_gap_{b}", float(gap.loc[last]), display=False)
    per_basis.append(row)
per_basis = pd.DataFrame(per_basis)
sparsest_pct = float(summary.query("control == 'ticket'").groupby("round").weights_pct.mean().iloc[-1])
glue("c2_sparsest_pct", sparsest_pct, display=False)
print(f"accuracy of each basis' ticket (mean over seeds); sparsest = {sparsest_pct:.2f}% of the coefficients")
print(per_basis.round(2).to_string(index=False))

# %% [markdown]
# In every basis the dense network (round 0) reaches the same accuracy up to
# {glue:text}`c2_dense_spread:.2f` percentage points. This is the
# rotation-equivariance of SGD of {eq}`eq-projected`: without a mask, training
# the coefficients in any orthonormal basis follows the same trajectory of
# weights, up to rounding; the bases differ only once coefficients are pruned.
#
# ## Compression at equal accuracy
#
# Claim 3 compares bases at *equal accuracy*. For each basis we take the mean
# accuracy over seeds at each round and find the sparsest round up to which it
# stays within `tolerance` percentage points of the reference (the dense
# canonical network, or with `reference="own"` the basis' own dense network):
# the fewest nonzero coefficients that keep that accuracy. The exported
# parameter count (`glth_core.count_parameters`: nonzero coefficients plus
# biases) is the size of the pruned model stored as coefficients. Two caveats
# follow from the design: the answer is on the grid of pruning rounds, so
# bases that differ by less than one round (a factor $1/(1 - p)$ in density)
# tie; and a basis that never leaves the tolerance band in the explored range
# only gets an upper bound ("not reached").

# %%
def sparsest_within(accuracy: pd.Series, threshold: float):
    """Last round r such that rounds 0..r all have accuracy >= threshold (None if round 0 fails),
    and whether a later round fell below (False: the band was never left, r is only a bound)."""
    ok = (accuracy.sort_index() >= threshold).to_numpy()
    if not ok[0]:
        return None, True
    left = np.flatnonzero(~ok)
    return (int(accuracy.index[left[0] - 1]), True) if len(left) else (int(accuracy.index[-1]), False)


reference_acc = {b: float(dense["canonical"] if reference == "canonical" else dense[b]) for b in bases}
ticket_frame = frame[frame.control == "ticket"]
rows, seed_rows = [], []
for b in bases:
    t = summary.query("basis == @b and control == 'ticket'").set_index("round")
    threshold = reference_acc[b] - tolerance
    r, left_band = sparsest_within(t.acc_mean, threshold)
    rows.append({"basis": BASIS_LABELS[b], "reference (%)": reference_acc[b], "threshold (%)": threshold,
                 "round": r, "weights remaining (%)": t.weights_pct[r] if r is not None else np.nan,
                 "exported params": t.params[r] if r is not None else np.nan,
                 "band left": left_band})
    for seed, s in ticket_frame[ticket_frame.basis == b].groupby("seed"):
        s = s.set_index("round")
        rs, _ = sparsest_within(s["test accuracy (%)"], threshold)
        seed_rows.append({"basis label": BASIS_LABELS[b], "seed": seed,
                          "weights remaining (%)": s["weights remaining (%)"][rs] if rs is not None else np.nan})
compression = pd.DataFrame(rows)
dense_params = float(summary.query("control == 'ticket' and round == 0").params.iloc[0])
compression["compression (x)"] = dense_params / compression["exported params"]
if "canonical" in bases:
    canonical_pct = compression.set_index("basis")["weights remaining (%)"]["canonical"]
    compression["vs canonical (x)"] = canonical_pct / compression["weights remaining (%)"]
compression["exported params"] = compression["exported params"].round().astype("Int64")
compression["round"] = compression["round"].astype("Int64")
print(f"tolerance = {tolerance} percentage points, reference = {reference}, dense model: {int(dense_params)} params")
print(compression.round(2).to_string(index=False))
seed_points = pd.DataFrame(seed_rows)

# %%
fig, ax = plt.subplots(figsize=(7, 4.2))
sns.barplot(data=compression, x="basis", y="weights remaining (%)", order=basis_order, hue="basis",
            hue_order=basis_order, palette=palette, alpha=0.6, legend=False, ax=ax)
sns.stripplot(data=seed_points, x="basis label", y="weights remaining (%)", order=basis_order, color="0.15",
              size=6, jitter=0.15, ax=ax)
for i, b in enumerate(bases):
    if not compression.loc[i, "band left"]:
        ax.annotate("not reached\n(upper bound)", (i, compression.loc[i, "weights remaining (%)"]),
                    ha="center", va="bottom", fontsize="small")
ax.set_yscale("log")
log_percent_axis(ax.yaxis)
ax.set_xlabel("basis")
ax.set_ylabel("nonzero coefficients remaining (%, log scale)")
ax.set_title(f"sparsest ticket within {tolerance:g} pp of the reference accuracy")
fig.tight_layout()
glue("c2_fig_compression", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} c2_fig_compression
# :name: fig-c2-compression
#
# Compression at equal accuracy: for each basis, the fewest nonzero
# coefficients (% of the dense network, log scale) whose ticket accuracy stays
# within `tolerance` percentage points of the reference accuracy. Bars: from
# the mean accuracy over seeds (the table above); dots: the same rule applied
# to each seed's own curve. Lower is better.
# ```

# %%
best = compression.dropna(subset=["weights remaining (%)"])
best_pct = best["weights remaining (%)"].min()
winners = best[best["weights remaining (%)"] <= best_pct * (1 + 1e-9)]
glue("c2_tolerance", float(tolerance), display=False)
glue("c2_best_pct", float(best_pct), display=False)
glue("c2_best_basis", " and ".join(winners.basis), display=False)
if "canonical" in bases:
    glue("c2_canonical_pct", float(canonical_pct), display=False)
    glue("c2_best_vs_canonical", float(canonical_pct / best_pct), display=False)
    unbounded = compression.loc[~compression["band left"], "basis"].tolist()
    tied_and_unbounded = len(winners) > 1 and set(winners.basis) <= set(unbounded)
    if "canonical" in set(winners.basis) and tied_and_unbounded:
        verdict = (f"{', '.join(winners.basis)} all stay within the band down to the sparsest level explored, "
                   f"{best_pct:.2f}% of the coefficients: this run is too short to tell them apart")
        unbounded = [b for b in unbounded if b not in set(winners.basis)]
    elif "canonical" in set(winners.basis):
        verdict = ("no basis keeps the accuracy with fewer nonzero coefficients than the canonical one, which "
                   f"keeps it down to {canonical_pct:.2f}% of the coefficients")
    else:
        verdict = (f"the {' and '.join(winners.basis)} basis keeps it down to {best_pct:.2f}% of the "
                   f"coefficients, against {canonical_pct:.2f}% for the canonical basis: "
                   f"{canonical_pct / best_pct:.2f} times fewer nonzero coefficients")
    if unbounded:
        verdict += (f"; {', '.join(unbounded)} never left the tolerance band in the explored range, so "
                    f"{'its value is' if len(unbounded) == 1 else 'their values are'} only an upper bound")
    glue("c2_verdict", verdict, display=False)
else:
    glue("c2_canonical_pct", float("nan"), display=False)
    glue("c2_best_vs_canonical", float("nan"), display=False)
    glue("c2_verdict", f"the {' and '.join(winners.basis)} basis keeps it with the fewest nonzero "
         f"coefficients, {best_pct:.2f}% (the canonical basis was not run)", display=False)

# ticket against random re-initialisation, one clause per basis that has the control
clauses = []
for b in reinit_bases:
    t = summary.query("basis == @b and control == 'ticket'").set_index("round")
    r = summary.query("basis == @b and control == 'reinit'").set_index("round")
    gap = (t.acc_mean - r.acc_mean).drop(index=0)
    clauses.append(f"in the {BASIS_LABELS[b]} basis the ticket's mean accuracy is higher in {int((gap > 0).sum())} "
                   f"of {len(gap)} pruned rounds and {abs(gap.iloc[-1]):.2f} percentage points "
                   f"{'above' if gap.iloc[-1] > 0 else 'below'} the re-initialised network at the sparsest level")
glue("c2_reinit_summary", "; ".join(clauses) if clauses else "was not run (parameter reinit_bases is empty)",
     display=False)
glue("c2_sparsest_summary", ", ".join(f"{r['sparsest (%)'] - r['dense (%)']:+.2f} ({r.basis})"
                                      for _, r in per_basis.iterrows()) + " percentage points", display=False)
glue("c2_best_summary", ", ".join(f"{r['best (%)'] - r['dense (%)']:.2f} ({r.basis})"
                                  for _, r in per_basis.iterrows()) + " percentage points", display=False)
glue("c2_settings", f"{seeds} seeds, {rounds} rounds of {fraction:.0%} pruning, {epochs} epochs per round",
     display=False)

# %% [markdown]
# ## What the numbers show
#
# **Claims 1 and 2: tickets exist in every basis.** Pruning the coefficients
# by magnitude, rewinding and retraining runs the same way in all four bases
# ({numref}`fig-c2-accuracy`; the table above lists, per basis, the dense
# accuracy, the best accuracy and where it is reached, and the accuracy at the
# sparsest level). At {glue:text}`c2_sparsest_pct:.1f`% of the coefficients,
# the tickets' mean accuracies differ from the dense network's by
# {glue:text}`c2_sparsest_summary`; their best accuracies, reached with
# pruning, lie {glue:text}`c2_best_summary` above it. Against random
# re-initialisation of the same coefficient mask, {glue:text}`c2_reinit_summary`.
#
# **Claim 3: compression at equal accuracy.** Allowing a loss of
# {glue:text}`c2_tolerance:.1f` percentage points with respect to the
# reference accuracy, {glue:text}`c2_verdict` ({numref}`fig-c2-compression`).
#
# Why the DCT can help, and why the effect is limited here: in the image-aware
# first layer, which holds about 88% of LeNet-300-100's weights, each hidden
# unit's incoming weights form an image ($28 \times 28$ for Fashion-MNIST), and smooth images
# concentrate their energy in few low-frequency DCT coefficients, so magnitude
# pruning can discard more of them for the same error. The other axes (the
# 300 and 100 hidden units, the 10 classes) have no spatial order, and there a
# DCT is just another rotation. Random rotations do the opposite of
# concentrating energy: they spread every weight over all coefficients, which
# is why the Hadamard and random bases are the natural controls for the DCT.
#
# The comparison is at the resolution of the pruning grid (one round changes
# the density by a factor $1/(1 - p)$) and from a small run
# ({glue:text}`c2_settings`), with short training and few seeds, so
# differences of one round, or of a few tenths of a percentage point in
# accuracy, should not be over-read.
#
# ### Rerun at paper scale
#
# With more seeds, full-length training and the finer 20% grid of
# {cite:t}`frankle2019lottery` taken deeper (about 0.3% of the coefficients
# after 26 rounds), on a GPU or a cluster (`-p scheduler tcp://HOST:PORT`):
#
# ```bash
# papermill notebooks/02_bases.ipynb out.ipynb -p seeds 5 -p epochs 40 -p fraction 0.2 -p rounds 26
# ```
#
# `-p tolerance 0.5` tightens "equal accuracy", `-p reference own` compares
# each basis with its own dense network, and `-y "reinit_bases: [canonical,
# dct, hadamard, random]"` adds the control in every basis.
