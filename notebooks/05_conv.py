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
# # Convolutional networks
#
# The previous chapters prune fully connected networks. The lottery-ticket
# hypothesis was also stated for small convolutional networks, Conv-2, Conv-4
# and Conv-6 on CIFAR-10 {cite:p}`frankle2019lottery,krizhevsky2009learning`,
# and a convolution kernel is where a frequency basis is most natural: a
# $3 \times 3$ kernel is a tiny image, and compressing convolutional networks
# in the DCT domain is the idea behind CNNpack {cite:p}`wang2016cnnpack`. If
# the DCT is to beat the canonical basis anywhere, it should be here. This
# chapter runs iterative magnitude pruning (IMP) with rewinding on
# convolutional networks in the canonical basis and in DCT bases, and asks the
# questions of {cite:t}`alabdulmohsin2021generalized` once more: are there
# sparse trainable subnetworks in every basis (claim 2), and does the DCT reach
# a given accuracy with fewer nonzero coefficients (claim 3)? It also measures
# the mechanism behind claim 3, *energy compaction*: a basis can only prune
# better where it concentrates the trained weights in fewer coefficients than
# the canonical basis does.
#
# **Two profiles.** With `profile = "quick"` (the default, what the book runs
# on a CPU) the network is a small CNN (`glth_core.models.SmallCNN`: two
# $3 \times 3$ convolutions with 16 and 32 channels, each followed by a
# $2 \times 2$ max-pool, then fully connected layers of 128 and 10 units),
# which reaches about 90.7% on Fashion-MNIST after 3 epochs. With
# `profile = "paper"` the networks are Conv-2, Conv-4 and Conv-6 of
# {cite:t}`frankle2019lottery` at full width, pruned by 20% per round with late
# rewinding and weight decay; that profile is meant for a GPU.
#
# **Data set.** The paper and {cite:t}`frankle2019lottery` use CIFAR-10. It
# cannot be downloaded on the machines that build this book, so the default
# here is Fashion-MNIST {cite:p}`xiao2017fashion` (grey-scale $1 \times 28
# \times 28$ images, 60 000 for training, 10 000 for testing), which ships as an
# offline package. With a network connection, pass `-p dataset cifar10`
# (colour $3 \times 32 \times 32$ images; torchvision downloads them).
# Everything below is then computed on CIFAR-10; the prose quotes whatever the
# run produces.

# %% tags=["parameters"]
smoke = False            # True: a few seconds on scikit-learn's 8x8 digits (make test)
profile = "quick"        # "quick" (CPU, the book's default) or "paper" (Conv-2/4/6, late rewinding; for a GPU)
models = None            # conv nets to prune (quick: ["small_cnn"]; paper: ["conv2", "conv4", "conv6"])
dataset = None           # "fashion_mnist" (offline) or "cifar10" (as in the paper; torchvision downloads it)
optimizer = None         # "sgd" (rotation-equivariant) or "adam"
lr = None                # peak learning rate
momentum = None          # SGD momentum
weight_decay = None      # L2 weight decay (quick: 0; paper: 1e-4)
batch_size = None        # minibatch size
epochs = None            # training epochs per round
milestones = None        # epochs at which the learning rate is multiplied by gamma
gamma = None             # learning-rate factor at each milestone
fraction = None          # fraction of each layer's remaining coefficients pruned per round
output_fraction = None   # the same for the output layer
rounds = None            # pruning rounds after the dense round 0
rewind_iteration = None  # rewind to this iteration of round 0 (0: initialisation; paper: 500, late rewinding)
seeds = None             # seeds 0..seeds-1 per configuration (a seed fixes the initial weights and the data order)
bases = None             # bases of the ticket runs ("canonical", "dct", "hadamard", "random")
channel_dct = None       # DCT also over the kernels' input-channel axis (paper: both variants are run)
device = "auto"          # "auto" (CUDA if available), "cpu" or "cuda"
scheduler = "auto"       # "auto" (serial on a small machine), "local", "serial" or tcp://HOST:PORT
results_dir = None       # None: $GLTH_RESULTS_DIR (the engine's results cache)

# %% tags=["hide-input"]
from glth_core.chapter import check_parameters; check_parameters(globals())  # a -p NAME not declared above fails here
import warnings

with warnings.catch_warnings():  # tqdm.auto warns once about missing notebook widgets; bars are off anyway
    warnings.simplefilter("ignore")
    import tqdm.auto  # noqa: F401

from glth_core.chapter import check_common, check_hparams, require_bool, require_names, smoke_scheduler
from glth_core.profiles import chapter_parameters, imp_base

CHAPTER = "05_conv"
CONV_MODELS = ("small_cnn", "conv2", "conv4", "conv6")
from glth_core.bases import FIXED_BASES as CONV_BASES  # svd is fitted to trained weights, not used here
TOLERANCE = 0.01  # "equal accuracy": within one percentage point of the dense canonical network

params = chapter_parameters(
    CHAPTER, profile, smoke=smoke, models=models, dataset=dataset, optimizer=optimizer, lr=lr, momentum=momentum,
    weight_decay=weight_decay, batch_size=batch_size, epochs=epochs, milestones=milestones, gamma=gamma,
    fraction=fraction, output_fraction=output_fraction, rounds=rounds, rewind_iteration=rewind_iteration,
    seeds=seeds, bases=bases, channel_dct=channel_dct)
require_names("models", params["models"], CONV_MODELS)
check_common(smoke=smoke, dataset=params["dataset"], model=params["models"][0], device=device, scheduler=scheduler,
             results_dir=results_dir, seeds=(params["seeds"], 2), rounds=(params["rounds"], 1),
             epochs=(params["epochs"], 1), rewind_iteration=(params["rewind_iteration"], 0))
require_names("bases", params["bases"], CONV_BASES)
require_bool("channel_dct", params["channel_dct"])
if params["channel_dct"] and "dct" not in params["bases"]:
    raise ValueError("parameter channel_dct=True applies to the 'dct' basis only; add 'dct' to bases or drop it")
check_hparams(*(imp_base(params, model=m) for m in params["models"]))  # the engine's own bounds, as parameters
if smoke:
    scheduler = smoke_scheduler(scheduler)

DCT_LABELS = {False: "dct (spatial)", True: "dct (spatial + channels)"}


def basis_variants(p):
    """``{label: ImpHparams overrides}`` of the basis variants of resolved parameters ``p``.

    ``channel_dct`` is set for the dct basis only (the library refuses it for another basis); the
    paper profile runs the dct basis both without and with it.
    """
    variants = {}
    for b in p["bases"]:
        if b != "dct":
            variants[b] = {"basis": b}
            continue
        flags = [False, True] if (p["profile"] == "paper" and p["channel_dct"]) else [p["channel_dct"]]
        variants.update({DCT_LABELS[f]: {"basis": "dct", "channel_dct": f} for f in flags})
    return variants


def chapter_runs(p):
    """``{ImpHparams: (model, variant label)}``: one ticket run per model, basis variant and seed."""
    return {imp_base(p, model=m, seed=s, **overrides): (m, label)
            for m in p["models"] for label, overrides in basis_variants(p).items() for s in range(p["seeds"])}


runs = chapter_runs(params)
variants = list(basis_variants(params))
reference = "canonical" if "canonical" in variants else variants[0]
RANK = {name: i for i, name in enumerate([*params["models"], *variants])}


def in_order(frame, columns=("model", "variant")):
    """``frame`` sorted by the order of the parameters ``models`` and of the basis variants (not alphabetically)."""
    return frame.sort_values(list(columns), kind="stable",
                             key=lambda c: c.map(RANK) if c.name in ("model", "variant") else c)

print(f"profile {profile}{' (smoke)' if smoke else ''}: models {params['models']} on {params['dataset']}, "
      f"variants {variants}, {params['seeds']} seeds, {len(runs)} runs")

# %% [markdown]
# Both profiles side by side (the quick profile is the default; a parameter
# passed with `papermill -p NAME VALUE` overrides either):

# %%
from glth_core.profiles import settings_table

print(settings_table(CHAPTER).to_string())

# %% [markdown]
# ## The networks and the bases of their kernels
#
# Conv-2 {cite:p}`frankle2019lottery` has two $3 \times 3$ convolutions with 64
# channels and padding 1, a $2 \times 2$ max-pool, and three fully connected
# layers with 256, 256 and 10 units; Conv-4 and Conv-6 add blocks of two
# convolutions with 128 and 256 channels. The small CNN of the quick profile
# has the same structure with fewer and narrower layers. Every convolution and
# every fully connected layer is pruned; biases are not.
#
# A convolution kernel is a tensor
# $W \in \mathbb{R}^{c_\text{out} \times c_\text{in} \times 3 \times 3}$. The
# basis variants of this chapter change only which of its axes get a DCT:
#
# - **canonical**: no axis; the coefficients are the weights, and IMP is the
#   classic algorithm.
# - **dct (spatial)**, the default of `glth_core.generalize(model, basis="dct")`:
#   a 2-D DCT of every $3 \times 3$ filter,
#   `scipy.fft.dctn(W, type=2, norm="ortho", axes=(2, 3))`. The channel axes,
#   which have no spatial order, stay canonical.
# - **dct (spatial + channels)**, `channel_dct=True` (hyperparameter
#   `PruningHparams.channel_dct`, command-line flag `--channel-dct`): the DCT
#   also runs over the input-channel axis, `axes=(1, 2, 3)`. Neighbouring
#   channels of a trained network have no natural order either, so this is a
#   bet that smooth structure across channels exists; on a grey-scale first
#   layer ($c_\text{in} = 1$) it changes nothing.
# - **The first layer's input viewed as an image.** In {doc}`02_bases` the
#   first layer of LeNet-300-100 is a Linear layer whose input axis is the
#   flattened $28 \times 28$ image; the image view reshapes that axis to
#   $(C, H, W)$ so that the DCT runs over image rows and columns, not over a
#   784-long vector. A convolution needs no such view: the input axes
#   $(c_\text{in}, 3, 3)$ of its kernel *are* the axes $(C, H, W)$ of the image
#   patch it reads, so the spatial DCT is already the image view (a 2-D DCT per
#   input channel), and the channel variant adds the DCT over $C$. One
#   difference from the Linear case remains: the output-channel axis stays
#   canonical, where the image view of a Linear layer also rotates its output
#   axis.
# - **The fully connected layers** get a 2-D DCT over (output, input) in every
#   DCT variant; the input axis of the first one is the flattened feature map,
#   whose order is only partly spatial (channel by channel, row by row).
#
# The cell below builds the first model exactly as the engine does, lists the
# axes each variant transforms, and checks the kernels' coefficients against
# SciPy.

# %%
import numpy as np
import pandas as pd
import scipy.fft
import torch
from myst_nb import glue

import glth_core
from glth_core.lottery import generalized_model, load_splits

first_run = next(iter(runs))
splits = load_splits(first_run.dataset)
rows = []
for hp, (m, label) in runs.items():
    if m != params["models"][0] or hp.seed != 0:
        continue
    probe = generalized_model(hp, splits.input_shape, splits.num_classes)
    for name, module in glth_core.generalized_layers(probe).items():
        basis = module.parametrizations.weight[0].basis
        row = {"variant": label, "layer": name, "weight shape": " x ".join(map(str, basis.shape)),
               "transformed axes": ", ".join(str(i) for i, t in enumerate(basis.transforms) if not t.is_identity)
               or "none"}
        if isinstance(module, torch.nn.Conv2d) and hp.pruning.basis == "dct":
            axes = (1, 2, 3) if hp.pruning.channel_dct else (2, 3)
            w = module.weight.detach().double().numpy()
            row["max |C - scipy dctn|"] = float(np.abs(glth_core.coefficients(module).detach().double().numpy()
                                                       - scipy.fft.dctn(w, type=2, norm="ortho", axes=axes)).max())
        rows.append(row)
basis_table = pd.DataFrame(rows)
if "max |C - scipy dctn|" in basis_table:
    assert basis_table["max |C - scipy dctn|"].max() < 1e-5, "conv coefficients differ from scipy's DCT"
print(basis_table.to_string(index=False, float_format=lambda v: f"{v:.1e}", na_rep="-"))

# %% [markdown]
# The kernels' coefficients agree with SciPy's DCT over the listed axes to
# float32 round-off.
#
# **Late rewinding.** {cite:t}`frankle2019lottery` rewind a ticket to its
# initialisation ($k = 0$). For deeper convolutional networks and larger
# learning rates, {cite:t}`frankle2020linear` found that tickets appear only
# when the unpruned weights are rewound to an early iteration $k > 0$ of the
# dense training instead, once training has become stable to the noise of SGD.
# The paper profile therefore rewinds to iteration
# `rewind_iteration = 500` and trains with weight decay $10^{-4}$; the quick
# profile keeps $k = 0$ for the shallow small CNN.
#
# **Optimiser.** Both profiles train with SGD with momentum and L2 weight
# decay, which are rotation-equivariant ({eq}`eq-projected`): the dense network
# follows the same trajectory in every basis (up to float round-off), so any
# difference between the bases' tickets comes from their masks. With Adam it
# could also come from a different preconditioner ({doc}`../book/method`).
#
# ## The experiment
#
# For each model, basis variant and seed, one IMP ticket run, each pruning
# the same fraction of every layer's remaining coefficients per round. One
# sweep runs them all (a cached, resumable task per run; see
# {doc}`../book/method`); the parameter `device` chooses CPU or GPU.

# %% tags=["remove-stderr"]
from glth_core.hparams import run_key
from glth_core.sweep import sweep

table = sweep(list(runs), scheduler=scheduler, results_dir=results_dir, device=device, progress=False,
              errors="raise")
label_of = {run_key("imp", hp): label for hp, (_, label) in runs.items()}
table = table.assign(variant=table["run_id"].map(label_of))
assert table["variant"].notna().all(), "a run of the table is not one of the chapter's runs"
last_round = int(table["round"].max())
density_at = table.groupby(["model", "round"])["density"].mean()  # per-layer pruning: the same in every basis
first_model = params["models"][0]
print(f"{table['run_id'].nunique()} runs, rounds 0..{last_round}, sparsest: "
      + ", ".join(f"{m} {100 * density_at.loc[(m, last_round)]:.2f}%" for m in params["models"]) + " of the weights")

# %% [markdown]
# What this build's runs cost (measured, read from the results cache), and what
# each profile costs at full size, estimated from measured seconds per epoch
# (`glth_core.profiles.estimated_cost_hours`; "not measured" where no
# measurement exists yet, as for the paper's conv nets and for any GPU):

# %%
from glth_core.profiles import PROFILES, estimated_cost_hours


def hours(value):
    return "not measured" if value is None else f"{value:.2f} h"


measured_minutes = float(table["wall_time_s"].sum() / 60)
full_runs = {p: list(chapter_runs(chapter_parameters(CHAPTER, p))) for p in PROFILES}  # full size, not smoke
costs = pd.DataFrame([{"profile": p, "runs": len(r), "CPU (estimate)": hours(estimated_cost_hours(r, "cpu")),
                       "GPU (estimate)": hours(estimated_cost_hours(r, "gpu"))}
                      for p, r in full_runs.items()]).set_index("profile")
glue("c5_measured_minutes", measured_minutes, display=False)
print(f"this build ({profile}{', smoke' if smoke else ''}): {len(runs)} runs, "
      f"{measured_minutes:.1f} min of training (sum of the runs' wall_time_s)")
print(costs.to_string())

# %% [markdown]
# This build trained for {glue:text}`c5_measured_minutes:.1f` minutes in all.
# The paper profile trains Conv-2, Conv-4 and Conv-6 for many rounds on
# several seeds: it is meant for a GPU (`-p device cuda`) or a cluster
# (`-p scheduler tcp://HOST:PORT`), and its cost is printed above as measured
# where a measurement exists.
#
# ## The dense networks
#
# Round 0 of every run is the dense network. Over the seeds (mean, standard
# deviation, $n$ and the 95% $t$ interval), per model and basis variant:

# %%
from glth_core import stats

dense = table[table["round"] == 0]
dense_summary = in_order(stats.summarize(dense, ["model", "variant"], "test_accuracy"))
print((dense_summary.set_index(["model", "variant"])[["n", "mean", "sd", "ci_low", "ci_high"]]
       .mul([1, 100, 100, 100, 100]).round(2).to_string()))
dense_ref = dense_summary[dense_summary["variant"] == reference].set_index("model")
MODEL_LABELS = {"small_cnn": "small CNN", "conv2": "Conv-2", "conv4": "Conv-4", "conv6": "Conv-6"}
glue("c5_first_model_label", MODEL_LABELS[first_model], display=False)
d0 = dense_ref.loc[first_model]
target = 0.90
if params["dataset"] != "fashion_mnist":
    target_words = f". The {100 * target:.0f}% target is for Fashion-MNIST; this run uses {params['dataset']}."
else:
    target_words = f", {'at or above' if d0['mean'] >= target else 'below'} the target of {100 * target:.0f}%."
glue("c5_dense_sentence", (
    f"Dense {MODEL_LABELS[first_model]}, {reference} basis: {100 * d0['mean']:.2f}% test accuracy on "
    f"{params['dataset']} (sd {100 * d0['sd']:.2f}, n = {int(d0['n'])}, 95% CI [{100 * d0['ci_low']:.2f}, "
    f"{100 * d0['ci_high']:.2f}]){target_words}"), display=False)
spread = dense.pivot_table(index=["model", "seed"], columns="variant", values="test_accuracy")
dense_gap = float(100 * (spread.max(axis=1) - spread.min(axis=1)).max())
glue("c5_equivariance_sentence", (
    f"For the same seed, the dense networks of the basis variants differ by at most {dense_gap:.2f} percentage "
    "points: SGD with momentum and L2 weight decay is rotation-equivariant, so they would be identical in exact "
    "arithmetic, and float32 round-off is all that separates them."
    if params["optimizer"] == "sgd" else
    f"For the same seed, the dense networks of the basis variants differ by up to {dense_gap:.2f} percentage "
    "points: Adam is not rotation-equivariant, so the basis changes training before any pruning, and the "
    "comparisons below mix the masks' effect with the optimiser's."), display=False)

# %% [markdown]
# {glue:text}`c5_dense_sentence` {glue:text}`c5_equivariance_sentence`
#
# ## Tickets in every basis
#
# Accuracy against the fraction of nonzero coefficients remaining, one panel
# per model:

# %%
import matplotlib.pyplot as plt

from glth_core import plots

fig, axes = plt.subplots(1, len(params["models"]), figsize=(6.5 * len(params["models"]), 4.2), squeeze=False)
for ax, m in zip(axes[0], params["models"]):
    part = table[table["model"] == m]
    plots.accuracy_curves(part, hue="variant", hue_order=variants, ax=ax,
                          reference=float(dense_ref.loc[m, "mean"]), tolerance=TOLERANCE)
    low, high = ax.get_ylim()
    ax.set_ylim(max(low, 0), min(high, 100))  # few seeds give wide t intervals: keep the axis to possible values
    ax.set_title(f"{MODEL_LABELS[m]} on {params['dataset']}")
fig.tight_layout()
glue("c5_fig_accuracy", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} c5_fig_accuracy
# :name: fig-c5-accuracy
#
# Test accuracy (%) of the tickets against the fraction of nonzero
# coefficients remaining (%, log scale, decreasing to the right), one line per
# basis variant. Lines: mean over seeds; bands: 95% $t$ intervals over seeds;
# dashed line and grey band: the dense canonical network's mean accuracy and
# the one-point band below it.
# ```
#
# ### Claim 2: sparse trainable subnetworks
#
# Claim 2 says that IMP with rewinding finds sparse subnetworks that train to
# the accuracy of the dense network, in any basis. We test it at two rounds
# fixed in advance, the first and the sparsest, with the paired difference
# *ticket − dense* over seeds (the same seed's round $r$ against its round 0).
# "Train to the accuracy" is read with the chapter's one-point tolerance: the
# claim **holds** when the whole 95% interval of the difference lies above
# $-1$ point, is **contradicted** when it lies below, and is
# **inconclusive** otherwise.

# %%
claim2 = pd.concat([
    stats.paired_difference(table, "round", r, 0, by=["model", "variant"], pair_on=["seed"]).assign(round=r)
    for r in sorted({1, last_round})], ignore_index=True)
claim2["weights remaining (%)"] = [100 * density_at.loc[(m, r)] for m, r in zip(claim2["model"], claim2["round"])]
claim2 = in_order(stats.with_verdicts(claim2, "greater", null=-TOLERANCE), ("round", "model", "variant"))
print(claim2.assign(**{c: 100 * claim2[c] for c in ("estimate", "ci_low", "ci_high")})
      [["model", "variant", "round", "weights remaining (%)", "n", "estimate", "ci_low", "ci_high", "verdict"]]
      .round(2).to_string(index=False))
claim2_words = "; ".join(
    f"{MODEL_LABELS[r['model']]}, {r['variant']}, at {r['weights remaining (%)']:.1f}% of the weights: "
    f"{r['sentence']}" for _, r in claim2.iterrows())
glue("c5_claim2_sentence", claim2_words, display=False)
sparsest2 = claim2[claim2["round"] == last_round]
glue("c5_verdict_claim2", "; ".join(f"{MODEL_LABELS[r['model']]} {r['variant']}: {r['verdict']}"
                                    for _, r in sparsest2.iterrows()),
     display=False)

# %% [markdown]
# Ticket minus dense network (percentage points; the verdict is against
# $-1$ point): {glue:text}`c5_claim2_sentence`.
#
# ### Claim 3: the DCT against the canonical basis
#
# Every variant is pruned on the same schedule from the same initial weights,
# so the tickets can be compared round by round, paired on the seed. Claim 3
# says the DCT ticket is more accurate at equal sparsity: it **holds** at a
# round when the 95% interval of *DCT − canonical* lies above 0.

# %%
rotated = [v for v in variants if v != reference]
claim3_rounds = pd.concat([
    stats.paired_difference(table[table["model"] == m], "variant", v, reference, by=["round"])
    .assign(model=m, variant=v) for m in params["models"] for v in rotated], ignore_index=True) \
    if rotated else pd.DataFrame(columns=["model", "variant", "round", "n", "estimate", "ci_low", "ci_high"])
claim3_rounds = claim3_rounds[claim3_rounds["round"] > 0]
if rotated:
    claim3_rounds = in_order(stats.with_verdicts(claim3_rounds, "greater"), ("model", "variant", "round"))
    claim3_rounds["weights remaining (%)"] = [100 * density_at.loc[(m, r)]
                                              for m, r in zip(claim3_rounds["model"], claim3_rounds["round"])]
    print(claim3_rounds.assign(**{c: 100 * claim3_rounds[c] for c in ("estimate", "ci_low", "ci_high")})
          [["model", "variant", "round", "weights remaining (%)", "n", "estimate", "ci_low", "ci_high", "verdict"]]
          .round(2).to_string(index=False))
    counts = claim3_rounds.groupby(["model", "variant"])["verdict"].value_counts().unstack(fill_value=0)
    glue("c5_claim3_rounds", "; ".join(
        f"{MODEL_LABELS[m]}, {v}: holds at {row.get('holds', 0)}, contradicted at {row.get('contradicted', 0)} "
        f"and inconclusive "
        f"at {row.get('inconclusive', 0)} of {int(row.sum())} pruned rounds" for (m, v), row in counts.iterrows()),
        display=False)
else:
    glue("c5_claim3_rounds", f"only one basis ({reference}) was run, so there is nothing to compare", display=False)
    print("one basis only: no comparison")

# %% [markdown]
# Per pruned round (percentage points, DCT minus canonical):
# {glue:text}`c5_claim3_rounds`.
#
# **Compression at equal accuracy.** The paper's form of claim 3 is
# compression: how far can each basis prune before its accuracy falls more than
# one point below the dense canonical network? Per seed,
# `glth_core.stats.compression` interpolates accuracy against
# $\log(\text{density})$ between the last round inside the band and the first
# round below it; a run that never leaves the band is *censored*, and its
# compression (that of its sparsest round) is only a lower bound, printed
# "≥". The ratio DCT / canonical over seeds has a bootstrap interval; claim 3
# **holds** when the interval lies above 1.

# %%
per_seed = pd.concat([
    stats.compression(table[table["model"] == m], TOLERANCE, reference={"variant": reference}, by=["variant"])
    .assign(model=m) for m in params["models"]], ignore_index=True)
compression_summary = in_order(stats.summarize_compression(per_seed, by=["model", "variant"]))
print(compression_summary.assign(
    compression=[stats.format_compression(r["compression"], r["bound"] == "lower", 1)
                 for _, r in compression_summary.iterrows()],
    interval=[f"[{stats.format_compression(r['ci_low'], r['bound'] == 'lower', 1)}, "
              f"{stats.format_compression(r['ci_high'], r['bound'] == 'lower', 1)}]"
              for _, r in compression_summary.iterrows()])
      [["model", "variant", "n", "censored", "compression", "interval"]].to_string(index=False))
ratios = pd.concat([
    stats.compression_ratio(per_seed[per_seed["model"] == m], "variant", v, reference).assign(model=m, variant=v)
    for m in params["models"] for v in rotated], ignore_index=True) if rotated else pd.DataFrame()
if rotated:
    ratios = stats.with_verdicts(ratios, "greater", unit="x", scale=1, null=1.0)
    glue("c5_compression_sentence", "; ".join(
        f"{MODEL_LABELS[r['model']]}, {r['variant']} / {reference}: {r['sentence']}" for _, r in ratios.iterrows()),
         display=False)
    glue("c5_verdict_claim3", "; ".join(f"{MODEL_LABELS[r['model']]} {r['variant']}: {r['verdict']}"
                                        for _, r in ratios.iterrows()),
         display=False)
else:
    glue("c5_compression_sentence", "not computed (one basis only)", display=False)
    glue("c5_verdict_claim3", "not tested (one basis only)", display=False)

# %% [markdown]
# Compression ratio at equal accuracy: {glue:text}`c5_compression_sentence`.

# %% [markdown]
# ### Why a basis does or does not compress: energy compaction
#
# Magnitude pruning to a density $k$ keeps the largest $k$ percent of a
# layer's coefficients, and removes $1 - E(k)$ of its squared norm, where
# $E(k)$ is the fraction of the energy those coefficients hold
# (`glth_core.compaction.energy_curve`). An orthonormal basis cannot change
# the norm, only how it is spread: **a basis can only prune better where it
# compacts trained weights better than the canonical basis does**, i.e. where
# its curve $E(k)$ lies above the canonical one.
#
# One effect has nothing to do with structure, and must be subtracted first.
# PyTorch initialises weights *uniformly* at random. In the canonical basis,
# uniform noise has light tails: its largest fraction $q$ of the entries holds
# $1 - (1 - q)^3$ of the energy. A rotation mixes many entries into each
# coefficient, and the coefficients of noise in a rotated basis are close to
# Gaussian, whose heavier tails hold $q + 2t\varphi(t)$ with
# $q = 2(1 - \Phi(t))$ (the closed form of `glth_core.compaction`). So at
# initialisation every rotated basis, the DCT included, "compacts" better than
# the canonical basis, and this head start says nothing about smoothness. What
# matters for claim 3 is whether training adds to it.
#
# The next cell measures $E(k)$ of seed 0's weights in the canonical basis and
# both DCT variants, at initialisation and after dense training (round 0), for
# the conv kernels and the fully connected layers (averaged over the layers of
# each kind, since pruning is per layer), at the density $k^\ast$ of the
# sparsest round. For the sparsest ticket it measures each variant's own ticket
# in its own basis, where every coefficient beyond the ticket is exactly zero;
# there it reads $E$ at the density the *next* round would prune to, i.e. how
# much of the ticket's energy one more round would keep.

# %%
import scipy.stats

from glth_core import compaction
from glth_core.lottery import round_model

MEASURED = {"canonical": {"basis": "canonical"}, **{label: {"basis": "dct", "channel_dct": flag}
                                                     for flag, label in DCT_LABELS.items()}}
MEASURED.update({label: ov for label, ov in basis_variants(params).items() if label not in MEASURED})
k_star = round(100 * (1 - params["fraction"]) ** last_round, 6)  # a hidden layer's density at the sparsest round
k_next = round(k_star * (1 - params["fraction"]), 6)  # ... and after one more round
k_grid = sorted({*compaction.DEFAULT_K_PERCENT, k_star, k_next})
q = k_star / 100
t = scipy.stats.norm.isf(q / 2)
glue("c5_energy_uniform", float(100 * (1 - (1 - q) ** 3)), display=False)
glue("c5_energy_gauss", float(100 * (q + 2 * t * scipy.stats.norm.pdf(t))), display=False)


def layer_kinds(net):
    return {name: "conv kernels" if isinstance(module, torch.nn.Conv2d) else "fully connected"
            for name, module in glth_core.generalized_layers(net).items()}


def energy_by_kind(net, basis=None, **options):
    """Mean ``E(k)`` over the conv layers and over the fully connected layers of ``net``."""
    curve = compaction.energy_curve(net, basis, k_percent=k_grid, **options)
    curve["layers"] = curve["layer"].map(layer_kinds(net))
    return curve.groupby(["layers", "k_percent"], as_index=False)["energy_fraction"].mean()


seed0 = {(m, label): hp for hp, (m, label) in runs.items() if hp.seed == 0}
energy = []
for m in params["models"]:
    hp0 = seed0[(m, reference)]
    states = {"initialisation": generalized_model(hp0, splits.input_shape, splits.num_classes),
              "after dense training": round_model(hp0, 0, results_dir)}
    for state, net in states.items():
        for label, ov in MEASURED.items():
            options = {"channel_dct": True} if ov.get("channel_dct") else {}
            energy.append(energy_by_kind(net, ov["basis"], **options).assign(model=m, state=state, basis=label))
    for label in variants:
        ticket = round_model(seed0[(m, label)], last_round, results_dir)
        energy.append(energy_by_kind(ticket).assign(model=m, state="sparsest ticket", basis=label))
energy = pd.concat(energy, ignore_index=True)
read_at = np.where(energy["state"] == "sparsest ticket", k_next, k_star)
at_k = (energy[np.isclose(energy["k_percent"], read_at)]
        .pivot_table(index=["model", "layers", "state"], columns="basis", values="energy_fraction", sort=False))
at_k = at_k[[c for c in MEASURED if c in at_k.columns]]
glue("c5_k_star", float(k_star), display=False)
glue("c5_k_next", float(k_next), display=False)
print(f"energy held by the largest {k_star:.2f}% of the coefficients (tickets: {k_next:.2f}%), %, seed 0:")
print((100 * at_k).round(1).to_string(na_rep="-"))

# %%
import seaborn as sns

shown = params["models"][-1]
glue("c5_energy_model", MODEL_LABELS[shown], display=False)
states = ["initialisation", "after dense training", "sparsest ticket"]
kinds = ["conv kernels", "fully connected"]
fig, axes = plt.subplots(len(kinds), len(states), figsize=(12, 6.5), sharex=True, sharey=True, squeeze=False)
palette = dict(zip(MEASURED, sns.color_palette("colorblind", len(MEASURED))))
for i, kind in enumerate(kinds):
    for j, state in enumerate(states):
        ax = axes[i][j]
        part = energy[(energy["model"] == shown) & (energy["layers"] == kind) & (energy["state"] == state)]
        for label, curve in part.groupby("basis", sort=False):
            ax.plot(curve["k_percent"], 100 * curve["energy_fraction"], label=label, color=palette[label])
        ax.axvline(k_next if state == "sparsest ticket" else k_star, color="0.5", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        plots.log_percent_axis(ax.xaxis)
        ax.set_title(f"{kind}, {state}", fontsize="medium")
        ax.grid(True, which="both", alpha=0.3)
        if i == len(kinds) - 1:
            ax.set_xlabel("largest coefficients kept (%, log scale)")
        if j == 0:
            ax.set_ylabel("energy held (%)")
axes[0][0].legend(fontsize="small", loc="upper left")
fig.tight_layout()
glue("c5_fig_energy", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} c5_fig_energy
# :name: fig-c5-energy
#
# Energy compaction of seed 0's weights of {glue:text}`c5_energy_model`: the
# fraction of the squared norm held by the largest $k$% of the coefficients,
# averaged over the conv layers (top) and the fully connected layers (bottom),
# at initialisation, after dense training, and for each variant's sparsest
# ticket in its own basis. Dotted lines: the density of the sparsest round
# (tickets: of one more round).
# ```

# %%
def gap_to_reference(row):
    """Points of energy by which each basis exceeds the reference basis (``row``: energy per basis)."""
    return 100 * (row.drop(reference) - row[reference])


def energy_sentence(state, kind):
    """One computed sentence per model: the energy per basis, and what training changed (dense state)."""
    parts = []
    for m in params["models"]:
        row = at_k.loc[(m, kind, state)].dropna()
        if row.empty or reference not in row:
            continue
        values = ", ".join(f"{b} {100 * v:.1f}%" for b, v in row.items())
        gaps = gap_to_reference(row)
        if state == "after dense training":
            before = gap_to_reference(at_k.loc[(m, kind, "initialisation")].dropna())
            change = gaps - before.reindex(gaps.index)
            detail = "; ".join(f"{b} {g:+.1f} points against {reference}, {c:+.1f} since initialisation"
                               for b, g, c in zip(gaps.index, gaps, change))
        else:
            detail = "; ".join(f"{b} {g:+.1f} points against {reference}" for b, g in gaps.items())
        parts.append(f"{MODEL_LABELS[m]}: {values} ({detail})" if detail else f"{MODEL_LABELS[m]}: {values}")
    return "; ".join(parts)


for key, (state, kind) in {"c5_energy_init": ("initialisation", "conv kernels"),
                           "c5_energy_dense_conv": ("after dense training", "conv kernels"),
                           "c5_energy_dense_fc": ("after dense training", "fully connected"),
                           "c5_energy_ticket": ("sparsest ticket", "conv kernels")}.items():
    glue(key, energy_sentence(state, kind), display=False)
    print(f"{key}: {energy_sentence(state, kind)}")

# %% [markdown]
# What the curves say, at the density of the sparsest round
# ({glue:text}`c5_k_star:.2f`% of the coefficients, where uniform noise in
# the canonical basis holds {glue:text}`c5_energy_uniform:.1f`% of the energy
# and Gaussian noise {glue:text}`c5_energy_gauss:.1f`%):
#
# - **At initialisation** (conv kernels): {glue:text}`c5_energy_init`. This
#   is the head start of a rotation over uniform noise; a spatial DCT mixes
#   only the 9 entries of a $3 \times 3$ filter into each coefficient, so
#   its coefficients are less Gaussian than those of long axes.
# - **After dense training, conv kernels:** {glue:text}`c5_energy_dense_conv`.
#   The change since initialisation is what training, and so the spatial
#   smoothness of the learned filters, adds: the DCT can prune the kernels
#   better only where its share exceeds the canonical one.
# - **After dense training, fully connected layers**, which hold most of the
#   weights: {glue:text}`c5_energy_dense_fc`.
# - **Sparsest tickets** (conv kernels, each in its own basis; share kept by
#   one more round, to {glue:text}`c5_k_next:.2f`%): {glue:text}`c5_energy_ticket`.
#
# Read these next to the verdicts of claim 3 above: a DCT variant whose
# trained weights are not more compact than the canonical ones has no
# mechanism by which to compress better, and an accuracy difference found
# without such an advantage would need another explanation. A larger share of
# energy is necessary, not sufficient: what the network needs is the *right*
# coefficients, and energy of the initial noise is not among them.
#
# ## Multiply-adds
#
# What a ticket saves at inference depends on where its zeros are. A canonical
# ticket has zero *weights*; a DCT ticket has zero *coefficients*, and its
# synthesised kernels are in general dense, so an ordinary convolution gains
# nothing unless it runs in the DCT domain. `glth_core.export.multiply_adds`
# counts the multiply-adds of one forward pass of one image, all weights
# (dense) or only the nonzero weights as the forward pass uses them (seed 0's
# sparsest ticket):

# %%
from glth_core.export import multiply_adds
from glth_core.models import build_model

macs = []
for m in params["models"]:
    row = {"model": m, "dense": multiply_adds(build_model(m, splits.input_shape, splits.num_classes),
                                              splits.input_shape)}
    for label in variants:
        ticket = round_model(seed0[(m, label)], last_round, results_dir)
        row[f"{label}, nonzero weights"] = multiply_adds(ticket, splits.input_shape, nonzero=True)
    macs.append(row)
macs = pd.DataFrame(macs).set_index("model")
lenet_macs = multiply_adds(build_model("lenet300", splits.input_shape, splits.num_classes), splits.input_shape)
glue("c5_mac_ratio", float(macs["dense"].iloc[0] / lenet_macs), display=False)
print(f"multiply-adds per image, dense and at round {last_round} (lenet300, dense: {lenet_macs:,}):")
print(macs.map(lambda v: f"{v:,}").to_string())

# %% [markdown]
# A forward pass of {glue:text}`c5_first_model_label` costs
# {glue:text}`c5_mac_ratio:.0f` times the multiply-adds of LeNet-300-100 per
# image: the convolutions run at every pixel. This is why the quick profile uses a small CNN on a CPU, and
# why the paper's networks need a GPU.
#
# ## How much to trust this
#
# The verdicts above are computed, with their intervals, from
# {glue:text}`c5_seeds` seeds per configuration. {glue:text}`c5_claim3_summary`
#
# They are conditional on settings that differ from the paper's, and each
# difference is a reason why the DCT could fail to beat the canonical basis
# here even if it does there:
#
# - **Data set.** {glue:text}`c5_dataset_caveat`
# - **Network width.** {glue:text}`c5_width_caveat`
# - **Mechanism.** {glue:text}`c5_energy_change`
# - **Sparsity range.** {glue:text}`c5_rounds` rounds reach
#   {glue:text}`c5_sparsest_pct:.1f`% of the weights. Where both bases stay
#   within the band down to the sparsest round, compression is censored and
#   the comparison can only be a lower bound.
# - **Optimiser.** With SGD, as in both profiles, the dense networks are the
#   same in every basis, so only the masks can differ; under Adam, as in
#   {cite:t}`frankle2019lottery`, the basis also changes the optimiser's
#   preconditioning ({doc}`02_bases`), which can help or hurt a basis.
# - **Rewinding.** {glue:text}`c5_rewind_caveat`
#
# ```{admonition} Rerun at paper scale
# :class: tip
#
# The paper profile runs Conv-2, Conv-4 and Conv-6 at full width, 20% per
# round for 15 rounds, late rewinding to iteration 500, five seeds and both
# DCT variants; on a GPU:
#
#     papermill notebooks/05_conv.ipynb out.ipynb --cwd notebooks \
#         -p profile paper -p device cuda
#
# and add `-p dataset cifar10` where torchvision can download CIFAR-10. The
# closest setting of {cite:t}`frankle2019lottery` uses Adam
# (`-p optimizer adam -p lr 2e-4`) for 20 000 iterations per round.
# ```

# %%
# Verdicts for the summary chapter (claims 2 and 3), and the keys it quotes.
from glth_core.chapter import record_verdicts
from glth_core.verdict_tables import verdict_row

recorded = [verdict_row(r, "greater", claim="2", chapter=CHAPTER,
                        comparison=f"ticket − dense at {r['weights remaining (%)']:.1f}% of weights, claimed > "
                                   f"-{100 * TOLERANCE:g} pp, i.e. within {100 * TOLERANCE:g} pp "
                                   f"({r['model']}, {r['variant']})",
                        unit="pp", scale=100.0, null=-TOLERANCE)
            for _, r in sparsest2.iterrows()]
recorded += [verdict_row(r, "greater", claim="3", chapter=CHAPTER,
                         comparison=f"compression {r['variant']} / {reference} at equal accuracy ({r['model']})",
                         unit="x", scale=1.0, null=1.0) for _, r in ratios.iterrows()]
record_verdicts(CHAPTER, pd.DataFrame(recorded), profile=profile, smoke=smoke, results_dir=results_dir)

glue("c5_seeds", int(params["seeds"]), display=False)
glue("c5_rounds", int(params["rounds"]), display=False)
glue("c5_sparsest_pct", float(100 * density_at.loc[(first_model, last_round)]), display=False)
glue("c5_dataset_caveat", (
    "Fashion-MNIST instead of CIFAR-10: smaller, grey-scale images of a different kind; on grey-scale images "
    "the first layer has one input channel, so the channel DCT cannot act there. What holds here need not hold "
    "on CIFAR-10, the data set of the paper and of Frankle and Carbin (2019)."
    if params["dataset"] != "cifar10" else "CIFAR-10, as in the paper."), display=False)
glue("c5_rewind_caveat", (
    f"This run rewinds to iteration {params['rewind_iteration']} (late rewinding), the setting in which Frankle "
    "et al. (2020) find tickets in deeper conv nets." if params["rewind_iteration"] > 0 else
    "This run rewinds to the initialisation (k = 0), which suits shallow networks; Frankle et al. (2020) find "
    "tickets in deeper conv nets only with late rewinding (the paper profile rewinds to iteration 500)."),
    display=False)
conv_share = {}
for m in params["models"]:
    net = build_model(m, splits.input_shape, splits.num_classes)
    sizes = {name: module.weight.numel() for name, module in net.named_modules()
             if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear))}
    conv_share[m] = 100 * sum(v for name, v in sizes.items()
                              if isinstance(net.get_submodule(name), torch.nn.Conv2d)) / sum(sizes.values())
glue("c5_width_caveat", (
    ("The small CNN has 16 and 32 channels where Conv-2 has 64: narrow layers leave less redundancy for any basis "
     "to compact. " if "small_cnn" in params["models"] else "Conv-2, Conv-4 and Conv-6 at the paper's width. ")
    + "Share of the prunable weights held by conv kernels, where the DCT has its best chance: "
    + ", ".join(f"{MODEL_LABELS[m]} {v:.1f}%" for m, v in conv_share.items())
    + "; the rest are fully connected layers, whose input axis is only partly spatial."), display=False)
if reference in at_k.columns and len(at_k.columns) > 1:
    trained = at_k.xs("after dense training", level="state") - at_k.xs("initialisation", level="state")
    change = (100 * trained.sub(trained[reference], axis=0)).drop(columns=reference)
    glue("c5_energy_change", "Change, from initialisation to the end of dense training, of each basis' share of "
         f"energy at {k_star:.2f}% of the coefficients minus the {reference} basis' share (conv kernels): " + "; ".join(
             f"{MODEL_LABELS[m]}: " + ", ".join(f"{b} {v:+.1f} points" for b, v in change.loc[(m, "conv kernels")]
                                                .dropna().items()) for m in params["models"])
         + ". Only a positive change is an advantage that training created; a basis' head start over uniform "
           "initial noise is not.", display=False)
else:
    glue("c5_energy_change", "not measured (no canonical reference).", display=False)
if len(ratios) == 0:
    claim3_summary = "Claim 3 was not tested: only one basis was run."
elif (ratios["verdict"] == "holds").all():
    claim3_summary = ("In these settings claim 3 holds for every model and DCT variant (compression at equal "
                      "accuracy, DCT / canonical): " + "; ".join(
                          f"{MODEL_LABELS[r['model']]}, {r['variant']}: {r['sentence']}" for _, r in ratios.iterrows())
                      + ".")
elif (ratios["verdict"] == "holds").any():
    claim3_summary = ("In these settings claim 3 holds for some models or DCT variants and not for others "
                      "(compression at equal accuracy, DCT / canonical): " + "; ".join(
                          f"{MODEL_LABELS[r['model']]}, {r['variant']}: {r['sentence']}" for _, r in ratios.iterrows())
                      + ".")
else:
    counts3 = ratios["verdict"].value_counts()
    claim3_summary = (
        f"In these settings the DCT does not show the better compression of claim 3: none of the {len(ratios)} "
        f"comparison(s) of compression at equal accuracy holds ({int(counts3.get('inconclusive', 0))} "
        f"inconclusive, {int(counts3.get('contradicted', 0))} contradicted: " + "; ".join(
            f"{MODEL_LABELS[r['model']]}, {r['variant']}: {r['sentence']}" for _, r in ratios.iterrows()) + ").")
glue("c5_claim3_summary", claim3_summary, display=False)
print(pd.DataFrame(recorded)[["claim", "comparison", "verdict"]].to_string(index=False))

# %% [markdown]
# **In short**, for the summary chapter: claim 2 at the sparsest round,
# {glue:text}`c5_verdict_claim2`; claim 3, compression of the DCT against the
# canonical basis at equal accuracy, {glue:text}`c5_verdict_claim3`.
