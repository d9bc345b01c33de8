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
# # The canonical lottery ticket
#
# Before sparsity is generalised to other bases, this chapter reproduces the
# original lottery-ticket experiment of {cite:t}`frankle2019lottery` in the
# canonical basis, where the coefficients of {eq}`eq-analysis` are the weights
# themselves ($Q_i = I$) and the method of {doc}`../book/method` is exactly
# classic iterative magnitude pruning (IMP). It is the baseline of claim 2 of
# {cite:t}`alabdulmohsin2021generalized`: the next chapters ask whether what is
# seen here survives a change of basis.
#
# The claim, in the canonical basis, has three parts:
#
# 1. IMP with rewinding finds sparse subnetworks that train to at least the
#    accuracy of the dense network; as weights are removed, accuracy first
#    *rises* a little, then falls;
# 2. the mask alone is not enough: the same mask on a fresh random
#    initialisation (*random re-initialisation*) trains worse at high sparsity;
# 3. magnitude matters: a random mask with the same number of weights per
#    layer, on the original initialisation, trains worse too.
#
# We train LeNet-300-100 {cite:p}`lecun1998gradient,frankle2019lottery` on
# Fashion-MNIST {cite:p}`xiao2017fashion`, prune a fraction of the remaining
# weights of each hidden layer per round (the output layer at half that rate,
# as in {cite:t}`frankle2019lottery`), rewind the survivors to their values at
# iteration $k$ and retrain. $k = 0$ is the original procedure; $k > 0$ is the
# late rewinding of {cite:t}`frankle2019stabilizing` and
# {cite:t}`frankle2020linear`, available here as the parameter
# `rewind_iteration`.

# %% tags=["parameters"]
smoke = False               # True: a few seconds on scikit-learn's 8x8 digits (make test)
dataset = "fashion_mnist"   # data set (glth_core.data.DATASETS)
model = "lenet300"          # model (glth_core.models.MODELS)
seeds = 2                   # seeds per configuration (bands are over seeds)
rounds = 12                 # pruning rounds after the dense round 0
fraction = 0.2              # fraction of the remaining hidden-layer weights pruned per round
epochs = 2                  # training epochs per round
rewind_iteration = 0        # rewind to this iteration (0: Frankle & Carbin; >0: late rewinding)
controls = ["reinit", "random_mask"]  # controls trained on the ticket's masks
device = "auto"             # "auto" (CUDA if available), "cpu" or "cuda"
scheduler = "local"         # "local" (Dask LocalCluster), "serial", or a scheduler address tcp://HOST:PORT
results_dir = None          # None: the engine default ($GLTH_RESULTS_DIR or ./results)

# %% tags=["hide-input"]
# Check every parameter before anything runs (papermill -p ... with a bad value fails here).
from glth_core.chapter import check_parameters; check_parameters(globals())  # a -p NAME not declared above fails here
from glth_core.chapter import check_common, require_fraction, require_names, smoke_scheduler
from glth_core.hparams import CONTROLS

check_common(smoke=smoke, dataset=dataset, model=model, device=device, scheduler=scheduler, results_dir=results_dir,
             seeds=(seeds, 1), rounds=(rounds, 1), epochs=(epochs, 1), rewind_iteration=(rewind_iteration, 0))
require_fraction("fraction", fraction)
_allowed_controls = [c for c in CONTROLS if c != "ticket"]
require_names("controls", controls, _allowed_controls, allow_empty=True)

if smoke:  # the whole chapter in seconds: tiny data, few rounds
    dataset, seeds, rounds, epochs = "digits", min(seeds, 2), min(rounds, 4), min(epochs, 2)
    rewind_iteration = min(rewind_iteration, 5)
    scheduler = smoke_scheduler(scheduler)
print(f"dataset={dataset}, model={model}, seeds={seeds}, rounds={rounds}, fraction={fraction}, "
      f"epochs={epochs}, rewind_iteration={rewind_iteration}, controls={list(controls)}")

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


pd.set_option("display.width", 120)

# %% [markdown]
# ## The experiment
#
# One *ticket* run per seed: round 0 trains the dense network, each later round
# prunes, rewinds and retrains. Each control is a run of its own on the
# ticket's masks (see `glth_core.lottery`): *reinit* trains the ticket's
# round-$r$ mask from a fresh initialisation, *random_mask* trains a random
# mask with the ticket's number of weights in every layer from the ticket's
# own rewind point. Round 0, the dense network, is shared by all three.
# Training is plain SGD (learning rate 0.1, batch 128) as in OpenLTH; with
# scope "layer" each hidden layer keeps $(1 - p)^r$ of its weights after round
# $r$ and the output layer $(1 - p/2)^r$.
#
# Every run goes through one `sweep` call, which skips runs already in the
# results folder, so re-executing this notebook trains nothing.

# %% tags=["remove-stderr"]
base = update(
    ImpHparams(), model=model, dataset=dataset, epochs=epochs, fraction=fraction,
    rounds=rounds, rewind_iteration=rewind_iteration, basis="canonical",
)
runs = grid(base, seed=list(range(seeds)), control=["ticket", *controls])
table = sweep(runs, scheduler=scheduler, device=device, results_dir=results_dir, progress=False)
failures = table.attrs["failures"]
print(f"{len(runs)} runs, {len(failures)} failed, {len(table)} rows")
if failures:
    raise RuntimeError("some runs failed:\n" + "\n".join(map(str, failures)))

# %% [markdown]
# The tidy table has one row per run and round. The controls start at round 1;
# for the plot they inherit round 0 (the dense network), which is the same
# network for all three.

# %%
LABELS = {
    "ticket": f"IMP ticket (rewind to k={rewind_iteration})",
    "reinit": "random re-initialisation",
    "random_mask": "random mask",
}
tickets = table[table.control == "ticket"]
dense_rows = [tickets[tickets["round"] == 0].assign(control=c) for c in controls]
frame = pd.concat([table, *dense_rows], ignore_index=True)
frame["method"] = frame.control.map(LABELS)
frame["weights remaining (%)"] = 100 * frame.density
frame["test accuracy (%)"] = 100 * frame.test_accuracy
order = [LABELS[c] for c in ["ticket", *controls]]

# mean and standard deviation over seeds, by method and round
summary = (
    frame.groupby(["control", "round"])
    .agg(weights_pct=("weights remaining (%)", "mean"), acc_mean=("test accuracy (%)", "mean"),
         acc_sd=("test accuracy (%)", "std"), seeds=("seed", "nunique"))
    .reset_index()
)
print(summary[summary.control == "ticket"].round(2).to_string(index=False))

# %%
dense_acc = summary.query("control == 'ticket' and round == 0").acc_mean.item()
fig, ax = plt.subplots(figsize=(7, 4.5))
sns.lineplot(data=frame, x="weights remaining (%)", y="test accuracy (%)", hue="method", hue_order=order,
             style="method", style_order=order, markers=True, dashes=False, errorbar="sd", ax=ax)
ax.axhline(dense_acc, color="0.4", linestyle="--", linewidth=1, label="dense network (mean)")
ax.set_xscale("log")
log_percent_axis(ax.xaxis)
ax.invert_xaxis()
ax.set_xlabel("weights remaining (%, log scale)")
ax.set_ylabel("test accuracy (%)")
ax.set_title(f"LeNet-300-100 on {dataset}, canonical basis")
ax.legend(title=None, loc="lower left")
fig.tight_layout()
glue("c1_fig_accuracy", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} c1_fig_accuracy
# :name: fig-c1-accuracy
#
# Test accuracy (%) of LeNet-300-100 after each round of IMP against the
# weights remaining (%, log scale, pruning proceeds to the right), for the
# ticket (rewound to iteration $k$) and the two controls. Lines: mean over
# seeds; bands: one standard deviation over seeds. Dashed: the dense network.
# ```
#
# ## Accuracy at selected densities
#
# The same numbers as a table, at five evenly spaced rounds (mean ± standard
# deviation over seeds, in %).

# %%
selected = sorted({0, rounds // 4, rounds // 2, (3 * rounds) // 4, rounds})
cells = summary[summary["round"].isin(selected)].copy()
cells["accuracy"] = [f"{m:.2f} ± {s:.2f}" if np.isfinite(s) else f"{m:.2f}"
                     for m, s in zip(cells.acc_mean, cells.acc_sd)]
at_density = cells.pivot(index="round", columns="control", values="accuracy")[["ticket", *controls]]
at_density.columns = [LABELS[c] for c in at_density.columns]
at_density.insert(0, "weights remaining (%)",
                  summary.query("control == 'ticket'").set_index("round").weights_pct.loc[at_density.index].round(2))
print(at_density.to_string())

# %% [markdown]
# ## What the numbers show

# %%
ticket = summary[summary.control == "ticket"].set_index("round")
peak_round = int(ticket.acc_mean.idxmax())
sparsest = int(ticket.index.max())
glue("c1_dense_acc", float(dense_acc), display=False)
glue("c1_peak_acc", float(ticket.acc_mean[peak_round]), display=False)
glue("c1_peak_gain", float(ticket.acc_mean[peak_round] - dense_acc), display=False)
glue("c1_peak_density", float(ticket.weights_pct[peak_round]), display=False)
glue("c1_sparsest_density", float(ticket.weights_pct[sparsest]), display=False)
glue("c1_sparsest_ticket", float(ticket.acc_mean[sparsest]), display=False)
rises = peak_round > 0
falls = rises and ticket.acc_mean[sparsest] < ticket.acc_mean[peak_round]
glue("c1_shape", ("first rises, then falls" if falls else "rises and has not yet fallen in this range")
     if rises else "does not rise above the dense network", display=False)

# the sparsest round up to which the ticket's mean accuracy never dropped below dense
below = ticket.index[(ticket.acc_mean < dense_acc) & (ticket.index > 0)]
if len(below):
    first_below = int(below.min())
    glue("c1_below_dense", "falls below the dense accuracy for the first time at "
         f"{ticket.weights_pct[first_below]:.1f}% of the weights (round {first_below}), "
         f"with {ticket.acc_mean[first_below]:.2f}% against {dense_acc:.2f}%", display=False)
else:
    glue("c1_below_dense", "never falls below the dense accuracy in the range explored, down to "
         f"{ticket.weights_pct[sparsest]:.1f}% of the weights", display=False)

# ticket against each control, round by round (a sentence per control, so that the
# prose stays true whichever way the comparison goes)
compare = []
for c in _allowed_controls:
    if c not in controls:
        glue(f"c1_vs_{c}", "was not run (parameter controls)", display=False)
        continue
    other = summary[summary.control == c].set_index("round")
    gap = (ticket.acc_mean - other.acc_mean).drop(index=0)
    wins = int((gap > 0).sum())
    compare.append({"control": LABELS[c], "rounds compared": len(gap), "rounds the ticket is better": wins,
                    "control at the sparsest round (%)": round(other.acc_mean[sparsest], 2),
                    "ticket minus control there (pp)": round(gap.loc[sparsest], 2)})
    side = "below" if gap.loc[sparsest] > 0 else "above"
    glue(f"c1_vs_{c}", f"reaches {other.acc_mean[sparsest]:.2f}%, {abs(gap.loc[sparsest]):.2f} percentage points "
         f"{side} the ticket; the ticket's mean is higher in {wins} of the {len(gap)} pruned rounds", display=False)
compare = pd.DataFrame(compare)
print(compare.to_string(index=False))

# %% [markdown]
# The dense network reaches {glue:text}`c1_dense_acc:.2f`% test accuracy
# (mean over seeds).
#
# **Rise, then fall.** As weights are removed, the ticket's mean accuracy
# {glue:text}`c1_shape`. Its best, {glue:text}`c1_peak_acc:.2f`%
# ({glue:text}`c1_peak_gain:+.2f` percentage points against dense), is at
# {glue:text}`c1_peak_density:.1f`% of the weights; at the sparsest level,
# {glue:text}`c1_sparsest_density:.1f`% of the weights, it is
# {glue:text}`c1_sparsest_ticket:.2f`%.
#
# **Where the ticket falls below dense.** The ticket's mean accuracy
# {glue:text}`c1_below_dense`.
#
# **Ticket against the controls.** At {glue:text}`c1_sparsest_density:.1f`% of
# the weights, random re-initialisation {glue:text}`c1_vs_reinit`. The random
# mask {glue:text}`c1_vs_random_mask`.

# %%
glue("c1_settings", f"{seeds} seeds, {rounds} rounds of {fraction:.0%} pruning, {epochs} epochs per round",
     display=False)

# %% [markdown]
# ## How far this goes
#
# These numbers come from a deliberately small run ({glue:text}`c1_settings`),
# sized so that the whole book builds on a laptop-class CPU. Three differences
# from {cite:t}`frankle2019lottery` limit what it can show:
#
# - **Short training.** Each round trains for a few epochs with OpenLTH's
#   plain SGD (learning rate 0.1, batch 128), where Frankle and Carbin train
#   LeNet-300-100 for 50,000 iterations with Adam. The dense network is
#   therefore undertrained, and every ticket gets exactly the same short
#   budget; a rise in accuracy after pruning partly says that sparse networks
#   learn faster, which Frankle and Carbin also report.
# - **Sparsity range.** $(1 - p)^r$ after $r$ rounds: the sparsest level here
#   is {glue:text}`c1_sparsest_density:.1f`% of the weights, while
#   Frankle and Carbin see the largest differences between tickets and
#   controls at a few percent of the weights and below.
# - **Few seeds.** Bands over two seeds show the spread, not a confidence
#   interval; differences of a few tenths of a percentage point are within the
#   noise.
#
# The same experiment on a different basis is the subject of {doc}`02_bases`.
#
# ### Rerun at paper scale
#
# The settings of the literature (five seeds, 40 epochs per round as in
# OpenLTH, about 1.2% of the weights left after 20 rounds) are one papermill
# call away; they take hours on a CPU and minutes on a GPU:
#
# ```bash
# papermill notebooks/01_canonical.ipynb out.ipynb -p seeds 5 -p epochs 40 -p rounds 20
# ```
#
# Late rewinding {cite:p}`frankle2020linear` is `-p rewind_iteration 500`
# (rewind to iteration 500 of the dense training instead of the
# initialisation); the controls then start from the same iteration.
