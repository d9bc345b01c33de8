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
#    *rises* a little, then *falls*;
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
#
# Every comparison below is *paired*: a seed fixes the initial weights and the
# order of the training data, and the ticket and its controls with the same
# seed share both. Each verdict is read from the 95% confidence interval of the
# mean paired difference over seeds: it **holds** if the interval lies entirely
# on the claimed side of 0, is **contradicted** if it lies entirely on the
# other side, and is **inconclusive** otherwise.

# %% tags=["parameters"]
smoke = False               # True: a few seconds on scikit-learn's 8x8 digits (make test)
profile = "quick"           # "quick" (make book on a CPU) or "paper" (the literature's scale; a GPU or a cluster)
seeds = None                # seeds per configuration (None: the profile's value, here and below)
dataset = None              # data set (glth_core.data.DATASETS)
model = None                # model (glth_core.engine.models.MODELS)
optimizer = None            # "sgd" or "adam"
lr = None                   # peak learning rate
momentum = None             # SGD momentum
weight_decay = None         # L2 weight decay
batch_size = None           # minibatch size
epochs = None               # training epochs per round
milestones = None           # epochs at which the learning rate is multiplied by gamma
gamma = None                # learning-rate factor at each milestone
fraction = None             # fraction of the remaining hidden-layer weights pruned per round
output_fraction = None      # fraction of the remaining output-layer weights pruned per round
rounds = None               # pruning rounds after the dense round 0
rewind_iteration = None     # rewind to this iteration (0: Frankle & Carbin; >0: late rewinding)
controls = None             # controls trained on the ticket's masks: "reinit", "random_mask"
device = "auto"             # "auto" (CUDA if available), "cpu" or "cuda"
scheduler = "auto"          # "auto" (the faster here), "local" (Dask LocalCluster), "serial", or tcp://HOST:PORT
results_dir = None          # None: the engine default ($GLTH_RESULTS_DIR or ./results)

# %% tags=["hide-input"]
from glth_core.book.chapter import Chapter, Test
ch = Chapter("01_canonical", globals())

# %% [markdown]
# ## The two profiles
#
# The chapter runs under one of two profiles: `quick`, sized so that the whole
# book builds on a 2-core CPU, and `paper`, at the scale of the literature
# (more epochs, and smaller pruning steps that visit many more sparsity
# levels; the table below lists both). The
# LeNet-300-100 settings are shared with {doc}`02_bases`, {doc}`03_subspace`
# and {doc}`04_structured`, whose canonical-basis ticket runs are these.
# Any setting can be overridden with `papermill -p NAME VALUE`.

# %% mystnb={"markdown_format": "myst"} tags=["hide-input"]
from glth_core.book.profiles import settings_table
ch.show(settings_table("01_canonical").reset_index())

# %% [markdown]
# ## A trained network first
#
# Judging what pruning does needs networks that are trained: if the dense
# network is stopped far from what it can reach, a pruned network that is
# "better" may only be one that learns faster, and a control that is "worse"
# may only be slower. So before the lottery experiment we check the training
# schedule. The short schedule of earlier builds of this book, 2 epochs of
# plain SGD (learning rate 0.1, no momentum, no decay), is compared with the
# profile's schedule on the dense network, seed by seed (same initial weights
# and data order). The profile's dense networks are round 0 of the ticket runs
# below; the short ones are dense runs of their own (`rounds=0`). Both groups
# of runs are named with the profiles (`glth_core.book.chapter_runs`): `short`, and
# `tickets`, the lottery experiment itself.

# %% tags=["remove-stderr"]
short_table = ch.sweep("short")
table = ch.sweep("tickets")
ch.glue("c1_minutes", f"{(table.wall_time_s.sum() + short_table.wall_time_s.sum()) / 60:.1f} min")

# %% [markdown]
# This build's runs took {glue:text}`c1_minutes` of training (read
# from the results, so a rerun that finds them cached shows the same). What
# each profile's runs would take, from measured seconds per epoch on a 2-core
# CPU and, where measured, on a GPU:

# %% mystnb={"markdown_format": "myst"} tags=["hide-input"]
ch.show(ch.cost_table())

# %% mystnb={"markdown_format": "myst"} tags=["hide-input"]
from glth_core.book.chapter_runs import SHORT_SCHEDULE
from glth_core.book.chapter_tables import TRAINED_ACCURACY, schedule_comparison, side_word
from glth_core.book.labels import schedule_label

schedules = {"profile": schedule_label(ch.params), "short": schedule_label(SHORT_SCHEDULE)}
shown, dense = schedule_comparison({"short": short_table, "profile": table}, schedules, "profile", "short")
for key, value in {**dense, "schedule": schedules["profile"]}.items():
    ch.glue(f"c1_{key}", value)
ch.glue("c1_bar", side_word(dense["profile_acc"] / 100, TRAINED_ACCURACY))
ch.glue("c1_trained", 100 * TRAINED_ACCURACY)
ch.show(shown)

# %% [markdown]
# With the profile's schedule ({glue:text}`c1_schedule`), the dense network
# reaches {glue:text}`c1_profile_acc:.2f`% test accuracy (mean over
# {glue:text}`c1_profile_n` seeds), which {glue:text}`c1_bar` the
# {glue:text}`c1_trained:.1f`% we ask of a trained LeNet-300-100 on
# Fashion-MNIST; the short schedule gives
# {glue:text}`c1_short_acc:.2f`%. That the profile's schedule trains better,
# seed by seed: {glue:text}`c1_gain`. Every round of the lottery experiment
# below trains with the profile's schedule.
#
# ```{admonition} Another model or data set
# :class: dropdown
# The {glue:text}`c1_trained:.1f`% bar is the accuracy that LeNet-300-100 is
# known to reach on Fashion-MNIST when trained (the book's evidence
# standard). A build with
# `-p model ...` or `-p dataset ...` (the smoke build runs scikit-learn's 8x8
# digits) is still compared with it above, but the bar then says nothing:
# read the short and the profile's schedules against each other instead.
# ```
#
# ## The lottery experiment
#
# One *ticket* run per seed: round 0 trains the dense network, each later round
# prunes, rewinds and retrains. Each control is a run of its own on the
# ticket's masks (see `glth_core.engine.lottery`): *reinit* trains the ticket's
# round-$r$ mask from a fresh initialisation, *random_mask* trains a random
# mask with the ticket's number of weights in every layer from the ticket's
# own rewind point. Round 0, the dense network, is shared by all three. With
# scope "layer", each hidden layer keeps $(1 - p)^r$ of its weights after
# round $r$ and the output layer $(1 - p_\text{out})^r$.
#
# All runs went through the `sweep` calls above, which skip runs already in the
# results folder, so re-executing this notebook trains nothing.

# %% tags=["hide-input"]
from glth_core.book.chapter_plots import lottery_curves
controls = ch.params["controls"]
ch.glue("c1_fig_accuracy", lottery_curves(table, controls, model=ch.params["model"], dataset=ch.params["dataset"],
                                          basis="canonical", seeds=len(ch.seeds)))

# %% [markdown]
# ```{glue:figure} c1_fig_accuracy
# :name: fig-c1-accuracy
#
# Test accuracy (%) after each round of IMP against the weights remaining
# (%, log scale, pruning proceeds to the right), for the ticket (rewound to
# iteration $k$) and the controls. Lines: mean over seeds; bands: 95%
# confidence intervals of the mean. Dashed: the dense network (round 0, shared
# by all). The controls start from the dense point.
# ```
#
# ## Part 1: does accuracy rise, then fall?
#
# The ticket at round $r$ against the dense network of the same seed (its own
# round 0), at every round. "Above" and "below" are said only where the 95%
# interval of the paired difference excludes 0.

# %% mystnb={"markdown_format": "myst"} tags=["hide-input"]
from glth_core.book.chapter_tables import versus_controls, versus_dense
ch.show(versus_dense(table))

# %% [markdown]
# ## Parts 2 and 3: the ticket against its controls
#
# The ticket minus each control at every pruned round, paired by seed (the
# claim: the ticket is better, a difference above 0).

# %% mystnb={"markdown_format": "myst"} tags=["hide-input"]
ch.show(versus_controls(table, controls))

# %% [markdown]
# ```{admonition} Without controls
# :class: dropdown
# With `-p controls "[]"` only the tickets are trained: the table above then
# has no control column, and the verdicts below on the controls read "not run".
# ```
#
# ## Verdicts
#
# The verdicts of claim 2 are taken at rounds fixed before the runs: the rise
# at the first pruned round, the fall, and the ticket against each control, at
# the sparsest round (the last one). The tables above show every other round.
# They are declared as data, one `Test` per comparison, and computed by the
# one verdict rule of the book (`glth_core.book.chapter_verdicts`).

# %% mystnb={"markdown_format": "myst"}
TESTS = [  # key, claim, comparison, arm, treatment, reference, claimed side, where
    Test("c1_rise", "2", "ticket − dense at {weights}, claimed > 0 ({model}, {dataset}, canonical)",
         "control", "ticket", "ticket", "greater", round="first", reference_round=0, label="ticket − dense"),
    Test("c1_fall", "2", "ticket − dense at {weights}, claimed < 0 ({model}, {dataset}, canonical)",
         "control", "ticket", "ticket", "less", round="last", reference_round=0, label="ticket − dense"),
    Test("c1_vs_reinit", "2", "ticket − random re-initialisation at {weights}, claimed > 0 ({model}, {dataset}, "
         "canonical)", "control", "ticket", "reinit", "greater", round="last", label="ticket − reinit"),
    Test("c1_vs_random_mask", "2", "ticket − random mask at {weights}, claimed > 0 ({model}, {dataset}, "
         "canonical)", "control", "ticket", "random_mask", "greater", round="last", label="ticket − random_mask"),
]
verdicts = ch.verdicts(table, TESTS, not_run="not run (parameter controls)").set_index("key")
for key in ("rise", "fall"):
    ch.glue(f"c1_{key}_pct", verdicts.weights_pct[f"c1_{key}"])
ch.show(verdicts, ["comparison", "n", "verdict", "sentence"])

# %% [markdown]
# **Rise.** At the first pruned round, {glue:text}`c1_rise_pct:.3g`% of the
# weights, the claim that the ticket is *more* accurate than the dense network
# {glue:text}`c1_rise`.
#
# **Fall.** At the sparsest round, {glue:text}`c1_fall_pct:.3g`% of the
# weights, the claim that the ticket is *less* accurate than the dense network
# {glue:text}`c1_fall`.
#
# **Random re-initialisation.** At {glue:text}`c1_fall_pct:.3g`% of the
# weights, the claim that the ticket beats the same mask on a fresh
# initialisation: {glue:text}`c1_vs_reinit`.
#
# **Random mask.** At {glue:text}`c1_fall_pct:.3g`% of the weights, the
# claim that the ticket beats a random mask of the same size per layer, on the
# same initialisation: {glue:text}`c1_vs_random_mask`.
#
# These verdicts are recorded with the results, and {doc}`06_summary` shows
# them next to those of the other chapters.

# %% tags=["hide-input"]
for name in ("seeds", "rounds", "fraction", "epochs"):
    ch.glue(f"c1_{name}", ch.params[name])

# %% [markdown]
# ## How far this goes
#
# These numbers come from a run sized for a CPU ({glue:text}`c1_seeds` seeds,
# {glue:text}`c1_rounds` rounds of {glue:text}`c1_fraction:.0%` pruning,
# {glue:text}`c1_epochs` epochs per round).
# What limits them:
#
# - **Training budget.** Every round trains with the same schedule as the dense
#   network, which is trained (see above) but shorter than in
#   {cite:t}`frankle2019lottery`, who train LeNet-300-100 for 50,000
#   iterations with Adam. A rise after pruning can still partly say that
#   sparse networks learn faster, which Frankle and Carbin also report.
# - **Sparsity grid.** The `quick` profile prunes a large fraction per round,
#   so only a few sparsity levels are visited; the sparsest is
#   {glue:text}`c1_fall_pct:.3g`% of the weights. Frankle and Carbin see the
#   largest differences between tickets and controls at a few percent of the
#   weights and below.
# - **Rewinding.** The default rewinds to iteration 0; that *rewinding
#   matters* (late rewinding against rewinding to the initialisation) is not
#   compared here.
# - **Seeds.** The intervals are over seeds; with few seeds they are wide, and
#   an inconclusive verdict says that the data cannot tell, not that there is
#   no effect.
#
# The same experiment on other bases is the subject of {doc}`02_bases`.
#
# ### Rerun at paper scale
#
# The `paper` profile has the settings of the literature (see the table of both
# profiles above: more epochs per round, and 20% pruning rounds that visit many
# more sparsity levels); it takes hours on a CPU:
#
# ```bash
# papermill notebooks/01_canonical.ipynb out.ipynb -p profile paper
# ```
#
# Late rewinding {cite:p}`frankle2020linear` is `-p rewind_iteration 500`
# (rewind to iteration 500 of the dense training instead of the
# initialisation); the controls then start from the same iteration.
