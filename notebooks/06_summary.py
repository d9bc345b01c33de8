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
# # Summary: what reproduces
#
# This chapter collects the five claims of the paper
# {cite:p}`alabdulmohsin2021generalized` and the verdicts that the experiment
# chapters computed for them. It trains nothing: every chapter records its
# verdicts with its results, and this page reads them back, so the tables and
# the figure below show the numbers of the build you are reading. Rerun a
# chapter with other settings and its verdicts here change with it.
#
# Every verdict follows one rule, the same in every chapter. A comparison is
# a paired difference over seeds (a seed fixes the initial weights and the
# order of the data, shared by the two arms), or a ratio of compressions; its
# 95% confidence interval decides: the claim **holds** if the interval lies
# entirely on the claimed side of the null (0 for a difference, 1 for a
# ratio), is **contradicted** if it lies entirely on the other side, and is
# **inconclusive** otherwise. Each comparison is tested where its chapter said
# it would be tested before the runs (a fixed round or density), never where
# the numbers happened to look best.

# %% tags=["parameters"]
smoke = False       # True: the verdicts of the smoke build (make test); this chapter runs no experiment of its own
profile = "quick"   # the profile whose verdicts are shown: "quick" (make book) or "paper"
results_dir = None  # None: the engine default ($GLTH_RESULTS_DIR or ./results), where the chapters recorded them

# %% tags=["hide-input"]
from glth_core.book.chapter import Chapter
ch = Chapter("06_summary", globals())

# %% tags=["hide-input"]
from glth_core.book.chapter import recorded_verdicts
from glth_core.book.chapter_plots import summary_forest
from glth_core.book.chapter_runs import verdict_chapters
from glth_core.book.chapter_tables import listed, numbered_verdicts
from glth_core.analysis.verdict_tables import MarkdownText, claim_evidence, claim_summary, missing_chapters

verdicts = recorded_verdicts(profile=ch.profile, smoke=ch.smoke, results_dir=ch.results_dir)
verdicts = verdicts.sort_values("claim", kind="stable").reset_index(drop=True)  # by claim, chapters in order
ch.glue("s6_n", len(verdicts))
ch.glue("s6_chapters", verdicts.chapter.nunique())
ch.glue("s6_expected", len(verdict_chapters()))
ch.glue("s6_missing", listed(missing_chapters(verdicts, verdict_chapters())))
for claim in ("1", "2", "3", "4", "5"):
    ch.glue(f"s6_claim{claim}", claim_summary(verdicts, claim))

# %% [markdown]
# ## The claims at a glance
#
# This build shows {glue:text}`s6_n` comparisons from
# {glue:text}`s6_chapters` of the {glue:text}`s6_expected` experiment
# chapters. Experiment chapters without recorded verdicts:
# {glue:text}`s6_missing`.
#
# ```{admonition} If a chapter is listed as without verdicts
# :class: dropdown
# Each chapter records its verdicts when it runs, under its profile (and, in
# the smoke build, separately). A chapter listed above has not run with this
# page's profile: run it with the same profile first, then this page.
# ```
#
# Claims 1 and 4 are constructions: they hold wherever the code that builds
# them passes its tests, and the comparisons recorded for them are side
# questions, not tests of the claim.
#
# | claim | chapters | recorded verdicts | main weakness |
# |---|---|---|---|
# | 1. Sparsity in any orthonormal basis | {doc}`02_bases`, {doc}`05_conv` | a construction: tickets are found and trained in every basis tried; recorded comparisons: {glue:text}`s6_claim1` | partly a construction; claims 2 and 3 test whether it is useful |
# | 2. Lottery-ticket results carry over | {doc}`01_canonical`, {doc}`02_bases`, {doc}`05_conv` | {glue:text}`s6_claim2` | short sparsity grid in the quick profile; rewinding not varied by default |
# | 3. A good basis (DCT) compresses better | {doc}`02_bases`, {doc}`05_conv` | {glue:text}`s6_claim3` | small networks, Fashion-MNIST instead of CIFAR-10 |
# | 4. Structured pruning is an instance | {doc}`04_structured` | a construction, checked by the export test of chapter 04; side comparisons, not tests of the claim: {glue:text}`s6_claim4` | a construction; whether structured tickets are *good* is a separate question |
# | 5. Random subspaces are a corner of the framework | {doc}`03_subspace` | {glue:text}`s6_claim5` | a construction; one data set and one network, a grid of dimensions |
#
# ## Every recorded verdict
#
# One row per comparison, by claim: $n$ (seeds, i.e. pairs), the estimate
# (a difference in percentage points, pp, or a ratio, x) and its 95%
# confidence interval, and the verdict; the chapter by its number. The `#`
# numbers the rows of the figure below.

# %% mystnb={"markdown_format": "myst"}
ch.show(numbered_verdicts(verdicts))

# %% tags=["hide-input"]
ch.glue("s6_fig_forest", summary_forest(verdicts))

# %% [markdown]
# ```{glue:figure} s6_fig_forest
# :name: fig-s6-forest
#
# Each recorded effect with its 95% confidence interval, numbered as in the
# table above, one panel per claim and unit, coloured by its verdict.
# Differences (percentage points, null 0) and ratios (log scale, null 1) have
# different units and are never drawn on one axis. The null is the vertical
# line; a verdict is "holds" or "contradicted" only when the interval does not
# touch it, on the claimed side or the other (each comparison in the table
# states its claimed side).
# ```
#
# ## 1. Sparsity in any basis
#
# **Claim.** The notion of sparsity can be relaxed to sparsity in an arbitrary
# orthonormal basis of parameter space.
#
# **A construction, checked by code.** `glth_core` trains, prunes and rewinds
# coefficients in the canonical, DCT, Walsh–Hadamard, random orthogonal and
# SVD bases through one parametrization ({doc}`../book/method`): the masked
# coefficients stay exactly zero during training, and in the canonical basis
# the method is exactly classic IMP. That much holds by construction, and the
# library's tests check it against independent references. What can be
# measured is the rest: that, under SGD, the dense network trains to the same
# function in every basis (rotation equivariance), and that a basis changes
# the result only through its masks ({doc}`02_bases`).
#
# **Recorded comparisons.**

# %% mystnb={"markdown_format": "myst"} tags=["remove-input"]
MarkdownText(claim_evidence(verdicts, "1"))

# %% [markdown]
# ## 2. The lottery-ticket results carry over
#
# **Claim.** In other bases, IMP with rewinding still finds sparse trainable
# subnetworks: accuracy first rises with pruning and then falls, random
# re-initialisation of the ticket is worse, and rewinding matters.
#
# **Recorded comparisons.** The rise is tested at the first pruned round and
# the fall at the sparsest (ticket minus its own dense network); the ticket
# against its controls at the sparsest round.

# %% mystnb={"markdown_format": "myst"} tags=["remove-input"]
MarkdownText(claim_evidence(verdicts, "2"))

# %% [markdown]
# **Where the evidence is weak.** Every default run rewinds to iteration 0;
# late rewinding (`-p rewind_iteration k`) is not compared with it, so
# "rewinding matters" is not tested by the default build. The `quick` profile
# visits few sparsity levels, so the final fall may lie between or beyond them.
#
# ## 3. A good basis compresses better
#
# **Claim.** A suitable basis, such as the DCT, reaches the same accuracy with
# fewer nonzero coefficients than the canonical one.
#
# **Recorded comparisons.**

# %% mystnb={"markdown_format": "myst"} tags=["remove-input"]
MarkdownText(claim_evidence(verdicts, "3"))

# %% tags=["hide-input"]
from glth_core.book import claim3_mechanisms as c3, claim3_tables as tables

points, notes = c3.mechanism_points(ch.profile, ch.smoke, ch.results_dir)
print("\n".join(notes) or "Every declared ticket run of chapters 02 and 05 was found.")
predictions = c3.prediction_table(points)
ch.glue("s6_density", tables.density_text(ch.profile, ch.smoke))
ch.glue("s6_configurations", len(c3.by_configuration(points)))
ch.glue("s6_points", len(points))
ch.glue("s6_mechanisms", tables.mechanism_sentences(predictions))

# %% [markdown]
# **One line per network.** The DCT ticket minus the canonical ticket of the
# same seed at {glue:text}`s6_density` of the weights (computed below from the
# chapters' finished runs: mean over seeds, Student-t 95% interval), the
# compression verdict its chapter recorded, and the chapter's control, the DCT
# against a random orthogonal basis (is it the DCT's structure, or any
# rotation?), as recorded.

# %% mystnb={"markdown_format": "myst"} tags=["remove-input"]
ch.show(tables.network_lines(points, verdicts, tables.claim3_models(ch.profile, ch.smoke)))

# %% [markdown]
# ### What explains the effect of a basis: candidate mechanisms
#
# The DCT's effect on tickets need not have the same sign on LeNet-300-100
# and on the small CNN (the lines above give both). The natural explanation,
# energy compaction (how much of a layer's squared norm its largest
# coefficients hold), is a hypothesis until the data could refute it. This
# section tests that candidate and four others on every configuration the
# chapters ran, and states only what the table supports.
#
# **What is measured.** Every finished ticket run of {doc}`02_bases` and
# {doc}`05_conv` (the DCT, random orthogonal and per-layer or one-sided bases,
# iterative or one-shot) is paired with the canonical ticket that differs from
# it only in its basis, seed by seed, and both are read at one density fixed in
# advance, {glue:text}`s6_density` of the weights: round 3 of an iterative
# run, the round with that density (round 1) of a run pruned once. The
# *effect* is the ticket's test accuracy minus its canonical partner's
# (percentage points). Each candidate enters as the same difference: energy
# compaction at initialisation and after dense training (the energy held by
# the largest coefficients, as many as the ticket keeps), the share of output
# units and inputs that still have a weight in the canonical basis, the
# effective rank of the ticket's weights, the overlap of its mask with the
# largest initial coefficients, and the distance travelled from the rewind
# point. Connectivity enters as the share of units that stay connected, so that
# for every candidate "same sign" means that a larger value goes with a better
# ticket. Each layer counts by its share of the prunable weights, as it does in
# the ticket's accuracy (in the small CNN the fully connected layer that reads
# the feature map holds nearly all of them, {doc}`05_conv`).
# The chapters' runs are read, never trained here; a run that is missing is
# named above.
#
# The configurations, averaged over seeds (effect in pp; candidates as
# differences in percentage points of the layer-weighted value):

# %% mystnb={"markdown_format": "myst"} tags=["remove-input"]
ch.show(tables.shown_configurations(points))

# %% [markdown]
# **How well each candidate predicts the effect** across the
# {glue:text}`s6_configurations` configurations (the decisive rows, one point
# per configuration: the question is which bases and ablations give better
# tickets) and, as a check, across the {glue:text}`s6_points` configuration x
# seed pairs (not independent: the seeds of a configuration share it, so those
# intervals are too narrow). Pearson's correlation with its Fisher-z 95%
# interval, Spearman's with the interval of Bonett and Wright, and how often
# the candidate's difference has the effect's sign, with its Wilson interval
# (no correlation interval below four points).

# %% mystnb={"markdown_format": "myst"} tags=["remove-input"]
ch.show(tables.shown_predictions(predictions))

# %% [markdown]
# **What the table supports**, in words computed from it:
# {glue:text}`s6_mechanisms`
#
# No sentence of this section says that compaction, or any other candidate,
# is necessary or sufficient for a better ticket: a correlation across a
# handful of configurations cannot show either.
#
# **Where the evidence is weak.** Few configurations, so the correlation
# intervals are wide. The convolutional networks of the `quick` profile are
# small and trained on Fashion-MNIST, not CIFAR-10
# {cite:p}`krizhevsky2009learning`, and their kernels are $3 \times 3$
# (CNNpack {cite:p}`wang2016cnnpack` works on larger filters).
#
# ## 4. Structured pruning is an instance
#
# **Claim.** Pruning units (rows of a weight matrix in the canonical basis) and
# factorising fully connected layers into products of low-rank matrices (rows
# in a rotated basis) are generalized lottery tickets.
#
# **A construction, checked by code.** Unit pruning and low-rank factorisation
# are row masks in the canonical and in a rotated basis, found by the same IMP
# code; {doc}`04_structured` exports them as smaller dense models and checks
# that the exported, factorised model computes the same outputs as the
# generalized one. That part holds by construction wherever that check passes.
# That structured tickets are as accurate as unstructured ones at equal size is
# not part of the claim; the comparisons recorded here say whether it happens.
#
# **Recorded comparisons.**

# %% mystnb={"markdown_format": "myst"} tags=["remove-input"]
MarkdownText(claim_evidence(verdicts, "4"))

# %% [markdown]
# ## 5. Random subspaces are a corner of the framework
#
# **Claim.** Training in a random subspace {cite:p}`li2018intrinsic` is the
# random-basis, random-mask corner of the framework; the book compares it with
# tickets.
#
# **A construction.** The random subspace is trained by the same
# parametrization, with a random orthogonal basis, a random mask and a frozen
# offset ({doc}`03_subspace`). The comparisons with IMP tickets of the same
# number of trained coefficients say how the two corners differ.
#
# **Recorded comparisons.**

# %% mystnb={"markdown_format": "myst"} tags=["remove-input"]
MarkdownText(claim_evidence(verdicts, "5"))

# %% [markdown]
# **Where the evidence is weak.** One data set and one network; the intrinsic
# dimension is read off a grid of dimensions.
#
# ## What would make the evidence stronger
#
# The `quick` profile runs every chapter at a fraction of the paper's scale so
# that the book builds on a 2-core CPU: networks trained to the accuracy they
# are known to reach, but few pruning rounds, small convolutional networks, and
# Fashion-MNIST {cite:p}`xiao2017fashion` instead of MNIST and CIFAR-10
# {cite:p}`frankle2019lottery`. An inconclusive verdict there says that the
# intervals are too wide to decide, not that there is no effect. The `paper`
# profile runs the literature's settings (more seeds and epochs, 20% pruning
# rounds, Conv-2/4/6 with late rewinding); each chapter prints both profiles'
# settings and their estimated cost. The whole book at paper scale is
#
# ```bash
# make book PROFILE=paper
# ```
#
# and this page then shows the verdicts of the `paper` profile.
