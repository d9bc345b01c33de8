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
# # Random subspaces against tickets
#
# {cite:t}`li2018intrinsic` measure how many degrees of freedom a task needs by
# training a network only inside a random $d$-dimensional affine subspace of its
# parameter space, $\theta = \theta_0 + P\,\delta$, and define the *intrinsic
# dimension* as the smallest $d$ that reaches 90% of the dense network's
# accuracy. The second version of {cite:t}`alabdulmohsin2021generalized` points
# out that this is one corner of the generalized lottery-ticket framework (claim
# 5 of the book): as spelled out in {doc}`../book/method` (section "Random
# subspaces"), it is a ticket with
#
# - a random orthogonal basis of every layer,
# - a *random* mask that keeps $d$ coefficients in total (not a magnitude mask),
# - coefficients that start at zero on top of a frozen offset, the initial
#   weights $W_0$.
#
# A lottery ticket changes all three: the mask is chosen by magnitude after
# training, the basis may be structured (here the canonical one, and a random
# orthogonal one as the bridge between the two worlds), and the surviving
# coefficients are rewound to their initial values instead of starting at zero
# around a frozen network, so the ticket's weights *are* the coefficients, with
# no offset. This chapter trains both and puts them on the same axes: accuracy
# against the number of trained coefficients.

# %% tags=["parameters"]
smoke = False               # True: a few seconds on scikit-learn's 8x8 digits (make test)
dataset = "fashion_mnist"   # data set (glth_core.data.DATASETS)
model = "lenet300"          # model (glth_core.models.MODELS)
seeds = 2                   # seeds per configuration (bands are over seeds)
rounds = 15                 # IMP pruning rounds after the dense round 0
fraction = 0.2              # fraction of the remaining hidden-layer coefficients pruned per IMP round
epochs = 2                  # training epochs (per IMP round, and for each subspace run)
dimensions = [100, 300, 1000, 3000, 10000, 30000, 100000]  # subspace dimensions d (log grid)
subspace_batch_size = 512   # minibatch of the subspace runs (their cost per step does not depend on it)
ticket_bases = ["canonical", "random"]  # bases of the IMP tickets drawn for comparison
threshold = 0.9             # intrinsic dimension: smallest d reaching threshold * dense accuracy
device = "auto"             # "auto" (CUDA if available), "cpu" or "cuda"
scheduler = "local"         # "local" (Dask LocalCluster), "serial", or a scheduler address tcp://HOST:PORT
results_dir = None          # None: the engine default ($GLTH_RESULTS_DIR or ./results)

# %%
from glth_core.chapter import check_parameters; check_parameters(globals())  # a -p NAME not declared above fails here
from glth_core.chapter import check_common, require_fraction, require_names, smoke_scheduler

from glth_core.bases import FIXED_BASES as ALLOWED_TICKET_BASES  # not svd: it is fitted to trained weights
check_common(smoke=smoke, dataset=dataset, model=model, device=device, scheduler=scheduler, results_dir=results_dir,
             seeds=(seeds, 1), rounds=(rounds, 1), epochs=(epochs, 1), subspace_batch_size=(subspace_batch_size, 1))
require_fraction("fraction", fraction)
require_names("ticket_bases", ticket_bases, ALLOWED_TICKET_BASES)
if (not isinstance(dimensions, (list, tuple)) or not dimensions
        or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dimensions)
        or len(set(dimensions)) != len(dimensions)):
    raise ValueError(f"parameter dimensions must be a non-empty list of distinct integers >= 1, got {dimensions!r}")
if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
    raise ValueError(f"parameter threshold must be a number in (0, 1], got {threshold!r}")

if smoke:  # the whole chapter in seconds: tiny data, few rounds (the same runs as chapter 02's smoke mode)
    dataset, seeds, rounds, epochs = "digits", min(seeds, 2), min(rounds, 4), min(epochs, 2)
    dimensions, subspace_batch_size = [10, 100, 1000], min(subspace_batch_size, 64)
    scheduler = smoke_scheduler(scheduler)
dimensions = sorted(dimensions)
print(f"dataset={dataset}, model={model}, seeds={seeds}, rounds={rounds}, fraction={fraction}, epochs={epochs}, "
      f"dimensions={dimensions}, subspace_batch_size={subspace_batch_size}, ticket_bases={list(ticket_bases)}, "
      f"threshold={threshold}")

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from myst_nb import glue

from glth_core.hparams import ImpHparams, SubspaceHparams, update
from glth_core.subspace import intrinsic_dimension
from glth_core.sweep import grid, sweep

sns.set_theme(style="whitegrid", context="notebook")
pd.set_option("display.width", 140)

# %% [markdown]
# ## The experiments
#
# **Random subspaces.** For every $d$ in `dimensions` and every seed,
# `glth_core.subspace.run_subspace` (through `sweep`) builds the network with
# that seed, writes every layer in a seeded random orthogonal basis with
# the initial weights frozen as the offset $W_0$, draws a random mask with $d$
# ones in total (spread over the layers in proportion to their sizes), and
# trains only those $d$ coefficients from zero; biases stay at their initial
# values, so exactly $d$ numbers are trained. The engine's default optimiser for
# subspaces is Adam (learning rate $10^{-2}$): in a random basis Adam's
# per-coordinate scaling is a random preconditioner (see {doc}`../book/method`),
# which is harmless here since no basis is being compared. The subspace runs use
# a larger minibatch (`subspace_batch_size`) for speed: a layer with an offset
# synthesises its weight from its random basis on every step (the offset keeps
# the basis on the weight side, {doc}`../book/benchmarks`), a cost that does not
# depend on the batch size.
#
# **Tickets.** IMP with rewinding to the initialisation ($k = 0$), exactly the
# runs of {doc}`02_bases` (same model, schedule, fraction, epochs and seeds, so
# they are read from the results folder when that chapter has run): SGD with
# learning rate 0.1, a fraction `fraction` of each hidden layer's remaining
# coefficients pruned per round, in the canonical basis (classic tickets) and in
# a random orthogonal basis (random basis, but magnitude mask and no offset).

# %%
subspace_base = update(SubspaceHparams(), model=model, dataset=dataset, epochs=epochs,
                       batch_size=subspace_batch_size)
subspace_runs = grid(subspace_base, dimension=list(dimensions), seed=list(range(seeds)))
ticket_base = update(ImpHparams(), model=model, dataset=dataset, epochs=epochs, fraction=fraction, rounds=rounds)
ticket_runs = grid(ticket_base, basis=list(ticket_bases), seed=list(range(seeds)))
# one sweep per kind of run: the two tables have different columns
subspaces = sweep(subspace_runs, scheduler=scheduler, device=device, results_dir=results_dir, progress=False)
tickets = sweep(ticket_runs, scheduler=scheduler, device=device, results_dir=results_dir, progress=False)
failures = subspaces.attrs["failures"] + tickets.attrs["failures"]
print(f"{len(subspace_runs)} subspace runs, {len(ticket_runs)} ticket runs, {len(failures)} failed")
if failures:
    raise RuntimeError("some runs failed:\n" + "\n".join(map(str, failures)))

# %% [markdown]
# Both tables are tidy: one row per subspace run, one row per ticket run and
# pruning round. The number of trained coefficients is `trainable` ($= d$) for
# a subspace; for a ticket it is its density times the number of coefficients
# of the network (the biases, a few hundred numbers, are trained in addition).

# %%
BASIS_LABELS = {"canonical": "canonical", "dct": "DCT", "hadamard": "Hadamard", "random": "random orthogonal"}
total_coefficients = int(round(float((subspaces.trainable / subspaces.density).mean())))
dense = tickets[tickets["round"] == 0]
dense_accuracy = float(dense[dense.basis == ticket_bases[0]].test_accuracy.mean())
d_int = intrinsic_dimension(subspaces, dense_accuracy, threshold=threshold)

sub = subspaces.assign(method="random subspace (Li et al.)", coefficients=subspaces.trainable.astype(float))
tix = tickets.assign(method=tickets.basis.map(lambda b: f"IMP ticket, {BASIS_LABELS[b]} basis"),
                     coefficients=tickets.density * total_coefficients)
frame = pd.concat([sub, tix], ignore_index=True)
frame["test accuracy (%)"] = 100 * frame.test_accuracy
frame["trained coefficients"] = frame.coefficients

sub_summary = (sub.groupby("dimension").test_accuracy.agg(["mean", "std"]).mul(100)
               .rename(columns={"mean": "accuracy (%)", "std": "sd (pp)"}))
print(f"{total_coefficients} coefficients in the network; dense accuracy (round 0, {ticket_bases[0]} basis, "
      f"mean over seeds): {100 * dense_accuracy:.2f}%; {100 * threshold:g}% of it: "
      f"{100 * threshold * dense_accuracy:.2f}%; intrinsic dimension: {d_int}")
print("random subspaces: test accuracy over seeds")
print(sub_summary.round(2).to_string())

# %%
method_order = ["random subspace (Li et al.)"] + [f"IMP ticket, {BASIS_LABELS[b]} basis" for b in ticket_bases]
palette = dict(zip(method_order, sns.color_palette("colorblind", len(method_order))))
fig, ax = plt.subplots(figsize=(8, 4.8))
sns.lineplot(data=frame, x="trained coefficients", y="test accuracy (%)", hue="method", hue_order=method_order,
             style="method", style_order=method_order, palette=palette, markers=True, dashes=False,
             errorbar="sd", ax=ax)
ax.axhline(100 * dense_accuracy, color="0.3", lw=1, ls="--", label="dense network")
ax.axhline(100 * threshold * dense_accuracy, color="0.3", lw=1, ls=":", label=f"{100 * threshold:g}% of dense")
if d_int is not None:
    ax.axvline(d_int, color=palette[method_order[0]], lw=1, ls="-.", label=f"intrinsic dimension $d_{{90}}$ = {d_int}")
ax.set_xscale("log")
ax.set_xlabel("trained coefficients (count, log scale)")
ax.set_ylabel("test accuracy (%)")
ax.legend(title=None, loc="lower right", fontsize="small")
fig.tight_layout()
glue("c3_fig_subspace", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} c3_fig_subspace
# :name: fig-c3-subspace
#
# Test accuracy (%) against the number of trained coefficients (log scale) for
# training in a random subspace of dimension $d$ and for IMP tickets (one point
# per pruning round; the right-most point is the dense network). Lines: mean
# over seeds; bands: one standard deviation. Dashed: dense accuracy; dotted:
# 90% of it (the `threshold`); dash-dotted: the intrinsic dimension, the
# smallest $d$ of the grid whose mean accuracy reaches the dotted line.
# ```

# %%
glue("c3_total", total_coefficients, display=False)
glue("c3_dense", 100 * dense_accuracy, display=False)
glue("c3_threshold_pct", 100 * threshold, display=False)
glue("c3_threshold_acc", 100 * threshold * dense_accuracy, display=False)
glue("c3_dmin", int(dimensions[0]), display=False)
glue("c3_dmax", int(dimensions[-1]), display=False)
glue("c3_acc_dmin", float(sub_summary["accuracy (%)"].iloc[0]), display=False)
glue("c3_acc_dmax", float(sub_summary["accuracy (%)"].iloc[-1]), display=False)
if d_int is None:
    intrinsic_text = (f"no d of the grid (up to {dimensions[-1]}) reaches {100 * threshold:g}% of the dense "
                      "accuracy, so the intrinsic dimension is larger than the grid")
else:
    intrinsic_text = (f"the intrinsic dimension on this grid is d = {d_int}, "
                      f"{100 * d_int / total_coefficients:.2g}% of the network's coefficients "
                      f"(a grid value: the true threshold lies between the previous grid point and it)")
glue("c3_intrinsic_text", intrinsic_text, display=False)

# %% [markdown]
# ## What the random subspace shows
#
# The network has {glue:text}`c3_total` coefficients and its dense accuracy is
# {glue:text}`c3_dense:.2f`%, so the 90% line is at
# {glue:text}`c3_threshold_acc:.2f`%. Trained in a random subspace, it reaches
# {glue:text}`c3_acc_dmin:.1f`% with $d$ = {glue:text}`c3_dmin` coefficients
# and {glue:text}`c3_acc_dmax:.1f`% with $d$ = {glue:text}`c3_dmax`;
# {glue:text}`c3_intrinsic_text`. The same comparison in
# {cite:t}`li2018intrinsic` found intrinsic dimensions of a few hundred for
# fully connected networks on MNIST; Fashion-MNIST is a harder task, and our
# short training (a fixed number of epochs rather than training to
# convergence) biases the estimate upwards, since small subspaces converge
# more slowly. Note how lenient the criterion is: it asks for 90% of the dense
# accuracy, and the remaining percentage points are the expensive ones, as the
# slow rise of the curve towards the dashed line shows.
#
# ## Subspaces against tickets at equal size
#
# For each ticket round we compare with the subspace of the same size: the
# subspace accuracy at the ticket's number of coefficients, interpolated
# linearly in $\log d$ between the two neighbouring grid points (only where the
# ticket's size lies inside the grid of `dimensions`).

# %%
log_d = np.log(sub_summary.index.to_numpy(dtype=float))
acc_d = sub_summary["accuracy (%)"].to_numpy()
ticket_summary = (tix.groupby(["basis", "round"], sort=False)
                  .agg(coefficients=("coefficients", "mean"), accuracy=("test_accuracy", "mean"))
                  .reset_index())
ticket_summary["accuracy"] *= 100
inside = (np.log(ticket_summary.coefficients) >= log_d[0]) & (np.log(ticket_summary.coefficients) <= log_d[-1])
ticket_summary["subspace at same size"] = np.where(
    inside, np.interp(np.log(ticket_summary.coefficients), log_d, acc_d), np.nan)
ticket_summary["ticket - subspace (pp)"] = ticket_summary.accuracy - ticket_summary["subspace at same size"]
comparison = ticket_summary.dropna(subset=["subspace at same size"]).copy()
comparison["basis"] = comparison.basis.map(BASIS_LABELS)
comparison["coefficients"] = comparison.coefficients.round().astype(int)
print("mean test accuracy (%) of tickets and of the random subspace of the same size")
print(comparison.round(2).to_string(index=False))

# %%
if len(comparison):
    gaps = comparison["ticket - subspace (pp)"]
    glue("c3_n_compared", int(len(comparison)), display=False)
    glue("c3_n_ticket_better", int((gaps > 0).sum()), display=False)
    glue("c3_gap_min", float(gaps.min()), display=False)
    glue("c3_gap_max", float(gaps.max()), display=False)
    smallest = comparison.loc[comparison.coefficients.idxmin()]
    glue("c3_small_coeffs", int(smallest.coefficients), display=False)
    glue("c3_small_ticket", float(smallest.accuracy), display=False)
    glue("c3_small_basis", str(smallest.basis), display=False)
    glue("c3_small_subspace", float(smallest["subspace at same size"]), display=False)
    verdict = ("every ticket in that range is more accurate than the random subspace of the same size"
               if (gaps > 0).all() else
               "the random subspace is at least as accurate as every ticket in that range"
               if (gaps <= 0).all() else
               "neither method is uniformly better in that range")
else:
    for key in ("c3_n_compared", "c3_n_ticket_better", "c3_small_coeffs"):
        glue(key, 0, display=False)
    for key in ("c3_gap_min", "c3_gap_max", "c3_small_ticket", "c3_small_subspace"):
        glue(key, float("nan"), display=False)
    glue("c3_small_basis", "none", display=False)
    verdict = "the tickets' sizes do not overlap the grid of dimensions, so no comparison at equal size is possible"
glue("c3_verdict", verdict, display=False)
sparsest = ticket_summary.loc[ticket_summary.groupby("basis")["round"].idxmax()]
glue("c3_fraction_pct", 100 * fraction, display=False)
glue("c3_ticket_min_coeffs", int(round(float(sparsest.coefficients.min()))), display=False)

# %% [markdown]
# Of the {glue:text}`c3_n_compared` ticket rounds whose size falls inside the
# subspace grid, {glue:text}`c3_n_ticket_better` are more accurate than the
# subspace of the same size, by {glue:text}`c3_gap_min:.2f` to
# {glue:text}`c3_gap_max:.2f` percentage points (negative: the subspace is
# better); {glue:text}`c3_verdict`. At the smallest compared size,
# {glue:text}`c3_small_coeffs` coefficients, the {glue:text}`c3_small_basis`
# ticket reaches {glue:text}`c3_small_ticket:.2f`% and the subspace
# {glue:text}`c3_small_subspace:.2f`%. The sparsest ticket of this run still
# has {glue:text}`c3_ticket_min_coeffs` coefficients: removing
# {glue:text}`c3_fraction_pct:.0f`% of the coefficients per round, IMP needs many rounds to reach the sizes where a random subspace
# first becomes useful, so most of the subspace curve has no ticket to compare
# with.
#
# ## Discussion
#
# Seen through the framework of {doc}`../book/method`, the two methods differ in
# three choices, and the figure shows their combined effect:
#
# 1. **The mask.** The subspace keeps $d$ coefficients chosen at random before
#    training; a ticket keeps the coefficients that had the largest magnitude
#    after training, a choice informed by the data. This is the difference the
#    random-mask control of {doc}`01_canonical` isolates in the canonical basis.
# 2. **The basis.** In the canonical basis a random mask would leave most units
#    with almost no inputs; a random basis spreads each kept coefficient over
#    all weights of its layer, which is what makes very small $d$ trainable.
#    The random-orthogonal ticket keeps the ticket's magnitude mask in such a
#    spread-out basis.
# 3. **The offset.** The subspace trains a correction $W - W_0$ on top of a
#    frozen random network, whose $W_0$ costs nothing to store (it is
#    regenerated from its seed) and already computes useful random features; a
#    ticket's weights are its coefficients, with no offset, so every nonzero
#    weight must be stored and the masked ones are exactly zero.
#
# These differences also decide what "size" means. The subspace's $d$ counts
# trained numbers, but the network it trains is dense and full-size at
# inference; a ticket's count is what an exported sparse model stores. Li et
# al.'s intrinsic dimension is therefore a measure of the *optimisation*
# problem (how many directions suffice to find a good network near $W_0$),
# while a ticket is a statement about *compression*. Two further differences
# are choices of this book, not of the framework: the subspace runs use Adam
# and the tickets SGD (the engine's defaults for each), and the subspace uses a
# larger minibatch and so fewer steps.
#
# ## Rerun at paper scale
#
# The default settings are sized for a two-core CPU. Li et al. train to
# convergence and average several runs per $d$; tickets in the literature
# train LeNet-300-100 for 40 epochs per round. For example:
#
# ```bash
# papermill notebooks/03_subspace.ipynb out.ipynb -p seeds 5 -p epochs 40 -p rounds 20 \
#     -p subspace_batch_size 128 -p "dimensions" "[100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 10000, 30000, 100000]"
# ```
#
# The ticket runs are shared with {doc}`02_bases` when their parameters agree.
