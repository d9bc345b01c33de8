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
# # Structured pruning as generalized tickets
#
# Unstructured pruning {cite:p}`han2015learning` leaves a sparse weight matrix,
# which saves memory only with sparse storage and saves time only with sparse
# kernels. Structured pruning removes whole pieces instead: output units of a
# fully connected layer, or filters of a convolution {cite:p}`li2017pruning`,
# or it replaces a layer by a product of two thin matrices, a low-rank
# factorisation {cite:p}`denton2014exploiting,jaderberg2014speeding`. The
# generalized lottery ticket hypothesis {cite:p}`alabdulmohsin2021generalized`
# treats both as tickets with *row* granularity (claim 4 of the book; the
# maths is in {doc}`../book/method`, section "Structured pruning as
# generalized tickets"):
#
# - pruning units is masking whole rows of $C$ in the canonical basis;
# - masking rows of $C$ in a rotated output basis leaves
#   $W = Q_1[:, K]\,(C[K, :]\,Q_2^\top)$, a rank-$r$ product that exports as two
#   dense layers with $r(d_\text{out} + d_\text{in})$ parameters.
#
# This chapter runs IMP with row granularity in the canonical basis (units) and
# in rotated bases (low rank), plots accuracy against the parameter count of
# the *exported* model, compares with unstructured (element) tickets at equal
# parameter count, and checks that an exported low-rank model is what it claims
# to be.

# %% tags=["parameters"]
smoke = False               # True: a few seconds on scikit-learn's 8x8 digits (make test)
dataset = "fashion_mnist"   # data set (glth_core.data.DATASETS)
model = "lenet300"          # model (glth_core.models.MODELS)
seeds = 2                   # seeds per configuration (bands are over seeds)
rounds = 6                  # structured IMP rounds after the dense round 0
fraction = 0.4              # fraction of the remaining rows (units / rank) of each hidden layer pruned per round
epochs = 2                  # training epochs per round (structured and element runs)
lowrank_bases = ["dct", "random"]  # rotated output bases for low-rank tickets ("svd": see the text)
element_bases = ["canonical", "dct"]  # bases of the unstructured (element) tickets compared with
element_rounds = 15         # IMP rounds of the element tickets (chapter 02's runs)
element_fraction = 0.2      # fraction pruned per round by the element tickets (chapter 02's runs)
svd_truncation = True       # also truncate the SVD of the trained dense weights (no retraining)
device = "auto"             # "auto" (CUDA if available), "cpu" or "cuda"
scheduler = "local"         # "local" (Dask LocalCluster), "serial", or a scheduler address tcp://HOST:PORT
results_dir = None          # None: the engine default ($GLTH_RESULTS_DIR or ./results)

# %%
from glth_core.chapter import check_parameters; check_parameters(globals())  # a -p NAME not declared above fails here

from glth_core.chapter import check_common, require_bool, require_fraction, require_names, smoke_scheduler
from glth_core.models import MODELS

from glth_core.bases import FIXED_BASES as ALLOWED_ELEMENT, ROTATED_BASES as ALLOWED_LOWRANK  # low rank needs a rotation
# low-rank export factorises Linear layers: fully connected models only
check_common(smoke=smoke, dataset=dataset, model=model, device=device, scheduler=scheduler, results_dir=results_dir,
             models=[m for m in MODELS if m.startswith("lenet")],
             seeds=(seeds, 1), rounds=(rounds, 1), epochs=(epochs, 1), element_rounds=(element_rounds, 1))
require_fraction("fraction", fraction)
require_fraction("element_fraction", element_fraction)
require_names("lowrank_bases", lowrank_bases, ALLOWED_LOWRANK, allow_empty=True)
require_names("element_bases", element_bases, ALLOWED_ELEMENT, allow_empty=True)
require_bool("svd_truncation", svd_truncation)
if not lowrank_bases and not svd_truncation:
    raise ValueError("parameter lowrank_bases is empty and svd_truncation is False: nothing low-rank to show; "
                     f"give at least one basis from {ALLOWED_LOWRANK}")

if smoke:  # the whole chapter in seconds: tiny data, few rounds (element runs as in chapter 02's smoke mode)
    dataset, seeds, rounds, epochs = "digits", min(seeds, 2), min(rounds, 3), min(epochs, 2)
    element_rounds = min(element_rounds, 4)
    scheduler = smoke_scheduler(scheduler)
print(f"dataset={dataset}, model={model}, seeds={seeds}, rounds={rounds}, fraction={fraction}, epochs={epochs}, "
      f"lowrank_bases={list(lowrank_bases)}, element_bases={list(element_bases)}, element_rounds={element_rounds}, "
      f"element_fraction={element_fraction}, svd_truncation={svd_truncation}")

# %%
import copy
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from myst_nb import glue

import glth_core
from glth_core.data import load
from glth_core.hparams import ImpHparams, run_key, update
from glth_core.lottery import round_model
from glth_core.sweep import grid, sweep
from glth_core.training import evaluate

sns.set_theme(style="whitegrid", context="notebook")
pd.set_option("display.width", 140)

# %% [markdown]
# ## The experiments
#
# All runs are IMP with rewinding to the initialisation, LeNet-300-100
# {cite:p}`lecun1998gradient,frankle2019lottery` on Fashion-MNIST
# {cite:p}`xiao2017fashion`, SGD with learning rate 0.1, as in
# {doc}`01_canonical`. The structured runs prune, per round, a fraction
# `fraction` of the remaining rows of each hidden layer's coefficients by their
# $\ell_2$ norm, in the canonical basis (units) and in each basis of
# `lowrank_bases` (low rank); they never prune the 10-unit output layer, whose
# rows are the classes. The element tickets are the runs of {doc}`02_bases`
# (shared through the results folder when their parameters agree). Every
# non-canonical basis views the first layer's input axis as the $28 \times 28$
# image, as in that chapter.
#
# On the SVD basis: `glth_core` fits an `"svd"` basis to the weight it is given
# when a layer is generalised, and the IMP engine generalises the freshly
# *initialised* network before training. An IMP run with `basis="svd"` is
# therefore a ticket in the singular basis of the random initial weights,
# which for Gaussian-like initial weights is a random rotation, not the
# truncated SVD of a trained layer. The engine has no option to fit the basis
# to the trained dense weights. Instead, with `svd_truncation=True`, this
# chapter takes each seed's trained dense network (round 0 of the unit-pruning
# run, read from the engine's checkpoint), writes it in the SVD basis of its own
# trained weights, and truncates it to the ranks of the IMP rounds *without
# retraining*: the classic post-training low-rank compression of
# {cite:t}`denton2014exploiting`, before their fine-tuning step.

# %%
base = update(ImpHparams(), model=model, dataset=dataset, epochs=epochs)
structured_base = update(base, granularity="row", fraction=fraction, output_fraction=0.0, rounds=rounds)
structured_runs = grid(structured_base, basis=["canonical", *lowrank_bases], seed=list(range(seeds)))
element_runs = grid(update(base, fraction=element_fraction, rounds=element_rounds), basis=list(element_bases),
                    seed=list(range(seeds)))
table = sweep(structured_runs + element_runs, scheduler=scheduler, device=device, results_dir=results_dir,
              progress=False)
failures = table.attrs["failures"]
print(f"{len(structured_runs)} structured runs, {len(element_runs)} element runs, {len(failures)} failed, "
      f"{len(table)} rows")
if failures:
    raise RuntimeError("some runs failed:\n" + "\n".join(map(str, failures)))

# %% [markdown]
# ## Low rank from the trained SVD
#
# For the truncation baseline we need the trained dense weights. They are in
# round 0 of each seed's unit-pruning run: `glth_core.lottery.round_model`
# rebuilds the generalized model from the engine's checkpoint, and we
# export plain weights (`glth_core.export`). `glth_core.generalize(...,
# basis="svd")` then fits each layer's basis to those trained weights, so that
# the coefficients are the singular values, and `glth_core.prune` with row
# granularity keeps the largest ones: rank-$r$ truncated SVD.

# %%
splits = load(dataset, verbose=False)
x_test, y_test = splits.test


structured = table[table.granularity == "row"]
svd_rows = []
if svd_truncation:
    for seed in range(seeds):
        dense_net = glth_core.export(round_model(update(structured_base, basis="canonical", seed=seed), 0, results_dir))
        runs = structured[(structured.basis == "canonical") & (structured.seed == seed)].sort_values("round")
        for r, layer_densities in zip(runs["round"], runs.layer_densities):
            net = glth_core.generalize(copy.deepcopy(dense_net), "svd")  # basis fitted to the trained weights
            keep = json.loads(layer_densities)  # each layer's share of kept rows in this round
            fractions = {name: float(1 - keep[name]) for name in glth_core.generalized_layers(net)}
            glth_core.prune(net, 0.0, scope="layer", granularity="row", fractions=fractions)
            accuracy, _ = evaluate(net, x_test, y_test)
            svd_rows.append({"basis": "svd (trained, truncated)", "granularity": "row", "seed": seed, "round": r,
                             "density": float(glth_core.density(net)), "params": glth_core.count_parameters(net),
                             "test_accuracy": accuracy})
frame = pd.concat([table, pd.DataFrame(svd_rows)], ignore_index=True)

# %%
LABELS = {"canonical": "canonical", "dct": "DCT", "hadamard": "Hadamard", "random": "random orthogonal",
          "svd": "SVD of the initial weights"}


def method_of(row):
    if row.granularity == "element":
        return f"element ticket, {LABELS[row.basis]}"
    if row.basis == "canonical":
        return "units (canonical rows)"
    if row.basis.startswith("svd ("):
        return "low rank, trained SVD truncated"
    return f"low rank, {LABELS[row.basis]} rows"


frame["method"] = frame.apply(method_of, axis=1)
frame["exported parameters"] = frame.params.astype(float)
frame["test accuracy (%)"] = 100 * frame.test_accuracy
method_order = (["units (canonical rows)"] + [f"low rank, {LABELS[b]} rows" for b in lowrank_bases]
                + (["low rank, trained SVD truncated"] if svd_truncation else [])
                + [f"element ticket, {LABELS[b]}" for b in element_bases])
summary = (frame.groupby(["method", "round"], sort=False)
           .agg(params=("exported parameters", "mean"), accuracy=("test accuracy (%)", "mean"),
                sd=("test accuracy (%)", "std"))
           .reset_index())
wide = summary[summary.method.isin(method_order[:len(lowrank_bases) + 1 + svd_truncation])]
for value, title in [("params", "mean exported parameters"), ("accuracy", "mean test accuracy (%)")]:
    print(f"structured runs, {title} by round")
    print(wide.pivot(index="round", columns="method", values=value)[wide.method.unique()].round(1).to_string())

# %%
palette = dict(zip(method_order, sns.color_palette("colorblind", len(method_order))))
fig, ax = plt.subplots(figsize=(8.5, 5))
sns.lineplot(data=frame, x="exported parameters", y="test accuracy (%)", hue="method", hue_order=method_order,
             style="method", style_order=method_order, palette=palette, markers=True, dashes=False,
             errorbar="sd", ax=ax)
ax.set_xscale("log")
ax.invert_xaxis()
ax.set_xlabel("parameters of the exported model (count, log scale)")
ax.set_ylabel("test accuracy (%)")
ax.legend(title=None, loc="lower left", fontsize="small")
fig.tight_layout()
glue("c4_fig_params", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} c4_fig_params
# :name: fig-c4-params
#
# Test accuracy (%) against the parameter count of the exported model (log
# scale; pruning proceeds to the right), one point per IMP round. Units:
# canonical row pruning. Low rank: row pruning in a rotated output basis,
# exported as pairs of Linear layers once that is smaller. Trained SVD
# truncated: the dense network's own SVD cut to the same ranks, not retrained.
# Element tickets: unstructured IMP, counted as nonzero coefficients plus
# biases. Lines: mean over seeds; bands: one standard deviation.
# ```
#
# The parameter count is `glth_core.count_parameters`: biases plus, for each
# pruned layer, its unmasked coefficients, or $r(d_\text{in} + d_\text{out})$
# for a layer that exports as a low-rank pair. For unit pruning this count is
# conservative: it keeps the input columns of the next layer that read the
# removed units, which a compacted network would drop as well.

# %% [markdown]
# ## Structured against unstructured at equal parameter count
#
# For each structured round we read off the element tickets' accuracy at the
# same exported parameter count, interpolating their mean curve linearly in
# $\log(\text{parameters})$ (only inside the range the element runs cover).

# %%
def at_equal_params(curve: pd.DataFrame, params: np.ndarray) -> np.ndarray:
    curve = curve.sort_values("params")
    lo, hi = curve.params.min(), curve.params.max()
    values = np.interp(np.log(params), np.log(curve.params.to_numpy()), curve.accuracy.to_numpy())
    return np.where((params >= lo) & (params <= hi), values, np.nan)


reference_method = f"element ticket, {LABELS[element_bases[0]]}" if element_bases else None
structured_methods = [m for m in method_order if not m.startswith("element")]
rows = []
if reference_method is not None:
    ref_curve = summary[summary.method == reference_method]
    for m in structured_methods:
        s = summary[(summary.method == m) & (summary["round"] > 0)]
        for (_, row), ref in zip(s.iterrows(), at_equal_params(ref_curve, s.params.to_numpy())):
            rows.append({"method": m, "round": int(row["round"]), "params": int(round(row.params)),
                         "structured (%)": row.accuracy, f"{reference_method} (%)": ref,
                         "structured - element (pp)": row.accuracy - ref})
versus = pd.DataFrame(rows)
if len(versus):
    print(versus.round(2).to_string(index=False))

# %%
dense_params = int(round(float(summary[summary["round"] == 0].params.max())))
dense_acc = float(summary[(summary.method == "units (canonical rows)") & (summary["round"] == 0)].accuracy.iloc[0])
glue("c4_dense_params", dense_params, display=False)
glue("c4_dense_acc", dense_acc, display=False)
glue("c4_rounds", int(rounds), display=False)
glue("c4_fraction_pct", 100 * fraction, display=False)
last = summary[summary["round"] == rounds].set_index("method")
glue("c4_units_last_params", int(round(last.params["units (canonical rows)"])), display=False)
glue("c4_units_last_acc", float(last.accuracy["units (canonical rows)"]), display=False)
lowrank_methods = [m for m in structured_methods if m.startswith("low rank")]
best_lowrank = last.loc[lowrank_methods].accuracy.idxmax()
glue("c4_best_lowrank", best_lowrank, display=False)
glue("c4_best_lowrank_params", int(round(last.params[best_lowrank])), display=False)
glue("c4_best_lowrank_acc", float(last.accuracy[best_lowrank]), display=False)
ticket_lowrank = [m for m in lowrank_methods if not m.startswith("low rank, trained")]
if svd_truncation and ticket_lowrank:
    svd_last = float(last.accuracy["low rank, trained SVD truncated"])
    best_ticket = last.loc[ticket_lowrank].accuracy.idxmax()
    ticket_last = float(last.accuracy[best_ticket])
    glue("c4_svd_last_acc", svd_last, display=False)
    glue("c4_lowrank_last_acc", ticket_last, display=False)
    glue("c4_lowrank_last_name", best_ticket, display=False)
    glue("c4_svd_sentence", "the post-training truncation is the more accurate of the two" if svd_last > ticket_last
         else "the low-rank ticket is at least as accurate as the post-training truncation", display=False)
else:
    glue("c4_svd_last_acc", float("nan"), display=False)
    glue("c4_lowrank_last_acc", float("nan"), display=False)
    glue("c4_lowrank_last_name", "not run", display=False)
    glue("c4_svd_sentence", "the comparison needs svd_truncation=True and at least one basis in lowrank_bases",
         display=False)
if len(versus.dropna()):
    compared = versus.dropna()
    glue("c4_n_compared", int(len(compared)), display=False)
    glue("c4_n_structured_better", int((compared["structured - element (pp)"] > 0).sum()), display=False)
    glue("c4_gap_min", float(compared["structured - element (pp)"].min()), display=False)
    glue("c4_gap_max", float(compared["structured - element (pp)"].max()), display=False)
    gaps = compared["structured - element (pp)"]
    verdict = ("every structured model in that range is more accurate than the element ticket of the same size"
               if (gaps > 0).all() else
               "the element tickets are at least as accurate as every structured model of the same size"
               if (gaps <= 0).all() else "neither is uniformly better")
else:
    for key in ("c4_n_compared", "c4_n_structured_better"):
        glue(key, 0, display=False)
    for key in ("c4_gap_min", "c4_gap_max"):
        glue(key, float("nan"), display=False)
    verdict = "the parameter counts of the two kinds of runs do not overlap, so no comparison is possible"
glue("c4_verdict", verdict, display=False)
print(f"dense: {dense_params} parameters, {dense_acc:.2f}%; after {rounds} rounds: units "
      f"{int(round(last.params['units (canonical rows)']))} parameters, "
      f"{last.accuracy['units (canonical rows)']:.2f}%; best low rank: {best_lowrank}")

# %% [markdown]
# ## What the experiments show
#
# The dense network has {glue:text}`c4_dense_params` parameters and reaches
# {glue:text}`c4_dense_acc:.2f`%. After {glue:text}`c4_rounds` rounds of
# structured IMP, each removing {glue:text}`c4_fraction_pct:.0f`% of the
# remaining rows, unit pruning keeps {glue:text}`c4_units_last_params`
# parameters at {glue:text}`c4_units_last_acc:.2f`%, and the most accurate
# low-rank ticket ({glue:text}`c4_best_lowrank`) keeps
# {glue:text}`c4_best_lowrank_params` parameters at
# {glue:text}`c4_best_lowrank_acc:.2f`%. Both are found by the same IMP code
# that finds unstructured tickets, only with row granularity: the structured
# methods are generalized tickets.
#
# Against the element tickets at equal exported size: of
# {glue:text}`c4_n_compared` structured rounds inside the element runs' range,
# {glue:text}`c4_n_structured_better` are more accurate, by
# {glue:text}`c4_gap_min:.2f` to {glue:text}`c4_gap_max:.2f` percentage points
# (negative: the element ticket is better); {glue:text}`c4_verdict`. An
# element mask may keep any subset of coefficients, a row mask only whole rows,
# so at equal size the element mask has more freedom; the comparison measures
# how much accuracy that freedom is worth. What structure buys is not in this
# plot: a unit-pruned or low-rank model is a smaller *dense* network, fast with
# ordinary dense kernels, while an element ticket needs sparse storage and
# sparse kernels to turn its zeros into savings.
#
# The truncated SVD of the trained weights, without any retraining, reaches
# {glue:text}`c4_svd_last_acc:.2f`% at the last round's ranks, against
# {glue:text}`c4_lowrank_last_acc:.2f`% for the best low-rank IMP ticket
# ({glue:text}`c4_lowrank_last_name`): {glue:text}`c4_svd_sentence`. The
# tickets start every round from the initial weights and retrain for a few
# epochs, while the truncation keeps the dominant singular directions of a
# network that was trained in full; this is the difference between finding a
# trainable low-rank structure at initialisation (a ticket) and compressing a
# trained network, and with our short training the latter has the advantage of
# all the dense network's training.

# %% [markdown]
# ## Checking an exported low-rank model
#
# The claim that a row-masked layer in a rotated basis *is* a low-rank
# factorisation can be checked directly. We rebuild the model of the last
# round of the first low-rank run from its checkpoint, export it with
# `glth_core.export`, and compare: the exported hidden layers should be pairs of
# plain `Linear` layers whose inner size is the number of kept rows, the
# outputs should agree with the generalized model up to float round-off, and
# the exported model's parameter count should be the engine's `params`.

# %%
check_basis = lowrank_bases[0] if lowrank_bases else None
if check_basis is not None:
    check_hp = update(structured_base, basis=check_basis, seed=0)
    generalized = round_model(check_hp, rounds, results_dir)
    plain = glth_core.export(generalized)
    kept_rows = {name: int(glth_core.masks(generalized)[name].reshape(m.weight.shape[0], -1).any(dim=1).sum())
                 for name, m in glth_core.generalized_layers(generalized).items()}
    print(f"basis {check_basis!r}, round {rounds}; rows kept per generalized layer: {kept_rows}")
    for name, module in plain.named_modules():
        if isinstance(module, torch.nn.Linear):
            print(f"  {name:12s} Linear({module.in_features} -> {module.out_features}), "
                  f"bias={module.bias is not None}")
    with torch.no_grad():
        difference = float((generalized(x_test) - plain(x_test)).abs().max())
    exported_params = sum(p.numel() for p in plain.parameters())
    engine_params = int(table[(table.run_id == run_key("imp", check_hp)) & (table["round"] == rounds)].params.iloc[0])
    print(f"max |generalized - exported| over the {len(x_test)} test images: {difference:.1e} "
          f"(< 1e-4: {difference < 1e-4})")
    factorised = [name for name, m in plain.named_modules() if isinstance(m, torch.nn.Sequential) and name]
    print(f"parameters: exported model {exported_params}, engine's count_parameters {engine_params}, "
          f"equal: {exported_params == engine_params}; factorised layers: {factorised}")
    glue("c4_check_basis", LABELS[check_basis], display=False)
    glue("c4_check_close", "agree to within 1e-4" if difference < 1e-4 else "differ by more than 1e-4",
         display=False)
    glue("c4_check_params", exported_params, display=False)
    if exported_params == engine_params:
        glue("c4_check_equal", "are exactly the count on the horizontal axis of the figure", display=False)
    else:
        glue("c4_check_equal", f"differ from the count on the horizontal axis ({engine_params}): a row-masked "
             "layer that is not worth factorising is exported as one dense layer, while count_parameters "
             "counts its nonzero coefficients (which need the basis to be turned back into weights)",
             display=False)
else:
    glue("c4_check_basis", "none (lowrank_bases is empty)", display=False)
    glue("c4_check_equal", "not checked", display=False)
    glue("c4_check_close", "were not checked", display=False)
    glue("c4_check_params", 0, display=False)

# %% [markdown]
# For the {glue:text}`c4_check_basis` low-rank ticket, the exported model's
# outputs {glue:text}`c4_check_close` of the generalized model's on the whole
# test set, the factorised layers are pairs of `Linear` layers whose inner size
# is the number of kept rows (a layer is factorised only when
# $r(d_\text{in} + d_\text{out}) < d_\text{in} d_\text{out}$; otherwise it is
# exported as one dense layer), and its {glue:text}`c4_check_params` parameters
# {glue:text}`c4_check_equal` ({numref}`fig-c4-params`).
#
# ## Rerun at paper scale
#
# The defaults are sized for a two-core CPU. A setting closer to the
# literature (40 epochs per round, more seeds, a gentler schedule that reaches
# the same ranks in more rounds):
#
# ```bash
# papermill notebooks/04_structured.ipynb out.ipynb -p seeds 5 -p epochs 40 -p rounds 12 -p fraction 0.2 \
#     -p element_rounds 20 -p "lowrank_bases" "[dct, random, hadamard, svd]"
# ```
