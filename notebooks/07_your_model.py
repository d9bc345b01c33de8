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
# # Your own model
#
# The experiment chapters prune networks that the library builds for them.
# This chapter is a tutorial: it takes three models written with ordinary
# `torch.nn` modules and walks each through the whole life of a generalized
# lottery ticket, with your own training loop:
#
# 1. `glth.generalize(model, "dct")`: every weight becomes coefficients in a
#    basis;
# 2. train a little (any optimiser; `model.parameters()` are the coefficients);
# 3. `glth.prune(model, ...)`: mask the smallest coefficients;
# 4. `glth.rewind(model, start)`: back to the starting coefficients, masks kept,
#    and train the ticket;
# 5. `glth.export(model)`: a plain `torch.nn` model for deployment;
# 6. `glth.save_ticket(model, path)` and `glth.load_ticket(fresh, path)`: the
#    ticket as a small file, loaded into a freshly built model.
#
# The models: a small Transformer classifier built on `nn.TransformerEncoder`
# that reads each image row as a token, an LSTM classifier that reads the
# rows as a sequence, and torchvision's ResNet-18. `generalize` finds their
# weights by itself: Linear and convolution weights, the embedding table, the
# attention's `in_proj_weight` (split into query, key and value, each with its
# own basis and mask) and the LSTM's input and recurrent weights (split per
# gate). Biases and normalisation layers are left as they are. The data set is
# Fashion-MNIST {cite:p}`xiao2017fashion`; nothing here is tuned, the training
# is a few hundred steps, and the accuracies only show that each model learns
# and that its ticket still works.
#
# The second half measures what a ticket costs at inference: its size on disk
# and the speed of the exported model, for four kinds of ticket.

# %% tags=["parameters"]
smoke = False          # True: a few seconds on scikit-learn's 8x8 digits (make test)
models = None          # models to walk through (None: ["transformer", "lstm", "resnet18"]; smoke: the first two)
steps = None           # Adam steps per training phase of the Transformer and the LSTM (None: 150; smoke: 8)
resnet_steps = None    # the same for ResNet-18 (None: 40; smoke: 3)
batch_size = 128       # training batch size
lr = 1e-3              # Adam learning rate
density = 0.2          # the element ticket keeps this fraction of each tensor's coefficients
unit_density = 0.5     # the unit-pruned ticket keeps this fraction of the units of its layers
rank_density = 0.125   # the low-rank ticket keeps this fraction of the rows (the rank) of its layers
batch_sizes = None     # batch sizes of the speed measurement (None: [1, 16, 128]; smoke: [1, 8])
repeats = None         # timed forward passes per model and batch size (None: 15; smoke: 2)
results_dir = None     # None: $GLTH_RESULTS_DIR (ticket files go to its tickets/ folder)

# %% tags=["hide-input"]
from glth_core.book.chapter import check_parameters; check_parameters(globals())  # a -p NAME not declared above fails here
from glth_core.book.example_models import tutorial_parameters

p = tutorial_parameters(globals())

# %% [markdown]
# ## The data and the models
#
# Fashion-MNIST images are $1 \times 28 \times 28$; the smoke test uses
# $8 \times 8$ digits instead. Both sequence models read the $H$ rows of an
# image as $H$ tokens of $W$ features.

# %%
import pandas as pd
import torch
from myst_nb import glue
from torch.nn import functional as F

import glth_core as glth
from glth_core.data import load
from glth_core.book.example_models import LOW_RANK_LAYERS, UNIT_LAYERS, UNIT_PAIRS, accuracy, build
from glth_core.book.tutorial_cache import TrainedModels
from glth_core.storage.store import default_results_dir

data = load("digits" if smoke else "fashion_mnist")
x_train, y_train = data.train
x_test, y_test = data.test[0][:2000], data.test[1][:2000]
_, height, width = data.input_shape
print(f"{data.name}: {len(x_train)} training images of {tuple(data.input_shape)}, {len(x_test)} test images")

# %% [markdown]
# The three models are ordinary `nn.Module` classes, written as you would
# write your own; read them in `glth_core/example_models.py`:
#
# - `RowTransformer`: a linear embedding of each row plus a learned position
#   embedding, a two-layer `nn.TransformerEncoder` (width 64, 4 heads,
#   feed-forward 256) and a two-layer head on the flattened tokens;
# - `RowLSTM`: an `nn.LSTM` with 128 hidden units over the rows, then a
#   two-layer head on its last output;
# - `resnet18`: torchvision's ResNet-18 with a first convolution for grey
#   images.
#
# `build(name, height, width, seed)` seeds torch and builds one; nothing in
# them mentions bases, masks or this library.

# %% [markdown]
# ## The walk-through
#
# The training loop is the plain loop one would write for any model: it
# never mentions the basis. After `generalize`, `model.parameters()` are the
# basis coefficients (and the biases and normalisation parameters), and the
# mask sits inside the forward pass, so the optimiser cannot revive a pruned
# coefficient: its gradient is exactly zero. Adam is used here for its
# robustness on Transformers; SGD works the same way.

# %%
def train(model, steps, seed=0):
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(x_train), (batch_size,), generator=generator)
        loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


# %% [markdown]
# Two functions run the six steps for a model. Each step is one library call;
# the comments say what it does. The first trains (steps 1 to 4) and returns
# the ticket and the trained dense model it came from.

# %%
def train_ticket(name):
    model = build(name, height, width)
    glth.generalize(model, "dct")                      # 1. every weight in the DCT basis (q, k, v and gates apart)
    start = glth.snapshot(model)                       #    the rewind point: initialisation
    train(model, p["resnet_steps"] if name == "resnet18" else p["steps"])  # 2. train a little
    dense = glth.export(model)                         #    (the trained dense model, kept for the comparison below)
    glth.prune(model, 1 - density, scope="layer")      # 3. keep the largest `density` of each tensor's coefficients
    glth.rewind(model, start)                          # 4. back to initialisation, masks kept ...
    train(model, p["resnet_steps"] if name == "resnet18" else p["steps"], seed=1)  # ... and train the ticket
    return model, dense


# %% [markdown]
# Training is the slow part of this chapter, so the book keeps what it
# trains: `TrainedModels` (`glth_core.book.tutorial_cache`) stores each
# model's ticket (a ticket file, step 6 below) and its trained dense weights
# in the results folder, under a hash of everything that determines them:
# the parameters above, the code of `train`, `train_ticket` and the model
# builders, the library's version and numeric code, and torch's version. A
# second build with the same parameters reads them back instead of training,
# and every number below comes out the same; change a parameter or that code,
# and the model is trained again. In your own project you would simply save
# the ticket file. The second function takes the ticket from there through
# steps 5 and 6.

# %%
tickets_dir = default_results_dir(results_dir) / "tickets" / ("smoke" if smoke else "book")
tickets_dir.mkdir(parents=True, exist_ok=True)
probe = x_test[:16]
settings = {k: p[k] for k in ("steps", "resnet_steps", "batch_size", "lr", "density")}
trained = TrainedModels(results_dir, {**settings, "dataset": data.name}, code=[train, train_ticket, build])


def walk_through(name):
    model, dense = trained.fetch(name, lambda: train_ticket(name), lambda: build(name, height, width))
    dense_accuracy = accuracy(dense, x_test, y_test)
    plain = glth.export(model).eval()                  # 5. a plain torch model
    model.eval()
    with torch.no_grad():
        exported_error = float((plain(probe) - model(probe)).abs().max() / model(probe).abs().max())
    path = glth.save_ticket(model, tickets_dir / f"{name}.glth")  # 6. the ticket file ...
    fresh = glth.load_ticket(build(name, height, width, seed=123).eval(), path)  # ... into a fresh model
    with torch.no_grad():
        identical = torch.equal(fresh(probe), model(probe))
    return {"model": model, "dense": dense, "plain": plain, "path": path,
            "row": {"model": name, "dense accuracy (%)": round(dense_accuracy, 1),
                    "ticket accuracy (%)": round(accuracy(model, x_test, y_test), 1),
                    "density": round(glth.density(model), 3),
                    "export rel. error < 1e-5": exported_error < 1e-5, "loaded ticket identical": identical}}


walks = {name: walk_through(name) for name in p["models"]}
print(pd.DataFrame([w["row"] for w in walks.values()]).to_string(index=False))

# %% [markdown]
# Each model learns, its element ticket (a fifth of the coefficients of every
# tensor, rewound to initialisation and trained again) learns too, the
# exported plain model computes what the generalized one computes, and the
# ticket file loaded into a freshly built model (other random weights) gives
# bit-identical outputs.
#
# What `generalize` took from the Transformer, by the names `prune`,
# `densities` and the ticket file use:

# %%
if "transformer" in walks:
    transformer = walks["transformer"]["model"]
    shown = {k: v for k, v in glth.densities(transformer).items()
             if k.startswith(("embed", "position", "encoder.layers.0", "head"))}  # layer 1 is like layer 0
    for key, value in shown.items():
        basis = glth.generalized_parameters(transformer)[key].parametrization.basis
        split = f", blocks {basis.view.labels}" if hasattr(basis, "view") else ""
        print(f"{key:42s} density {value:.2f}  shape {basis.shape}{split}")

# %% [markdown]
# A ticket file refuses a model it does not fit, and a file that was cut short
# or changed, with a message instead of wrong weights:

# %%
from glth_core.core.tickets import TicketError

name = p["models"][0]
other = build(p["models"][1], height, width) if len(p["models"]) > 1 else torch.nn.Linear(3, 3)  # another model
raw = bytearray(walks[name]["path"].read_bytes())
raw[len(raw) // 2] ^= 1
broken = tickets_dir / "broken.glth"
for what, content in [("wrong model", None), ("flipped byte", bytes(raw)), ("truncated", bytes(raw[: len(raw) // 2]))]:
    if content is not None:
        broken.write_bytes(content)
    try:
        glth.load_ticket(other if content is None else build(name, height, width),
                         walks[name]["path"] if content is None else broken)
    except TicketError as error:
        print(f"{what}:", error)
broken.unlink()

# %% [markdown]
# ## Four tickets, and what they cost at inference
#
# Pruning makes a model *smaller* only where the pruned structure can leave
# the computation. Four variants of each trained model show where that is:
#
# * **dense**: the trained model before pruning;
# * **element ticket**: the DCT ticket above. Its coefficients are sparse, its
#   weights are not: `export` synthesises each weight from 20% of the DCT
#   coefficients, a dense matrix again;
# * **unit-pruned**: canonical basis, whole rows (output units) of Linear
#   layers pruned, half of them. `export` keeps zero rows (the next layer still
#   reads that width); `glth_core.core.export.remove_dead_units` then removes them
#   from a pair `Linear -> activation -> Linear`, and the pair is physically
#   smaller. The Transformer's feed-forward layers and heads have such pairs;
#   for ResNet-18 the pruned units are the filters of each block's first
#   convolution, which feed a BatchNorm, and stay as zero filters;
# * **low-rank**: whole rows of the large Linear layers pruned in the DCT
#   basis, 12.5% of them kept; with $r$ rows of $C$ kept, $W = A_{out}^\top[:, K]
#   \, (C[K] A_{in})$ has rank $r$, and `export` writes each such layer as two
#   thin Linear layers, $r (in + out)$ weights instead of $in \cdot out$. (The
#   SVD basis, fitted to the trained weights, would make this a truncated SVD,
#   the best rank-$r$ approximation; but a fitted basis is not regenerable from
#   a seed, so its ticket file must carry the basis matrices.) Only Linear
#   layers called as modules are factorised: `nn.MultiheadAttention` and
#   torch's fused Transformer inference path read their Linear weights
#   directly, so those stay dense.
#
# The sizes are counted three ways: the parameters the ticket needs
# (`glth.count_parameters` of the generalized model: unmasked coefficients),
# the parameters of the exported model, and bytes on disk, the exported model's
# `state_dict` (`torch.save`) against the ticket file.

# %%
from glth_core.book.inference_variants import size_table, structured_variants

results = {}
for name, walk in walks.items():
    generalized, exported = structured_variants(
        walk["dense"], walk["model"], walk["plain"], pairs=UNIT_PAIRS[name], unit_layers=UNIT_LAYERS.get(name, []),
        low_rank_layers=LOW_RANK_LAYERS[name], unit_density=unit_density, rank_density=rank_density)
    results[name] = exported, size_table(generalized, exported, tickets_dir, name, probe)
    print(f"\n{name}\n{results[name][1].to_string(index=False)}")
sizes = results[p["models"][0]][1].set_index("ticket")["ticket file / dense state dict"]
glue("c7_element_file_ratio", float(sizes["element ticket"]), display=False)
glue("c7_low_rank_file_ratio", float(sizes["low-rank"]), display=False)

# %% [markdown]
# The ticket file is where every ticket pays off on disk: it holds only the
# surviving coefficients, their positions (as a bit mask, or as indices when
# fewer than one in 32 survive) and the name and seed of the basis, which is
# rebuilt when the file is loaded. The dense ticket (nothing pruned) costs a
# little more than its state dict: the positions of all coefficients.
# For the first model of `models` (the Transformer by default), the element
# ticket's file is
# {glue:text}`c7_element_file_ratio:.3f` times the size of the dense state
# dict, and the low-rank ticket's {glue:text}`c7_low_rank_file_ratio:.3f`
# times.
#
# ### Speed of the exported models
#
# Each exported model runs a forward pass on the same inputs, model after
# model, repeated; the table gives the shortest latency of the dense model
# (the least disturbed by other work on the machine) and,
# for each ticket, its speed-up over the dense model at each batch size
# (higher is faster; at a fixed batch size it is also the throughput ratio),
# all measured in this one run on this CPU. The row "dense, again" is a copy
# of the dense model timed as if it were another model: it does exactly the
# same work, so its distance from 1.00 is the noise of the measurement
# (other programs running on the machine); read only larger differences as
# differences. Timings vary from run to run, so these numbers are not compared
# by the book's tests.

# %% tags=["nbval-ignore-output"]
from glth_core.book.inference_variants import speed_table

for name, (exported, _) in results.items():
    speed, dense_ms = speed_table(exported, lambda b: x_test[:b], p["batch_sizes"], p["repeats"])
    print(f"\n{name}: dense latency " + ", ".join(f"{ms:.2f} ms at batch {b}" for b, ms in dense_ms.items())
          + f" ({torch.get_num_threads()} torch threads)\n{speed.round(2).to_string()}")

# %% [markdown]
# ### Which tickets make a model faster, and why
#
# * **Element tickets do not.** A ticket in a rotated basis (DCT here) exports
#   to dense weights: sparsity in the basis is not sparsity of the weight
#   matrix. Even a canonical element ticket, whose exported weights are mostly
#   zeros, runs the same dense kernels; it would need a sparse kernel, which on
#   a CPU pays off only at very high sparsity. Element tickets are smaller on
#   disk (the ticket file), not faster.
# * **Unit-pruned tickets do, where the units can be removed.** Removing an
#   output unit of a Linear layer removes a row of it and a column of the next
#   layer: fewer multiply-adds with the same dense kernels. Here that is the
#   Transformer's feed-forward layers and heads and the LSTM's head. The
#   speed-up is bounded by the share of the work those layers do: the LSTM's
#   recurrent weights and the attention projections are untouched. In
#   ResNet-18 pruned filters feed BatchNorm layers and stay as zero filters, so
#   the exported network does the same work.
# * **Low-rank tickets do, for large Linear layers called as modules.** A rank
#   $r$ factorisation replaces $in \cdot out$ multiply-adds per example by
#   $r (in + out)$. It helps where such a layer carries much of the work (the
#   Transformer's $1792 \times 256$ head here) and hardly at all in a network
#   whose work is in convolutions (ResNet-18's only Linear layer is its
#   $512 \times 10$ classifier).
# * **Batch size matters.** At batch 1 a small model's latency is mostly fixed
#   per-call overhead (Python, kernel launches, the attention and recurrent
#   steps), so fewer multiply-adds show less; at larger batches the
#   arithmetic dominates and the speed-ups approach the ratio of
#   multiply-adds.
#
# To deploy a ticket, export it (`glth.export`), remove dead units where your
# architecture allows it, and keep the ticket file as the compact record of
# what was trained: `glth.load_ticket(build(), path)` restores the
# generalized model, ready to prune or train further.
