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
# A lottery ticket changes all three: its mask is chosen by magnitude after
# training, its basis may be structured (here the canonical one, and a random
# orthogonal one as the bridge between the two worlds), and its surviving
# coefficients are rewound to their initial values instead of starting at zero
# around a frozen network. This chapter trains both with the same optimiser and
# schedule family, each with its learning rate, minibatch and length chosen
# where it trains best, and compares them at equal size: accuracy against the
# number of trained coefficients. The book's reading of claim 5 is a comparison, not a
# prediction of the paper: *at the same number of trained coefficients, a
# ticket (a mask chosen from the data) is more accurate than a random
# subspace*.

# %% tags=["parameters"]
smoke = False               # True: a few seconds on scikit-learn's 8x8 digits (make test)
profile = "quick"           # "quick" (make book on a CPU) or "paper" (the literature's settings); see the table below
seeds = None                # seeds per configuration (intervals are over seeds)
dimensions = None           # subspace dimensions d (a log grid)
ticket_bases = None         # bases of the IMP tickets compared with the subspaces
threshold = None            # intrinsic dimension: smallest d reaching threshold * dense accuracy
epochs = None               # training epochs (per IMP round, and of each subspace run)
rounds = None               # IMP pruning rounds after the dense round 0
subspace_lrs = None         # learning rates searched for the subspace runs (on the validation split)
subspace_batch_sizes = None # minibatches searched for the subspace runs
subspace_epochs = None      # longest subspace run searched (epochs at a constant rate; the best epoch is kept)
search_dimension = None     # the d at which the search runs (seed 0)
validation_size = None      # training images held out as the validation split of the search
device = "auto"             # "auto" (CUDA if available), "cpu" or "cuda"
scheduler = "auto"          # "auto" (fastest here), "local" (Dask LocalCluster), "serial", or tcp://HOST:PORT
results_dir = None          # None: the engine default ($GLTH_RESULTS_DIR or ./results)

# %% tags=["hide-input"]
from glth_core.book import chapter_figures_subspace as figures, subspace_analysis as sub
from glth_core.book.chapter import Chapter
from glth_core.book.profiles import settings_table

ch = Chapter("03_subspace", globals())
params = {**ch.params, "device": ch.device, "scheduler": ch.scheduler, "results_dir": ch.results_dir}

# %% [markdown]
# ## The experiments
#
# **Random subspaces.** For every $d$ in `dimensions` and every seed,
# `glth_core.engine.subspace.run_subspace` (through `sweep`) builds the network with
# that seed, writes every layer in a seeded random orthogonal basis with the
# initial weights frozen as the offset $W_0$, draws a random mask with $d$ ones
# in total (spread over the layers in proportion to their sizes), and trains
# only those $d$ coefficients, from zero; biases stay at their initial values,
# so exactly $d$ numbers are trained.
#
# **Tickets.** IMP with rewinding to the initialisation, the LeNet-300-100 runs
# shared with {doc}`01_canonical` and {doc}`02_bases` (read from the results
# folder when those chapters have run), in the canonical basis (classic
# tickets) and in a random orthogonal basis (a random basis, but a magnitude
# mask and no offset).
#
# **Each method at its best.** The tickets train with the profile's SGD
# schedule (learning rate, momentum, step decay, epochs per round), tuned for
# the dense network. A subspace run is a different optimisation problem: $d$
# coefficients that start at zero on top of a frozen network. Its learning
# rate, minibatch and number of epochs are therefore chosen for it, on a
# *validation split*: `validation_size` images held out of the training set
# (`glth_core.data.load(..., validation_size=...)`, split seed 0), never the
# test set. The search trains seed 0 at $d$ = `search_dimension` for every
# learning rate in `subspace_lrs` and minibatch in `subspace_batch_sizes`, with
# SGD and the tickets' momentum at a constant rate for `subspace_epochs`
# epochs, evaluates the validation accuracy after every epoch, and keeps the
# setting and epoch count with the best validation accuracy (a setting whose
# training diverges is shown as such and left out). For reference it
# also runs the schedule of earlier versions of this chapter: the tickets'
# schedule at minibatch 512. The chosen setting then trains every $d$ and seed
# on the full training set.
#
# **Cost.** The longest search setting trains `subspace_epochs` epochs, no
# more than one ticket round's `epochs`; a ticket at round $r$ has trained
# $r + 1$ rounds. So every subspace run costs at most what the tickets it is
# compared with cost (in epochs; the steps and measured seconds are printed
# below).

# %% tags=["remove-stderr"]
search, chosen = sub.search_table(params)
print(f"validation search at d = {params['search_dimension']:,}, seed 0, {params['validation_size']:,} "
      f"validation images\n{sub.shown_search(search).to_string(index=False)}\n\nchosen: lr {chosen['lr']:g}, "
      f"minibatch {chosen['batch_size']}, {chosen['epochs']} epochs ({100 * chosen['best_accuracy']:.2f}%)")
subspaces, tickets = sub.sweep_runs(params, chosen)
ch.glue("c3_fig_search", figures.search_figure(search, params["subspace_batch_sizes"]))

# %% [markdown]
# ```{glue:figure} c3_fig_search
# :name: fig-c3-search
#
# The validation search of the random subspaces' training at
# $d$ = {glue:text}`c3_search_d` (seed 0): best validation accuracy over the
# epochs (%) against the learning rate, one line per minibatch; the cross is
# the schedule of earlier versions of this chapter (the tickets' learning rate
# and step decay at minibatch 512).
# ```
#
# What the two profiles set, and what they cost. The measured time is the sum of
# the training times stored with this build's runs (the ticket runs are shared
# with other chapters, so this is an upper bound of what this chapter added);
# the estimate for the other profile comes from measured seconds per epoch
# (`glth_core.book.profiles.estimated_cost_hours`), which covers the ticket runs but
# not the subspace runs ("not measured").

# %%
print(f"{settings_table(sub.CHAPTER).to_string()}\n\n{sub.cost_lines(params, chosen, search, subspaces, tickets)}")

# %% [markdown]
# ## Intrinsic dimension
#
# Each seed's dense accuracy is round 0 of its canonical ticket run (the same
# initial weights as its subspaces). Its intrinsic dimension is the smallest
# grid $d$ from which on every larger $d$ reaches `threshold` times that
# accuracy (Li et al.'s definition on a grid), and, between that grid point and
# the next smaller one, the crossing interpolated linearly in $\log d$. A seed
# whose smallest $d$ already reaches the line has an intrinsic dimension of at
# most that $d$ (marked "≤").

# %%
intrinsic = sub.intrinsic_summary(subspaces, tickets, params)
print(f"{intrinsic['total']:,} coefficients in the network; intrinsic dimension over seeds: {intrinsic['sentence']}")
print(intrinsic["table"].to_string(index=False), "\n\nrandom subspaces: test accuracy (%) over seeds")
print(intrinsic["subspace"].assign(**{c: 100 * intrinsic["subspace"][c] for c in ("mean", "sd", "ci_low", "ci_high")})
      .round(2).to_string(index=False))

# %% [markdown]
# ## Tickets against subspaces at equal size
#
# A ticket's size is its number of nonzero coefficients (its density times the
# network's coefficients; its few hundred biases are trained too). For each
# seed, the subspace accuracy at that size is interpolated linearly in $\log d$
# between that seed's two neighbouring grid points, and the paired difference
# *ticket − subspace* is taken over seeds. The sizes are pre-specified: every
# ticket round whose size lies inside the grid of `dimensions`; every one is
# tested and shown.

# %%
from glth_core.book.chapter import family

effects, shown = sub.equal_size_effects(tickets, subspaces, intrinsic["total"])
print(shown.to_string(index=False) if len(shown) else "no ticket round has a size inside the grid: nothing to compare")
TESTS = family(effects, given=True, key="c3_equal_size", claim="5", side="greater", arm="arm", treatment="ticket",
               reference="subspace", comparison="ticket ({label}) − random subspace at {size:,} coefficients (LeNet)")
ch.verdicts(tickets, TESTS)
ch.glue("c3_n_compared", int(len(effects)))
for outcome in ("holds", "contradicted", "inconclusive"):  # a difference at equal size is never censored
    ch.glue(f"c3_n_{outcome}", int((effects["verdict"] == outcome).sum()) if len(effects) else 0)

# %%
dense = float(intrinsic["dense"].mean())
ch.glue("c3_fig_subspace", figures.subspace_figure(tickets, subspaces, intrinsic["total"], dense, params["threshold"]))

# %% [markdown]
# ```{glue:figure} c3_fig_subspace
# :name: fig-c3-subspace
#
# Test accuracy (%) against the number of trained coefficients (log scale,
# fewer to the right) for training in a random subspace of dimension $d$ and for
# IMP tickets (one point per pruning round; the left-most ticket point is the
# dense network). Lines: mean over seeds; bands: 95% t-intervals over seeds.
# Dashed: dense accuracy; dotted: the intrinsic-dimension threshold.
# ```

# %%
accuracy, previous = intrinsic["subspace"]["mean"], search[search.setting == "previous"].iloc[0]
numbers = {"total": intrinsic["total"], "dense": 100 * dense, "threshold_pct": 100 * params["threshold"],
           "intrinsic": intrinsic["sentence"], "dmin": params["dimensions"][0], "dmax": params["dimensions"][-1],
           "acc_dmin": 100 * float(accuracy.iloc[0]), "acc_dmax": 100 * float(accuracy.iloc[-1]),
           "seeds": params["seeds"], "search_d": f"{params['search_dimension']:,}", "lr": chosen["lr"],
           "batch": chosen["batch_size"], "best_val": 100 * chosen["best_accuracy"],
           "previous_val": 100 * float(previous.best_accuracy), "n_searched": int((search.setting != "previous").sum()),
           "subspace_epochs": chosen["epochs"], "ticket_epochs": params["epochs"]}
for key in ("total", "dense", "threshold_pct", "intrinsic", "dmin", "dmax", "acc_dmin", "acc_dmax", "seeds",
            "search_d", "lr", "batch", "best_val", "previous_val", "n_searched", "subspace_epochs", "ticket_epochs"):
    ch.glue(f"c3_{key}", numbers[key])

# %% [markdown]
# ## What the experiments show
#
# The validation search ({numref}`fig-c3-search`, {glue:text}`c3_n_searched`
# settings) chose learning rate {glue:text}`c3_lr`, minibatch
# {glue:text}`c3_batch` and {glue:text}`c3_subspace_epochs` epochs for the
# random subspaces: at
# $d$ = {glue:text}`c3_search_d` they reach {glue:text}`c3_best_val:.1f`%
# validation accuracy, against {glue:text}`c3_previous_val:.1f`% with the
# schedule of earlier versions of this chapter (the tickets' learning rate and
# decay at minibatch 512). A subspace run trains for
# {glue:text}`c3_subspace_epochs` epochs, a ticket for
# {glue:text}`c3_ticket_epochs` epochs in every round: no subspace run costs
# more than one ticket round.
#
# The network has {glue:text}`c3_total` coefficients and its dense accuracy is
# {glue:text}`c3_dense:.2f`% (mean over {glue:text}`c3_seeds` seeds). Trained
# in a random subspace, it reaches {glue:text}`c3_acc_dmin:.1f`% with
# $d$ = {glue:text}`c3_dmin` coefficients and {glue:text}`c3_acc_dmax:.1f`% with
# $d$ = {glue:text}`c3_dmax`. The intrinsic dimension at
# {glue:text}`c3_threshold_pct:g`% of the dense accuracy, interpolated per seed:
# {glue:text}`c3_intrinsic`. {cite:t}`li2018intrinsic` report about 750
# for a fully connected network on MNIST; Fashion-MNIST is a harder task, and
# a short schedule still biases the estimate upwards, since small subspaces
# converge more slowly than large ones (the search tuned the training at one
# $d$ only). The criterion is lenient: the last percentage points towards the
# dense accuracy are the expensive ones.
#
# Claim 5 at equal size: of the {glue:text}`c3_n_compared` pre-specified
# comparisons (ticket rounds inside the grid), the verdict *ticket more
# accurate than the subspace* is "holds" for {glue:text}`c3_n_holds`,
# "contradicted" for {glue:text}`c3_n_contradicted` and "inconclusive" for
# {glue:text}`c3_n_inconclusive`; each row of the table above gives n, the
# paired difference and its 95% interval. With the quick profile's five
# pruning rounds, only the sparsest tickets are small enough to meet the grid:
# most of the subspace curve has no ticket to compare with.
#
# ## Discussion
#
# Seen through the framework of {doc}`../book/method`, the two methods differ in
# three choices, and the comparison measures their combined effect:
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
#    regenerated from its seed) and already computes random features; a
#    ticket's weights are its coefficients, with no offset, so every nonzero
#    weight must be stored and the masked ones are exactly zero.
#
# These differences also decide what "size" means. The subspace's $d$ counts
# trained numbers, but the network it trains is dense and full-size at
# inference; a ticket's count is what an exported sparse model stores. Li et
# al.'s intrinsic dimension measures the *optimisation* problem (how many
# directions suffice to find a good network near $W_0$), while a ticket is a
# statement about *compression*. Each method's training is chosen for it: the
# tickets use the schedule tuned for the dense network, the subspaces the
# setting chosen on validation data above, so neither is handicapped by the
# other's optimiser settings.
#
# ## Rerun at paper scale
#
# The `paper` profile (the table above) trains for the literature's number of
# epochs with five seeds and twenty 20% pruning rounds, whose sparsest tickets
# reach well into the subspace grid:
#
# ```bash
# papermill notebooks/03_subspace.ipynb out.ipynb -p profile paper
# ```
#
# The ticket runs are shared with {doc}`01_canonical` and {doc}`02_bases`.
