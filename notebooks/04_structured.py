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
# The first part of claim 4 is true by construction, and this chapter checks
# it on a trained ticket. The second part is empirical: how good are the
# structured tickets that IMP finds? We compare them with unstructured
# (element) tickets at equal parameter count, and the low-rank tickets with the
# classic post-training alternative, the truncated SVD of the trained dense
# network.

# %% tags=["parameters"]
smoke = False               # True: a few seconds on scikit-learn's 8x8 digits (make test)
profile = "quick"           # "quick" (make book on a CPU) or "paper" (the literature's settings); see the table below
seeds = None                # seeds per configuration (intervals are over seeds)
row_fraction = None         # fraction of the remaining rows (units / rank) of each hidden layer pruned per round
row_rounds = None           # structured IMP rounds after the dense round 0
lowrank_bases = None        # rotated output bases of the low-rank tickets
element_bases = None        # bases of the unstructured (element) tickets (the runs of chapters 01/02)
epochs = None               # training epochs per round
rounds = None               # IMP rounds of the element tickets
device = "auto"             # "auto" (CUDA if available), "cpu" or "cuda"
scheduler = "auto"          # "auto" (fastest here), "local" (Dask LocalCluster), "serial", or tcp://HOST:PORT
results_dir = None          # None: the engine default ($GLTH_RESULTS_DIR or ./results)

# %%
from glth_core.chapter import check_parameters; check_parameters(globals())  # a -p NAME not declared above fails here
from glth_core.chapter import check_common, check_hparams, require_fraction, require_names, smoke_scheduler
from glth_core.profiles import chapter_parameters, imp_base

from glth_core.bases import FIXED_BASES as ALLOWED_ELEMENT, ROTATED_BASES as ALLOWED_LOWRANK  # low rank needs a rotation

params = chapter_parameters("04_structured", profile, smoke=smoke, seeds=seeds, row_fraction=row_fraction,
                            row_rounds=row_rounds, lowrank_bases=lowrank_bases, element_bases=element_bases,
                            epochs=epochs, rounds=rounds)
# low-rank export factorises Linear layers: the fully connected LeNets only
check_common(smoke=smoke, dataset=params["dataset"], model=params["model"], device=device, scheduler=scheduler,
             results_dir=results_dir,
             seeds=(params["seeds"], 2), row_rounds=(params["row_rounds"], 1), epochs=(params["epochs"], 1),
             rounds=(params["rounds"], 1))
if not params["model"].startswith("lenet"):
    raise ValueError(f"parameter model must be a fully connected LeNet (low-rank export), got {params['model']!r}")
require_fraction("row_fraction", params["row_fraction"])
require_names("lowrank_bases", params["lowrank_bases"], ALLOWED_LOWRANK)
require_names("element_bases", params["element_bases"], ALLOWED_ELEMENT)
if "canonical" not in params["element_bases"]:
    raise ValueError("parameter element_bases must include 'canonical': its tickets are the reference, and their "
                     "round 0 is the trained dense network that the SVD baseline truncates")
check_hparams(imp_base(params))  # the engine's own bounds, named as parameters; the structured runs too:
check_hparams(imp_base(params, granularity="row", fraction=params["row_fraction"], rounds=params["row_rounds"],
                       output_fraction=0.0), fraction="row_fraction", rounds="row_rounds")
if smoke:
    scheduler = smoke_scheduler(scheduler)
print(", ".join(f"{k}={v}" for k, v in params.items()))

# %%
import json

import matplotlib.pyplot as plt
import pandas as pd
import torch
from myst_nb import glue

from glth_core import equal_size, plots, stats
from glth_core.chapter import VERDICT_COLUMNS
from glth_core.verdict_tables import verdict_row
from glth_core.chapter import record_verdicts
from glth_core.export import count_parameters, export, multiply_adds
from glth_core.lottery import load_splits, round_model
from glth_core.profiles import estimated_cost_hours, imp_base, settings_table
from glth_core.sweep import sweep
from glth_core.training import evaluate
from glth_core.truncation import ranks_from_densities, truncate_svd

pd.set_option("display.width", 160)
LABELS = {"canonical": "canonical", "dct": "DCT", "hadamard": "Hadamard", "random": "random orthogonal"}

# %% [markdown]
# ## The experiments
#
# All runs are IMP with rewinding to the initialisation on LeNet-300-100
# {cite:p}`lecun1998gradient,frankle2019lottery` and Fashion-MNIST
# {cite:p}`xiao2017fashion`, with the profile's SGD schedule shared by
# chapters 01-04. The structured runs prune, per round, a fraction
# `row_fraction` of the remaining rows of each hidden layer's coefficients by
# their $\ell_2$ norm, in the canonical basis (units) and in each basis of
# `lowrank_bases` (low rank); they never prune the 10-unit output layer, whose
# rows are the classes. The element tickets are the shared runs of
# {doc}`01_canonical` and {doc}`02_bases` (found in the results folder when
# those chapters have run). Every non-canonical basis views the first layer's
# input axis as the $28 \times 28$ image.

# %%
def chapter_runs(p):
    """The structured (row) runs and the shared element runs of resolved parameters ``p``."""
    seeds_ = range(p["seeds"])
    rows = [imp_base(p, granularity="row", fraction=p["row_fraction"], rounds=p["row_rounds"], output_fraction=0.0,
                     basis=b, seed=s) for b in ["canonical", *p["lowrank_bases"]] for s in seeds_]
    elements = [imp_base(p, basis=b, seed=s) for b in p["element_bases"] for s in seeds_]
    return rows, elements


row_runs, element_runs = chapter_runs(params)
table = sweep(row_runs + element_runs, scheduler=scheduler, device=device, results_dir=results_dir, progress=False)
failures = table.attrs["failures"]
print(f"{len(row_runs)} structured runs, {len(element_runs)} element runs, {len(failures)} failed")
if failures:
    raise RuntimeError("some runs failed:\n" + "\n".join(map(str, failures)))

# %% [markdown]
# What the two profiles set, and what they cost (measured: the training times
# stored with this build's runs, the element runs shared with other chapters
# included; estimated for the other profile from measured seconds per epoch).

# %%
def hours(h):
    return "not measured" if h is None else f"{h:.2f} h"


other = "paper" if profile == "quick" else "quick"
other_runs = sum(chapter_runs(chapter_parameters("04_structured", other)), [])
print(settings_table("04_structured").to_string())
print(f"\nthis build ({profile}{', smoke' if smoke else ''}): {table.wall_time_s.sum() / 60:.1f} min of training")
print(f"profile {other}: CPU {hours(estimated_cost_hours(other_runs, 'cpu'))}, "
      f"GPU {hours(estimated_cost_hours(other_runs, 'gpu'))}")

# %% [markdown]
# ## The baseline: truncating the SVD of the trained network
#
# Each seed's trained dense network is round 0 of its canonical element run
# (`glth_core.lottery.round_model`). `glth_core.truncation.truncate_svd` writes
# each hidden layer in the SVD basis of its own trained weight and keeps the
# $r$ largest singular directions, *without retraining*: the compression step
# of {cite:t}`denton2014exploiting` before their fine-tuning. The ranks are
# those of the structured runs' rounds
# (`glth_core.truncation.ranks_from_densities`), so the truncation and the
# low-rank tickets have the same ranks and parameter counts.

# %%
x_test, y_test = load_splits(row_runs[0].dataset).test
structured = table[table.granularity == "row"]
svd_rows = []
for seed in range(params["seeds"]):
    dense_net = round_model(imp_base(params, basis="canonical", seed=seed), 0, results_dir)
    units = structured[(structured.basis == "canonical") & (structured.seed == seed) & (structured["round"] > 0)]
    for r, layer_densities in zip(units["round"], units.layer_densities):
        truncated = truncate_svd(dense_net, ranks_from_densities(dense_net, json.loads(layer_densities)))
        accuracy, _ = evaluate(truncated, x_test, y_test)
        svd_rows.append({"basis": "svd", "granularity": "row", "seed": seed, "round": int(r),
                         "params": count_parameters(truncated), "test_accuracy": accuracy})
frame = pd.concat([table, pd.DataFrame(svd_rows)], ignore_index=True)


def method_of(granularity, basis):
    if granularity == "element":
        return f"element ticket, {LABELS[basis]}"
    if basis == "svd":
        return "trained SVD, truncated"
    return "units (canonical rows)" if basis == "canonical" else f"low rank, {LABELS[basis]} rows"


frame["method"] = [method_of(g, b) for g, b in zip(frame.granularity, frame.basis)]
summary = stats.summarize(frame[frame.granularity == "row"], ["method", "round"], means=["params"])
print("structured models: mean test accuracy (%) and mean parameters by round")
print(summary.pivot(index="round", columns="method", values="mean").mul(100).round(2).to_string())
print(summary.pivot(index="round", columns="method", values="params").round(0).astype("Int64").to_string())

# %%
fig, ax = plt.subplots(figsize=(8.5, 5))
plots.accuracy_curves(frame, "method", x="params", ax=ax)
ax.set_xlabel("parameters of the exported model (count, log scale)")
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
# Element tickets: unstructured IMP. Lines: means over seeds; bands: 95%
# t-intervals.
# ```
#
# The parameter count is `glth_core.count_parameters`: biases plus, for each
# pruned layer, its unmasked coefficients, or $r(d_\text{in} + d_\text{out})$
# for a layer that exports as a low-rank pair. For unit pruning this count is
# conservative: it keeps the input columns of the next layer that read the
# removed units, which a compacted network would drop as well.
#
# ## Claim 4 by construction: an exported low-rank ticket
#
# We rebuild the sparsest round of the first low-rank run (seed 0) from its
# checkpoint, export it with `glth_core.export.export`, and check three things:
# its factorised layers are pairs of plain `Linear` layers whose inner size $r$
# is the number of kept rows, it computes the same outputs as the generalized
# model (up to float round-off) on the whole test set, and its parameter count
# is $r(d_\text{out} + d_\text{in})$ per factorised layer plus the rest.

# %%
check_hp = imp_base(params, granularity="row", fraction=params["row_fraction"], rounds=params["row_rounds"],
                    output_fraction=0.0, basis=params["lowrank_bases"][0], seed=0)
generalized = round_model(check_hp, params["row_rounds"], results_dir)
plain = export(generalized)
with torch.no_grad():
    max_difference = float((generalized(x_test) - plain(x_test)).abs().max())
pairs = {name: m for name, m in plain.named_modules() if isinstance(m, torch.nn.Sequential) and len(m) == 2
         and all(isinstance(layer, torch.nn.Linear) for layer in m)}
factor_params = sum(m[0].out_features * (m[0].in_features + m[1].out_features) for m in pairs.values())
inside_pairs = lambda n: any(n.startswith(q + ".") for q in pairs)  # noqa: E731
other_params = sum(p.numel() for n, p in plain.named_parameters() if not inside_pairs(n)) \
    + sum(m[1].bias.numel() for m in pairs.values() if m[1].bias is not None)
exported_params = sum(p.numel() for p in plain.parameters())
checks = {
    "factorised layers are Linear(in -> r) then Linear(r -> out)": len(pairs) > 0,
    "outputs agree: max |generalized - exported| < 1e-4": max_difference < 1e-4,
    "exported parameters = sum of r(out + in) + the rest": exported_params == factor_params + other_params,
}
for name, m in pairs.items():
    print(f"{name}: Linear({m[0].in_features} -> {m[0].out_features}) then Linear({m[1].in_features} -> "
          f"{m[1].out_features}): r = {m[0].out_features}, r(out + in) = "
          f"{m[0].out_features * (m[0].in_features + m[1].out_features):,}")
input_shape = tuple(x_test.shape[1:])
dense_plain = export(round_model(imp_base(params, basis="canonical", seed=0), 0, results_dir))
print(f"parameters: exported {exported_params:,} (dense {sum(p.numel() for p in dense_plain.parameters()):,}); "
      f"multiply-adds per image: exported {multiply_adds(plain, input_shape):,} "
      f"(dense {multiply_adds(dense_plain, input_shape):,})")
for what, ok in checks.items():
    print(f"{'PASS' if ok else 'FAIL'}  {what}")
engine_params = count_parameters(generalized)
print(f"count_parameters of the generalized model (the figure's axis): {engine_params:,}, "
      + ("the exported count" if engine_params == exported_params else
         "not the exported count: a row-pruned layer with r(out + in) >= out * in is exported dense, "
         "while count_parameters counts its nonzero coefficients"))
glue("c4_check_basis", LABELS[check_hp.pruning.basis], display=False)
glue("c4_check_outcome", "all three checks pass" if all(checks.values()) else
     "at least one check fails (marked FAIL above)", display=False)
glue("c4_check_params", exported_params, display=False)

# %% [markdown]
# For the {glue:text}`c4_check_basis` low-rank ticket,
# {glue:text}`c4_check_outcome`: the exported model has
# {glue:text}`c4_check_params` parameters. A layer is factorised only when
# $r(d_\text{in} + d_\text{out}) < d_\text{in} d_\text{out}$; otherwise it is
# exported as one dense layer, and then `count_parameters` (the figure's axis)
# counts its nonzero coefficients instead, which need the basis to become
# weights again: the printout above says whether that happens here.
#
# ## Structured against element tickets at equal parameter count
#
# For each seed and each structured round, the accuracy of the same seed's
# canonical element ticket at the same parameter count is interpolated
# linearly in $\log(\text{parameters})$ between its two neighbouring rounds
# (only inside the range its rounds cover), and the paired difference
# *structured − element* is taken over seeds. Every structured round is a
# pre-specified comparison and is tested; the rule asks whether the structured
# ticket is *more* accurate ("holds"), less ("contradicted"), or whether the
# interval includes 0 ("inconclusive").

# %%
element = frame[(frame.granularity == "element") & (frame.basis == "canonical")]
structured_tickets = frame[(frame.granularity == "row") & (frame.basis != "svd") & (frame["round"] > 0)]
versus_element = stats.with_verdicts(equal_size.equal_size_difference(
    structured_tickets, element, x="params", by=["method", "round"]), "greater")
print(pd.DataFrame({"structured": versus_element.method, "round": versus_element["round"],
                    "parameters": versus_element.params.round().astype(int),
                    "structured (%)": 100 * versus_element.treatment_mean,
                    "element (%)": 100 * versus_element.reference_mean,
                    "verdict (structured − element)": versus_element.sentence}).round(2).to_string(index=False))

# %% [markdown]
# ## Low-rank tickets against the truncated SVD
#
# At every structured round, each low-rank ticket against the trained dense
# network truncated to the same ranks (same seed): *ticket − truncation*.

# %%
lowrank_methods = [method_of("row", b) for b in params["lowrank_bases"]]
versus_svd = pd.concat([stats.paired_difference(frame[frame["round"] > 0], "method", m, "trained SVD, truncated",
                                                by=["round"]).assign(method=m) for m in lowrank_methods],
                       ignore_index=True)
versus_svd = stats.with_verdicts(versus_svd, "greater")
print(pd.DataFrame({"low-rank ticket": versus_svd.method, "round": versus_svd["round"],
                    "ticket (%)": 100 * versus_svd.treatment_mean, "truncated SVD (%)": 100 * versus_svd.reference_mean,
                    "verdict (ticket − truncation)": versus_svd.sentence}).round(2).to_string(index=False))

# %%
def verdict_rows(effects, label):
    return pd.DataFrame([verdict_row(r, "greater", claim="4", chapter="04_structured", comparison=label(r))
                         for _, r in effects.iterrows()], columns=VERDICT_COLUMNS)


verdicts = pd.concat([
    verdict_rows(versus_element, lambda r: f"{r.method} − element ticket at {int(round(r.params)):,} "
                                           "parameters (LeNet)"),
    verdict_rows(versus_svd, lambda r: f"{r.method} − truncated SVD, round {int(r['round'])} (LeNet)")],
    ignore_index=True)
record_verdicts("04_structured", verdicts, profile=profile, smoke=smoke, results_dir=results_dir)
for key, effects in (("element", versus_element), ("svd", versus_svd)):
    counts = effects.verdict.value_counts()
    glue(f"c4_{key}_n", int(len(effects)), display=False)
    for outcome in stats.VERDICTS:
        glue(f"c4_{key}_{outcome}", int(counts.get(outcome, 0)), display=False)
dense_rows = frame[(frame.method == "element ticket, canonical") & (frame["round"] == 0)]
glue("c4_dense_params", int(dense_rows.params.iloc[0]), display=False)
glue("c4_dense_acc", 100 * float(dense_rows.test_accuracy.mean()), display=False)

# %% [markdown]
# ## What the experiments show
#
# The dense network has {glue:text}`c4_dense_params` parameters and reaches
# {glue:text}`c4_dense_acc:.2f`% (mean over seeds). The structured tickets are
# found by the same IMP code that finds unstructured ones, only with row
# granularity, and the low-rank ones export to plain factorised layers, as the
# check above shows: structured pruning *is* a generalized ticket.
#
# Against the element tickets at equal exported size, the verdict *structured
# more accurate* is "holds" in {glue:text}`c4_element_holds`, "contradicted" in
# {glue:text}`c4_element_contradicted` and "inconclusive" in
# {glue:text}`c4_element_inconclusive` of the {glue:text}`c4_element_n`
# comparisons (tables above: n, paired difference, 95% CI). An element mask may
# keep any subset of coefficients, a row mask only whole rows, so at equal size
# the element mask has more freedom; the comparison measures what that freedom
# is worth in accuracy. What structure buys is not in this comparison: a
# unit-pruned or low-rank model is a smaller *dense* network, fast with
# ordinary dense kernels (the multiply-adds above), while an element ticket
# needs sparse storage and sparse kernels to turn its zeros into savings.
#
# Against the truncated SVD of the trained network at the same ranks, the
# verdict *low-rank ticket more accurate* is "holds" in
# {glue:text}`c4_svd_holds`, "contradicted" in {glue:text}`c4_svd_contradicted`
# and "inconclusive" in {glue:text}`c4_svd_inconclusive` of the
# {glue:text}`c4_svd_n` comparisons. The two answer different questions: the
# ticket retrains from the initial weights at that rank (a trainable low-rank
# structure found at initialisation), the truncation compresses a network
# trained in full and is not retrained; with fine-tuning, as in
# {cite:t}`denton2014exploiting`, the truncation would gain accuracy at a
# training cost.
#
# ## Rerun at paper scale
#
# The `paper` profile (the table above) trains to convergence with five seeds,
# prunes 20% of the rows per round for twelve rounds and adds Hadamard and
# random-orthogonal low-rank tickets:
#
# ```bash
# papermill notebooks/04_structured.ipynb out.ipynb -p profile paper
# ```
