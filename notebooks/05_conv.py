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
# one candidate mechanism, *energy compaction* (how much of a layer's squared
# norm its largest coefficients hold), and shows which layer holds the
# coefficients that pruning removes. Two controls make the answer about the
# DCT and not about rotation as such, or about one layer: a *random*
# orthogonal basis pruned beside the DCT, paired on the seed, and ablations
# that put the DCT in some layers only.
#
# **Two profiles.** With `profile = "quick"` (the default, what the book runs
# on a CPU) the network is a small CNN (`glth_core.engine.models.SmallCNN`: two
# $3 \times 3$ convolutions with 16 and 32 channels, each followed by a
# $2 \times 2$ max-pool, then fully connected layers of 128 and 10 units),
# which reaches about 90.6% on Fashion-MNIST after 3 epochs. With
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
rounds = None            # maximum pruning rounds after the dense round 0 (runs stop once they leave the band)
first_rounds = None      # rounds every run gets before only the runs still inside the band are extended
rewind_iteration = None  # rewind to this iteration of round 0 (0: initialisation; paper: 500, late rewinding)
seeds = None             # seeds 0..seeds-1 per configuration (a seed fixes the initial weights and the data order)
bases = None             # bases of the ticket runs ("canonical", "dct", "hadamard", "random")
channel_dct = None       # DCT also over the kernels' input-channel axis (paper: both variants are run)
ablations = None         # one-shot layer-basis configurations: "canonical", "dct", "conv", "fc1", "fc1:in", "fc1:out"
ablation_seeds = None    # seeds of each ablation (0: no ablations)
ablation_round = None    # the ablations prune one-shot to the density of this iterative round
device = "auto"          # "auto" (CUDA if available), "cpu" or "cuda"
scheduler = "auto"       # "auto" (serial on a small machine), "local", "serial" or tcp://HOST:PORT
results_dir = None       # None: $GLTH_RESULTS_DIR (the engine's results cache)

# %% tags=["hide-input"]
from glth_core.book import chapter_figures_conv as figures, conv_ablations as ablate, conv_analysis as conv
from glth_core.book import conv_inspection as inspection
from glth_core.book.chapter import Chapter, family
from glth_core.book.profiles import settings_table

ch = Chapter("05_conv", globals())
params = {**ch.params, "results_dir": ch.results_dir}
runs = conv.chapter_runs(params)
variants, reference = conv.variant_order(params)

# %% [markdown]
# Both profiles side by side (the quick profile is the default; a parameter
# passed with `papermill -p NAME VALUE` overrides either):

# %%
print(settings_table(conv.CHAPTER).to_string())

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
# **Where the weights are.** A convolution reuses its few weights at every
# pixel; a fully connected layer that reads a flattened feature map has one
# weight per pixel, channel and unit. The table below counts the prunable
# weights of {glue:text}`c5_first_model_label` per layer.

# %%
from glth_core.engine.lottery import load_splits

splits = load_splits(next(iter(runs)).dataset)
shares = inspection.prunable_shares(params["models"][0], splits.input_shape, splits.num_classes)
print(shares.round(2).to_string(index=False))
ch.glue("c5_largest_layer", shares["layer"].iloc[0])
ch.glue("c5_largest_share", float(shares["share (%)"].iloc[0]))
ch.glue("c5_conv_share", float(shares.loc[shares["kind"] == "conv kernels", "share (%)"].sum()))

# %% [markdown]
# {glue:text}`c5_largest_share:.1f`% of the prunable weights are in one layer,
# {glue:text}`c5_largest_layer`, and the conv kernels hold
# {glue:text}`c5_conv_share:.1f`%. Per-layer pruning removes the same fraction
# of every layer, so that one layer supplies almost every coefficient a round
# removes. In the small CNN it is `fc1`, the fully connected layer that reads
# the flattened $32 \times 7 \times 7$ feature map: claim 3 on this network
# is foremost a question about a large fully connected layer whose input is
# partly spatial, and only for a small part a question about smooth
# $3 \times 3$ filters. Which layer's basis makes the difference is the
# question of the ablations below (the DCT in the conv layers only, or in
# `fc1` only).
#
# ```{admonition} Other models and data sets
# :class: dropdown
#
# The table is computed for the first model of the parameter `models` on the
# chosen data set; `glth_core.book.conv_inspection.prunable_shares(model,
# input_shape, classes)` gives it for any other. The deeper the network, the
# smaller its last feature map and the larger the share of its convolutions:
# Conv-2 keeps almost all of its weights in the first fully connected layer,
# Conv-6 most of them in its kernels. On CIFAR-10 ($3 \times 32 \times 32$)
# every feature map, and so the first fully connected layer, is larger.
# ```
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
#   $(C, H, W)$ so that the DCT runs over image rows and columns. A
#   convolution needs no such view: the input axes $(c_\text{in}, 3, 3)$ of its
#   kernel *are* the axes $(C, H, W)$ of the image patch it reads, so the
#   spatial DCT is already the image view, and the channel variant adds the
#   DCT over $C$. The output-channel axis stays canonical.
# - **The fully connected layers** get a 2-D DCT over (output, input) in every
#   DCT variant; the input axis of the first one is the flattened feature map,
#   whose order is only partly spatial (channel by channel, row by row).
# - **random**, the control: a seeded random orthogonal matrix on every axis
#   (`basis_seed` 0, the same for every seed). It rotates as much as the DCT
#   does, with no smooth structure: if the DCT beats the canonical basis but
#   not the random one, rotation as such, not the DCT's structure, is what
#   helps.
#
# The cell below builds the first model exactly as the engine does, lists the
# axes each variant transforms, and checks the kernels' coefficients against
# SciPy (`glth_core.book.conv_inspection.basis_check_table` fails if they differ).

# %%
print(inspection.basis_check_table(runs, params, splits)
      .to_string(index=False, float_format=lambda v: f"{v:.1e}", na_rep="-"))

# %% [markdown]
# The kernels' coefficients agree with SciPy's DCT over the listed axes to
# float32 round-off.
#
# **Rewinding.** {cite:t}`frankle2019lottery` rewind a ticket to its
# initialisation ($k = 0$), and so does the quick profile, which suits the
# shallow small CNN.
#
# ```{admonition} Late rewinding (paper profile)
# :class: dropdown
#
# For deeper convolutional networks and larger learning rates,
# {cite:t}`frankle2020linear` found that tickets appear only when the unpruned
# weights are rewound to an early iteration $k > 0$ of the dense training,
# once training has become stable to the noise of SGD. The paper profile
# therefore rewinds to iteration `rewind_iteration = 500` and trains with
# weight decay $10^{-4}$.
# ```
#
# **Optimiser.** Both profiles train with SGD with momentum and L2 weight
# decay, which are rotation-equivariant ({eq}`eq-projected`): the dense network
# follows the same trajectory in every basis (up to float round-off), so any
# difference between the bases' tickets comes from their masks. The engine
# therefore trains each seed's dense network once, in the canonical basis, and
# maps it into every basis and ablation ({doc}`../book/method`); every variant
# of a seed prunes *the same* trained network, and {doc}`02_bases` measures
# the round-off that training in each basis separately would add.
#
# ## The experiment
#
# For each model, basis variant and seed, one IMP ticket run, each pruning
# the same fraction of every layer's remaining coefficients per round. A run
# is pruned until its accuracy leaves the one-point band below the dense
# canonical network of its seed (the band of claim 3 below), and no further:
# every run gets {glue:text}`c5_first_rounds` rounds, then only the runs still
# inside the band get one more round at a time, up to at most
# {glue:text}`c5_rounds` rounds
# (`glth_core.book.adaptive_rounds.sweep_until_out_of_band`). Which runs are
# extended depends only on their accuracies, so a rebuild gives the same
# table. Each run is a cached, resumable task (see {doc}`../book/method`);
# the parameter `device` chooses CPU or GPU.

# %% tags=["remove-stderr"]
table, reached = conv.swept_tickets(ch, runs, params)
last_round = int(reached["fewest rounds"].min())  # the sparsest round every run reached
print(reached.to_string(index=False))
ch.glue("c5_rounds_sentence", conv.rounds_sentence(reached, params["rounds"]))
ch.glue("c5_censored_runs", int(reached["censored at max"].sum()))

# %% [markdown]
# Rounds until each run left the band: {glue:text}`c5_rounds_sentence`.
# {glue:text}`c5_censored_runs` runs stayed inside the band at the maximum;
# any comparison with such a run on one side is reported as **censored**
# below, never as holding.
#
# What this build's runs cost (measured, read from the results cache), and what
# each profile costs at full size, estimated from measured seconds per epoch
# (`glth_core.book.profiles.estimated_cost_hours`; "not measured" where no
# measurement exists yet, as for the paper's conv nets and for any GPU):

# %%
ablated = ch.sweep("ablations")
ch.glue("c5_trained_rounds", conv.trained_rounds(table, ablated))
ch.glue("c5_measured_minutes", conv.training_minutes(table, ablated))
print(ch.cost_table().to_string(index=False))

# %% [markdown]
# This build trained {glue:text}`c5_trained_rounds` rounds in all, the
# ablations below included (one dense network per seed, shared by every
# basis and configuration, plus every pruned round), for
# {glue:text}`c5_measured_minutes:.1f` minutes. The estimate above counts the
# maximum number of rounds and a dense network per run, so it is an upper
# bound.
# The paper profile trains Conv-2, Conv-4 and Conv-6 for many rounds on
# several seeds: it is meant for a GPU (`-p device cuda`) or a cluster
# (`-p scheduler tcp://HOST:PORT`).
#
# ## The dense networks
#
# Round 0 of every run is the dense network. Over the seeds (mean, standard
# deviation, $n$ and the 95% $t$ interval), per model and basis variant:

# %%
dense, dense_gap = conv.dense_summary(table, params)
print(dense.set_index(["model", "variant"])[["n", "mean", "sd", "ci_low", "ci_high"]]
      .mul([1, 100, 100, 100, 100]).round(2).to_string())
dense_ref = dense[dense["variant"] == reference].set_index("model")
numbers = conv.dense_numbers(dense, dense_gap, params)
for key in ("mean", "sd", "ci_low", "ci_high", "n", "target_word", "gap"):
    ch.glue(f"c5_dense_{key}", numbers[key])
ch.glue("c5_first_model_label", conv.MODEL_LABELS[params["models"][0]])

# %% [markdown]
# The dense {glue:text}`c5_first_model_label` reaches
# {glue:text}`c5_dense_mean:.2f`% test accuracy in the canonical basis (sd
# {glue:text}`c5_dense_sd:.2f`, n = {glue:text}`c5_dense_n`, 95% CI
# [{glue:text}`c5_dense_ci_low:.2f`, {glue:text}`c5_dense_ci_high:.2f`]),
# {glue:text}`c5_dense_target_word` the 90% the quick profile is sized for on
# Fashion-MNIST. For the same seed, the dense networks of the basis variants
# differ by at most {glue:text}`c5_dense_gap:.2f` percentage points: they are
# one network, trained once and mapped into each basis, which changes its
# weights by float32 round-off only.
#
# ```{admonition} With Adam, or another data set
# :class: dropdown
#
# Adam (`-p optimizer adam`) is not rotation-equivariant: the basis then
# changes training before any pruning, the dense networks of the variants
# differ by more than round-off, and the comparisons below mix the masks'
# effect with the optimiser's. The 90% target is for Fashion-MNIST; on
# another data set compare with that data set's known accuracy instead.
# ```
#
# ## Tickets in every basis
#
# Accuracy against the fraction of nonzero coefficients remaining, one panel
# per model:

# %%
ch.glue("c5_fig_accuracy", figures.accuracy_figure(
    table, params["models"], variants, dense_ref["mean"], tolerance=conv.TOLERANCE, dataset=params["dataset"],
    titles=conv.MODEL_LABELS))

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
# fixed by the schedule, the first and the sparsest that every seed of the
# variant reached, with the paired difference
# *ticket − dense* over seeds (the same seed's round $r$ against its round 0).
# "Train to the accuracy" is read with the chapter's one-point tolerance: the
# claim **holds** when the whole 95% interval of the difference lies above
# $-1$ point, is **contradicted** when it lies below, and is
# **inconclusive** otherwise.

# %%
claim2 = conv.claim2_table(table, params)
print(conv.shown_effects(claim2).to_string(index=False))
ch.glue("c5_claim2_sentence", conv.joined_sentences(
    claim2, "{label}, {variant}, at {weights remaining (%):.1f}% of the weights: "))

# %% [markdown]
# Ticket minus dense network (percentage points; the verdict is against
# $-1$ point): {glue:text}`c5_claim2_sentence`.
#
# ### Claim 3: the DCT against the canonical basis, and against a random basis
#
# Every variant is pruned on the same schedule from the same initial weights,
# so the tickets can be compared round by round, paired on the seed. Claim 3
# says the DCT ticket is more accurate at equal sparsity: it **holds** at a
# round when the 95% interval of *DCT − canonical* lies above 0. The control
# asks the second question, *DCT − random*: is it the DCT's structure that
# helps, or any rotation? (The table also shows *random − canonical*.) A
# round enters a comparison only where both arms have every seed, since runs
# stop at different rounds.

# %%
rounds3 = conv.claim3_rounds(table, params)
print(conv.shown_effects(rounds3).to_string(index=False) if len(rounds3) else "one basis only: no comparison")
ch.glue("c5_claim3_rounds", conv.round_counts_sentence(rounds3))

# %% [markdown]
# Per pruned round (percentage points, treatment minus reference):
# {glue:text}`c5_claim3_rounds`.
#
# **Compression at equal accuracy.** The paper's form of claim 3 is
# compression: how far can each basis prune before its accuracy falls more than
# one point below the dense canonical network? Per seed,
# `glth_core.analysis.stats.compression` interpolates accuracy against
# $\log(\text{density})$ between the last round inside the band and the first
# round below it; a run that never leaves the band, even at the maximum number
# of rounds, is *censored*, and its compression (that of its sparsest round)
# is only a lower bound, printed "≥". The ratios DCT / canonical, DCT / random
# and random / canonical are paired on the seed, and their 95% intervals are
# Student-$t$ intervals on the per-seed log ratios
# (`glth_core.analysis.stats.compression_ratio`), whose coverage is right even for
# three to ten seeds. A ratio **holds** when its interval lies above 1 *and*
# every run of both sides left the band; a comparison with a censored side
# is reported as **censored**, whatever its interval, since the true ratio of
# a censored run is unknown.

# %%
compression, ratios = conv.compression_tables(table, params)
print(conv.shown_compression(compression).to_string(index=False))
ch.glue("c5_compression_sentence", conv.joined_sentences(ratios, "{label}, {variant} / {reference}: "))
ch.glue("c5_verdict_claim3", conv.verdict_list(ratios))

# %% [markdown]
# Compression ratio at equal accuracy: {glue:text}`c5_compression_sentence`.
#
# ```{admonition} How to read each verdict of claim 3
# :class: dropdown
#
# - **holds**: the first basis of the ratio prunes further before leaving the
#   band, on every seed's evidence together. DCT / canonical holding while
#   DCT / random does not says that rotation helps, not the DCT's structure.
# - **contradicted**: the second basis prunes further.
# - **inconclusive**: the interval contains 1; more seeds or a finer pruning
#   schedule could decide it.
# - **censored**: some run never left the band, so its compression is only a
#   lower bound; a larger maximum (`-p rounds`) would turn it into a number.
# ```
#
# ### Which layer decides: ablations
#
# {glue:text}`c5_largest_share:.0f`% of the weights are in
# {glue:text}`c5_largest_layer`, so the verdict above may say more about one
# fully connected layer than about convolutions. The ablations put the DCT in
# some layers only (`PruningHparams.layer_bases`, e.g. `conv*=dct` or
# `fc1=dct:in`; the other layers stay canonical), on
# {glue:text}`c5_first_model_label`. To cost one trained round per
# configuration and seed, each is pruned *one-shot* from the trained dense
# network (shared by all of them) to the density that iterative pruning
# reaches at round {glue:text}`c5_ablation_round`, and rewound and retrained
# once. Each configuration is compared with one-shot canonical and with
# one-shot DCT everywhere, paired on the seed (95% $t$ interval). The book
# reports a comparison as holding or contradicted only with at least
# {glue:text}`c5_min_seeds` seeds (`glth_core.book.conv_ablations.seed_gated`);
# with fewer, the verdict reads "inconclusive (n < 5)" whatever the interval.

# %%
effects = ablate.ablation_table(ablated, ablate.ablation_runs(params))
print(ablate.shown(effects).to_string(index=False))
ch.glue("c5_deciding_layer", ablate.deciding_layer_sentence(effects))

# %% [markdown]
# From these numbers (percentage points): {glue:text}`c5_deciding_layer`.
#
# ```{admonition} More configurations and seeds (paper profile)
# :class: dropdown
#
# The quick profile runs DCT everywhere, in the conv layers only and in
# `fc1` only, on three seeds, too few for a verdict: the table locates the
# effect, it does not test it. The paper profile runs five seeds and adds
# `fc1` with the DCT on its input axis only (`fc1:in`, the flattened feature
# map) and on its output axis only (`fc1:out`, the hidden units); add them to
# the quick profile with `-p ablations '["canonical", "dct", "conv", "fc1",
# "fc1:in", "fc1:out"]' -p ablation_seeds 5` (one trained round of about twenty
# seconds on a 2-core CPU per configuration and seed).
# ```
#
# ### Energy compaction: a candidate mechanism
#
# Magnitude pruning to a density $k$ keeps the largest $k$ percent of a
# layer's coefficients, and removes $1 - E(k)$ of its squared norm, where
# $E(k)$ is the fraction of the energy those coefficients hold
# (`glth_core.analysis.compaction.energy_curve`). An orthonormal basis cannot change
# the norm, only how it is spread. A natural guess is that a basis prunes
# better where it compacts trained weights better, i.e. where its curve
# $E(k)$ lies above the canonical one. The guess is a hypothesis, not a law:
# with rewinding, the ticket keeps the *positions* of the large trained
# coefficients and restarts them from their initial values, so what a mask
# is worth depends on how the masked network trains. The mechanism table of
# {doc}`06_summary` tests it against the measured tickets of every network,
# basis and ablation.
#
# One effect has nothing to do with structure, and must be subtracted first.
# PyTorch initialises weights *uniformly* at random. In the canonical basis,
# uniform noise has light tails: its largest fraction $q$ of the entries holds
# $1 - (1 - q)^3$ of the energy. A rotation mixes many entries into each
# coefficient, and the coefficients of noise in a rotated basis are close to
# Gaussian, whose heavier tails hold $q + 2t\varphi(t)$ with
# $q = 2(1 - \Phi(t))$ (`glth_core.book.conv_inspection.noise_energy`). So at
# initialisation every rotated basis, the DCT included, "compacts" better than
# the canonical basis, and this head start says nothing about smoothness.
#
# The next cell measures $E(k)$ of seed 0's weights in the canonical basis and
# both DCT variants, at initialisation and after dense training (round 0), for
# the conv kernels and the fully connected layers (averaged over the layers of
# each kind, since pruning is per layer), at the density $k^\ast$ of the
# sparsest round. For the sparsest ticket it measures each variant's own ticket
# in its own basis, where every coefficient beyond the ticket is exactly zero;
# there it reads $E$ at the density the *next* round would prune to.

# %%
k_star, k_next = inspection.sparsest_densities(params, last_round)
curves, at_k = inspection.energy_table(runs, params, splits, last_round)
print(f"energy held by the largest {k_star:.2f}% of the coefficients (tickets: {k_next:.2f}%), %, seed 0:")
print((100 * at_k).round(1).to_string(na_rep="-"))
shown, compared = params["models"][-1], ([v for v in variants if v != reference] or [reference])[0]
energy = {**inspection.energy_numbers(at_k, shown, reference, compared, k_star), "k_star": k_star, "k_next": k_next,
          "model": conv.MODEL_LABELS[shown], "compared": compared}
for key in ("init_ref", "init_cmp", "dense_conv_ref", "dense_conv_cmp", "dense_fc_ref", "dense_fc_cmp",
            "ticket_ref", "ticket_cmp", "change", "conv_word", "fc_word", "uniform", "gauss", "k_star", "k_next",
            "model", "compared"):
    ch.glue(f"c5_e_{key}", energy[key])
ch.glue("c5_fig_energy", figures.energy_figure(curves, shown, k_star, k_next, states=inspection.STATES,
                                            kinds=inspection.KINDS))

# %% [markdown]
# ```{glue:figure} c5_fig_energy
# :name: fig-c5-energy
#
# Energy compaction of seed 0's weights of {glue:text}`c5_e_model`: the
# fraction of the squared norm held by the largest $k$% of the coefficients,
# averaged over the conv layers (top) and the fully connected layers (bottom),
# at initialisation, after dense training, and for each variant's sparsest
# ticket in its own basis. Dotted lines: the density of the sparsest round
# (tickets: of one more round).
# ```
#
# What the curves say for {glue:text}`c5_e_model`, at the density of the
# sparsest round ({glue:text}`c5_e_k_star:.2f`% of the coefficients, where
# uniform noise in the canonical basis holds
# {glue:text}`c5_e_uniform:.1f`% of the energy and Gaussian noise
# {glue:text}`c5_e_gauss:.1f`%), {glue:text}`c5_e_compared` against the
# canonical basis:
#
# - **At initialisation** (conv kernels): {glue:text}`c5_e_init_cmp:.1f`%
#   against {glue:text}`c5_e_init_ref:.1f`%. This is the head start of a
#   rotation over uniform noise; a spatial DCT mixes only the 9 entries of a
#   $3 \times 3$ filter into each coefficient, so its coefficients are less
#   Gaussian than those of long axes.
# - **After dense training, conv kernels:** {glue:text}`c5_e_dense_conv_cmp:.1f`%
#   against {glue:text}`c5_e_dense_conv_ref:.1f`%
#   ({glue:text}`c5_e_conv_word` compact); training changed the gap by
#   {glue:text}`c5_e_change:+.1f` points. Only that change is an effect of
#   the learned filters; the head start is not.
# - **After dense training, fully connected layers**, which hold most of the
#   small CNN's weights: {glue:text}`c5_e_dense_fc_cmp:.1f`% against
#   {glue:text}`c5_e_dense_fc_ref:.1f`% ({glue:text}`c5_e_fc_word` compact).
# - **Sparsest tickets** (conv kernels, each in its own basis; share kept by
#   one more round, to {glue:text}`c5_e_k_next:.2f`%):
#   {glue:text}`c5_e_ticket_cmp:.1f`% against {glue:text}`c5_e_ticket_ref:.1f`%.
#
# Read these next to the verdicts of claim 3 above and to the layer shares:
# the layer that supplies most of the pruned coefficients is a fully
# connected one, so its compaction, more than that of the kernels, is the one
# to compare with the verdict. Whether a basis is more or less compact does not by itself tell
# which ticket is more accurate: on LeNet-300-100 the DCT is the more compact
# basis of `fc1` and prunes worse ({doc}`02_bases`). The book treats energy
# compaction as one candidate explanation among several; the mechanism table
# of {doc}`06_summary` measures how well each candidate predicts the
# tickets' accuracy differences across every network, basis and ablation.
#
# ```{admonition} Other models, and the channel variant
# :class: dropdown
#
# The table printed above holds every model and every measured basis,
# including dct (spatial + channels), which the quick profile measures
# without training its tickets; the prose quotes the last model of
# `models` and the first rotated variant of `bases`.
# ```
#
# ## Multiply-adds
#
# What a ticket saves at inference depends on where its zeros are. A canonical
# ticket has zero *weights*; a DCT ticket has zero *coefficients*, and its
# synthesised kernels are in general dense, so an ordinary convolution gains
# nothing unless it runs in the DCT domain. `glth_core.core.export.multiply_adds`
# counts the multiply-adds of one forward pass of one image, all weights
# (dense) or only the nonzero weights as the forward pass uses them (seed 0's
# sparsest ticket):

# %%
macs, mac_ratio = inspection.multiply_adds_table(runs, params, splits, last_round)
ch.glue("c5_mac_ratio", mac_ratio)
print(f"multiply-adds per image, dense and at round {last_round}:\n{macs.map(lambda v: f'{v:,}')}")

# %% [markdown]
# A forward pass of {glue:text}`c5_first_model_label` costs
# {glue:text}`c5_mac_ratio:.0f` times the multiply-adds of LeNet-300-100 per
# image: the convolutions run at every pixel. This is why the quick profile
# uses a small CNN on a CPU, and why the paper's networks need a GPU.
#
# ## How much to trust this
#
# The verdicts above are computed, with their intervals, from
# {glue:text}`c5_seeds` seeds per configuration. Claim 3, as compression
# at equal accuracy: {glue:text}`c5_verdict_claim3`. Whatever that verdict
# is, it is conditional on settings that differ from the paper's:
#
# - **Data set.** Fashion-MNIST instead of CIFAR-10: smaller, grey-scale
#   images of a different kind; with one input channel the channel DCT cannot
#   act on the first layer. What holds here need not hold on CIFAR-10.
# - **Which layer is pruned.** {glue:text}`c5_largest_share:.0f`% of the
#   prunable weights are in {glue:text}`c5_largest_layer`; the conv kernels
#   hold {glue:text}`c5_conv_share:.1f`%. The ablations point to the layer
#   whose basis decides the verdict (see above).
# - **Network width.** The small CNN has 16 and 32 channels where Conv-2 has
#   64: narrow layers leave less redundancy for any basis to compact.
# - **Sparsity range.** Runs are pruned until they leave the band, for at
#   most {glue:text}`c5_rounds` rounds; the sparsest reaches
#   {glue:text}`c5_sparsest_pct:.2f`% of the weights. A run still inside the
#   band at the maximum is censored, and its comparisons get the verdict
#   "censored", not "holds".
# - **Optimiser.** With SGD, as in both profiles, the dense networks are the
#   same in every basis, so only the masks can differ; under Adam, as in
#   {cite:t}`frankle2019lottery`, the basis also changes the optimiser's
#   preconditioning ({doc}`02_bases`), which can help or hurt a basis.
# - **Rewinding.** This profile rewinds to the initialisation ($k = 0$);
#   {cite:t}`frankle2020linear` find tickets in deeper conv nets only with
#   late rewinding, which the paper profile uses.
#
# ```{admonition} With the paper profile, or on CIFAR-10
# :class: dropdown
#
# The paper profile removes two of these differences: Conv-2, Conv-4 and
# Conv-6 at the paper's width, and late rewinding to iteration 500. Its
# verdicts then hold one row per network and DCT variant, and the layer
# shares above change with the network (Conv-6 keeps most of its weights in
# its kernels, so there the verdict is about convolutions). With
# `-p dataset cifar10` the data set is the paper's, and colour images give
# the channel DCT a first layer with three input channels to act on.
# ```
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
TESTS = [  # claim 2 at the sparsest round; claim 3 per round and as compression ratios: one test per comparison
    *family(claim2[claim2["sparsest"]], given=True, key="c5_claim2", claim="2",
            arm="round", treatment="{round}", reference=0, null=-conv.TOLERANCE,
            comparison="ticket − dense at {weights remaining (%):.1f}% of weights, claimed > -{tol:g} pp, "
                       "i.e. within {tol:g} pp ({model}, {variant})"),
    *family(rounds3, given=True, key="c5_round", claim="3", arm="variant", treatment="{variant}",
            reference="{reference}", comparison="{variant} − {reference} at {weights remaining (%):.3g}% ({model})"),
    *family(ratios, given=True, key="c5_ratio", claim="3", kind="compression", arm="variant",
            treatment="{variant}", reference="{reference}",
            comparison="compression {variant} / {reference} at equal accuracy ({model})")]
recorded = ch.verdicts(table, TESTS, tol=100 * conv.TOLERANCE)
ch.glue("c5_verdict_claim2", conv.verdict_list(claim2[claim2["sparsest"]]))
for key, value in {"seeds": params["seeds"], "rounds": params["rounds"], "first_rounds": params["first_rounds"],
                   "ablation_round": params["ablation_round"], "min_seeds": ablate.MIN_SEEDS,
                   "sparsest_pct": 100 * table.groupby("model")["density"].min()[params["models"][0]]}.items():
    ch.glue(f"c5_{key}", value)
print(recorded[["claim", "comparison", "verdict"]].to_string(index=False))

# %% [markdown]
# **In short**, for the summary chapter: claim 2 at the sparsest round,
# {glue:text}`c5_verdict_claim2`; claim 3, compression at equal accuracy of
# the DCT against the canonical and the random basis, and of the random
# against the canonical basis, {glue:text}`c5_verdict_claim3`.
