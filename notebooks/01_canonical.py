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
model = None                # model (glth_core.models.MODELS)
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
# Check every parameter before anything runs (papermill -p ... with a bad value fails here).
from glth_core.chapter import check_parameters; check_parameters(globals())  # a -p NAME not declared above fails here
from glth_core.chapter import check_common, check_hparams, require_fraction, require_names, smoke_scheduler
from glth_core.hparams import CONTROLS, OPTIMIZERS
from glth_core.profiles import chapter_parameters, imp_base

params = chapter_parameters(
    "01_canonical", profile, smoke=smoke, seeds=seeds, dataset=dataset, model=model, optimizer=optimizer, lr=lr,
    momentum=momentum, weight_decay=weight_decay, batch_size=batch_size, epochs=epochs, milestones=milestones,
    gamma=gamma, fraction=fraction, output_fraction=output_fraction, rounds=rounds,
    rewind_iteration=rewind_iteration, controls=controls)
check_common(smoke=smoke, dataset=params["dataset"], model=params["model"], device=device, scheduler=scheduler,
             results_dir=results_dir, seeds=(params["seeds"], 2), rounds=(params["rounds"], 1),
             epochs=(params["epochs"], 1), batch_size=(params["batch_size"], 1),
             rewind_iteration=(params["rewind_iteration"], 0))
if params["optimizer"] not in OPTIMIZERS:
    raise ValueError(f"parameter optimizer must be one of {list(OPTIMIZERS)}, got {params['optimizer']!r}")
require_fraction("fraction", params["fraction"])
require_fraction("output_fraction", params["output_fraction"])
require_names("controls", params["controls"], [c for c in CONTROLS if c != "ticket"], allow_empty=True)
check_hparams(imp_base(params))  # the engine's own bounds (gamma in (0, 1], rounds, ...), named as parameters
if smoke:  # the whole chapter in seconds: tiny data, few rounds, in this process
    scheduler = smoke_scheduler(scheduler)
print(", ".join(f"{k}={v}" for k, v in params.items()))

# %%
import matplotlib.pyplot as plt
import pandas as pd
from myst_nb import glue

from glth_core import plots, stats
from glth_core.chapter import record_verdicts
from glth_core.hparams import update
from glth_core.profiles import PROFILES, estimated_cost_hours, imp_base, settings_table
from glth_core.sweep import grid, sweep
from glth_core.verdict_tables import markdown_table, MarkdownText, verdict_row

pd.set_option("display.width", 120)
controls = params["controls"]
seed_list = list(range(params["seeds"]))
model_name = {"lenet300": "LeNet-300-100"}.get(params["model"], params["model"])

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

# %%
print(settings_table("01_canonical").to_string())

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
# below; the short ones are dense runs of their own (`rounds=0`).

# %% tags=["remove-stderr"]
SHORT_SCHEDULE = dict(optimizer="sgd", lr=0.1, momentum=0.0, weight_decay=0.0, epochs=2, milestones=(), gamma=0.1)
base = imp_base(params, basis="canonical")
short_runs = grid(update(base, rounds=0, **SHORT_SCHEDULE), seed=seed_list)
runs = grid(base, seed=seed_list, control=["ticket", *controls])

short_table = sweep(short_runs, scheduler=scheduler, device=device, results_dir=results_dir, progress=False)
table = sweep(runs, scheduler=scheduler, device=device, results_dir=results_dir, progress=False)
failures = short_table.attrs["failures"] + table.attrs["failures"]
print(f"{len(short_runs) + len(runs)} runs, {len(failures)} failed, {len(short_table) + len(table)} rows")
if failures:
    raise RuntimeError("some runs failed:\n" + "\n".join(map(str, failures)))

# %% [markdown]
# What this build's runs took (read from the results, so a rerun that finds
# them cached prints the same), and what each profile's runs would take, from
# measured seconds per epoch on a 2-core CPU:

# %% tags=["hide-input"]
print(f"training time of this build's runs: {(table.wall_time_s.sum() + short_table.wall_time_s.sum()) / 60:.1f} min")
for name in PROFILES:
    p = chapter_parameters("01_canonical", name)
    b = imp_base(p, basis="canonical")
    planned = (grid(b, seed=list(range(p["seeds"])), control=["ticket", *p["controls"]])
               + grid(update(b, rounds=0, **SHORT_SCHEDULE), seed=list(range(p["seeds"]))))
    cost = {d: estimated_cost_hours(planned, d) for d in ("cpu", "gpu")}
    print(f"profile {name}: " + ", ".join(f"{d.upper()} " + ("not measured" if h is None else f"{h:.2f} h")
                                          for d, h in cost.items()))

# %% tags=["hide-input"]
def describe(p):
    """The training schedule of parameters ``p`` in words."""
    words = f"{p['epochs']} epochs of {p['optimizer'].upper()}, learning rate {p['lr']:g}"
    if p["optimizer"] == "sgd":
        words += f", momentum {p['momentum']:g}" if p["momentum"] else ", no momentum"
    if p["weight_decay"]:
        words += f", weight decay {p['weight_decay']:g}"
    milestones = list(p["milestones"])
    words += (f", learning rate x{p['gamma']:g} after epoch{'s' if len(milestones) > 1 else ''} "
              f"{', '.join(map(str, milestones))}" if milestones else ", no decay")
    return words


SCHEDULES = {"short": describe(SHORT_SCHEDULE), "profile": describe(params)}

# %%
dense = pd.concat([short_table[short_table["round"] == 0].assign(schedule="short"),
                   table[(table.control == "ticket") & (table["round"] == 0)].assign(schedule="profile")])
by_schedule = stats.summarize(dense, "schedule").set_index("schedule").loc[["short", "profile"]]
schedule_gain = stats.paired_difference(dense, "schedule", "profile", "short", by=[]).iloc[0]

# %% tags=["hide-input"] mystnb={"markdown_format": "myst"}
shown = pd.DataFrame({
    "schedule": [SCHEDULES[s] for s in by_schedule.index] + ["profile − short (paired)"],
    "n": [str(int(v)) for v in by_schedule.n] + [str(int(schedule_gain.n))],
    "dense accuracy (%)": [f"{100 * m:.2f}" for m in by_schedule["mean"]] + [f"{100 * schedule_gain.estimate:+.2f} pp"],
    "sd": [f"{100 * s:.2f}" for s in by_schedule.sd] + [f"{100 * schedule_gain.sd:.2f}"],
    "95% CI": [f"[{100 * lo:.2f}, {100 * hi:.2f}]" for lo, hi in zip(by_schedule.ci_low, by_schedule.ci_high)]
              + [f"[{100 * schedule_gain.ci_low:+.2f}, {100 * schedule_gain.ci_high:+.2f}]"],
})
MarkdownText(markdown_table(shown))

# %% tags=["hide-input"]
dense_acc = float(by_schedule.loc["profile", "mean"])
BAR = 0.885  # dense LeNet-300-100 on Fashion-MNIST, trained: DESIGN.md's evidence standard
glue("c1_dense_acc", 100 * dense_acc, display=False)
glue("c1_dense_n", int(by_schedule.loc["profile", "n"]), display=False)
glue("c1_short_acc", 100 * float(by_schedule.loc["short", "mean"]), display=False)
glue("c1_schedule", SCHEDULES["profile"], display=False)
glue("c1_schedule_gain", stats.verdict_sentence(schedule_gain, "greater", label="profile − short"), display=False)
if params["dataset"] == "fashion_mnist" and params["model"] == "lenet300":
    bar = ("reaches" if dense_acc >= BAR else "falls short of") + f" the {100 * BAR:.1f}% we ask of a trained network"
else:
    bar = f"(the {100 * BAR:.1f}% bar is for LeNet-300-100 on Fashion-MNIST; this build runs {model_name} " \
          f"on {params['dataset']})"
glue("c1_bar", bar, display=False)

# %% [markdown]
# With the profile's schedule ({glue:text}`c1_schedule`), the dense network
# reaches {glue:text}`c1_dense_acc:.2f`% test accuracy (mean over
# {glue:text}`c1_dense_n` seeds), which {glue:text}`c1_bar`; the short schedule
# gives {glue:text}`c1_short_acc:.2f`%. That the profile's schedule trains
# better, seed by seed: {glue:text}`c1_schedule_gain`. Every round of the
# lottery experiment below trains with the profile's schedule.
#
# ## The lottery experiment
#
# One *ticket* run per seed: round 0 trains the dense network, each later round
# prunes, rewinds and retrains. Each control is a run of its own on the
# ticket's masks (see `glth_core.lottery`): *reinit* trains the ticket's
# round-$r$ mask from a fresh initialisation, *random_mask* trains a random
# mask with the ticket's number of weights in every layer from the ticket's
# own rewind point. Round 0, the dense network, is shared by all three. With
# scope "layer", each hidden layer keeps $(1 - p)^r$ of its weights after
# round $r$ and the output layer $(1 - p_\text{out})^r$.
#
# All runs went through the `sweep` calls above, which skip runs already in the
# results folder, so re-executing this notebook trains nothing.

# %%
LABELS = {"ticket": "IMP ticket", "reinit": "random re-initialisation", "random_mask": "random mask"}
curves = stats.with_dense_round(table) if controls else table
ax = plots.accuracy_curves(curves, "control", hue_order=["ticket", *controls], labels=LABELS, reference=dense_acc)
ax.set_title(f"{model_name} on {params['dataset']}, canonical basis ({params['seeds']} seeds)")
glue("c1_fig_accuracy", ax.figure, display=False)
plt.close(ax.figure)

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

# %%
tickets = table[table.control == "ticket"]
pruned = sorted(int(r) for r in tickets["round"].unique() if r > 0)
first, sparsest = pruned[0], pruned[-1]  # pre-specified: the first pruned round, and the last
weights_pct = 100 * tickets.groupby("round").density.mean()
dense_rows = tickets[tickets["round"] == 0]
versus_dense = pd.concat([tickets[tickets["round"] > 0].assign(arm="ticket"),
                          *[dense_rows.assign(arm="dense", round=r) for r in pruned]])
rise_fall = stats.paired_difference(versus_dense, "arm", "ticket", "dense", by=["round"]).set_index("round")

# %% tags=["hide-input"] mystnb={"markdown_format": "myst"}
SIDE_WORDS = {"holds": "above dense", "contradicted": "below dense", "inconclusive": "inconclusive (CI includes 0)"}
MarkdownText(markdown_table(pd.DataFrame({
    "round": rise_fall.index,
    "weights (%)": [f"{weights_pct[r]:.3g}" for r in rise_fall.index],
    "n": rise_fall.n.astype(int),
    "ticket (%)": [f"{100 * v:.2f}" for v in rise_fall.treatment_mean],
    "dense (%)": [f"{100 * v:.2f}" for v in rise_fall.reference_mean],
    "ticket − dense (pp)": [f"{100 * v:+.2f}" for v in rise_fall.estimate],
    "95% CI": [f"[{100 * lo:+.2f}, {100 * hi:+.2f}]" for lo, hi in zip(rise_fall.ci_low, rise_fall.ci_high)],
    "ticket is": [SIDE_WORDS[stats.verdict((lo, hi), "greater")] for lo, hi in zip(rise_fall.ci_low,
                                                                                  rise_fall.ci_high)],
})))

# %% [markdown]
# ## Parts 2 and 3: the ticket against its controls
#
# The ticket minus each control at every pruned round, paired by seed (the
# claim: the ticket is better, a difference above 0).

# %%
versus_controls = {c: stats.with_verdicts(stats.paired_difference(table, "control", "ticket", c, by=["round"]),
                                          "greater").set_index("round") for c in controls}

# %% tags=["hide-input"] mystnb={"markdown_format": "myst"}
columns = {"round": pruned, "weights (%)": [f"{weights_pct[r]:.3g}" for r in pruned]}
for c, effects in versus_controls.items():
    columns[f"ticket − {LABELS[c]} (pp), 95% CI"] = [
        f"{100 * effects.estimate[r]:+.2f} [{100 * effects.ci_low[r]:+.2f}, {100 * effects.ci_high[r]:+.2f}]"
        for r in pruned]
    columns[f"verdict ({c})"] = [effects.verdict[r] for r in pruned]
MarkdownText(markdown_table(pd.DataFrame(columns))) if controls else print("no control was run (parameter controls)")

# %% [markdown]
# ## Verdicts
#
# The verdicts of claim 2 are taken at rounds fixed before the runs: the rise
# at the first pruned round, the fall, and the ticket against each control, at
# the sparsest round (the last one). The tables above show every other round.

# %% mystnb={"markdown_format": "myst"}
where = f"{model_name}, {params['dataset']}, canonical"


def at(r):
    return f"{weights_pct[r]:.3g}% of weights"


verdicts = [
    verdict_row(rise_fall.loc[first], "greater", claim="2", chapter="01_canonical",
                comparison=f"ticket − dense at {at(first)}, claimed > 0 ({where})"),
    verdict_row(rise_fall.loc[sparsest], "less", claim="2", chapter="01_canonical",
                comparison=f"ticket − dense at {at(sparsest)}, claimed < 0 ({where})"),
    *[verdict_row(versus_controls[c].loc[sparsest], "greater", claim="2", chapter="01_canonical",
                  comparison=f"ticket − {LABELS[c]} at {at(sparsest)}, claimed > 0 ({where})") for c in controls],
]
record_verdicts("01_canonical", verdicts, profile=profile, smoke=smoke, results_dir=results_dir)

glue("c1_first_pct", float(weights_pct[first]), display=False)
glue("c1_sparsest_pct", float(weights_pct[sparsest]), display=False)
glue("c1_rise", stats.verdict_sentence(rise_fall.loc[first], "greater", label="ticket − dense"), display=False)
glue("c1_fall", stats.verdict_sentence(rise_fall.loc[sparsest], "less", label="ticket − dense"), display=False)
for c in ("reinit", "random_mask"):
    glue(f"c1_vs_{c}", stats.verdict_sentence(versus_controls[c].loc[sparsest], "greater", label=f"ticket − {c}")
         if c in controls else "not run (parameter controls)", display=False)
MarkdownText(markdown_table(pd.DataFrame(verdicts)[["comparison", "n", "verdict", "sentence"]]))

# %% [markdown]
# **Rise.** At the first pruned round, {glue:text}`c1_first_pct:.3g`% of the
# weights, the claim that the ticket is *more* accurate than the dense network
# {glue:text}`c1_rise`.
#
# **Fall.** At the sparsest round, {glue:text}`c1_sparsest_pct:.3g`% of the
# weights, the claim that the ticket is *less* accurate than the dense network
# {glue:text}`c1_fall`.
#
# **Random re-initialisation.** At {glue:text}`c1_sparsest_pct:.3g`% of the
# weights, the claim that the ticket beats the same mask on a fresh
# initialisation: {glue:text}`c1_vs_reinit`.
#
# **Random mask.** At {glue:text}`c1_sparsest_pct:.3g`% of the weights, the
# claim that the ticket beats a random mask of the same size per layer, on the
# same initialisation: {glue:text}`c1_vs_random_mask`.
#
# These verdicts are recorded with the results, and {doc}`06_summary` shows
# them next to those of the other chapters.

# %%
glue("c1_settings", f"{params['seeds']} seeds, {params['rounds']} rounds of {params['fraction']:.0%} pruning, "
     f"{params['epochs']} epochs per round", display=False)

# %% [markdown]
# ## How far this goes
#
# These numbers come from a run sized for a CPU ({glue:text}`c1_settings`).
# What limits them:
#
# - **Training budget.** Every round trains with the same schedule as the dense
#   network, which is trained (see above) but shorter than in
#   {cite:t}`frankle2019lottery`, who train LeNet-300-100 for 50,000
#   iterations with Adam. A rise after pruning can still partly say that
#   sparse networks learn faster, which Frankle and Carbin also report.
# - **Sparsity grid.** The `quick` profile prunes a large fraction per round,
#   so only a few sparsity levels are visited; the sparsest is
#   {glue:text}`c1_sparsest_pct:.3g`% of the weights. Frankle and Carbin see the
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
