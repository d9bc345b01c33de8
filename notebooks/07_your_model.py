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
from glth_core.chapter import check_parameters; check_parameters(globals())  # a -p NAME not declared above fails here
import os

from glth_core.chapter import require_bool, require_fraction, require_int, require_names, smoke_scheduler

MODEL_NAMES = ("transformer", "lstm", "resnet18")
require_bool("smoke", smoke)
models = (list(MODEL_NAMES[:2]) if smoke else list(MODEL_NAMES)) if models is None else models
steps = (8 if smoke else 150) if steps is None else steps
resnet_steps = (3 if smoke else 40) if resnet_steps is None else resnet_steps
batch_sizes = ([1, 8] if smoke else [1, 16, 128]) if batch_sizes is None else batch_sizes
repeats = (2 if smoke else 15) if repeats is None else repeats
require_names("models", models, MODEL_NAMES)
for name, value, minimum in [("steps", steps, 1), ("resnet_steps", resnet_steps, 1), ("batch_size", batch_size, 1),
                             ("repeats", repeats, 1)]:
    require_int(name, value, minimum)
for name, value in [("lr", lr), ("density", density), ("unit_density", unit_density), ("rank_density", rank_density)]:
    require_fraction(name, value)
if not isinstance(batch_sizes, list) or not batch_sizes or any(isinstance(b, bool) or not isinstance(b, int) or b < 1
                                                               for b in batch_sizes):
    raise ValueError(f"parameter batch_sizes must be a non-empty list of integers >= 1, got {batch_sizes!r}")
if results_dir is not None and not isinstance(results_dir, (str, os.PathLike)):
    raise ValueError(f"parameter results_dir must be None or a folder path, got {results_dir!r}")
if smoke:
    smoke_scheduler("serial")  # one torch thread: the smoke models are tiny
print(f"models {models}; {steps} steps ({resnet_steps} for ResNet-18) of batch {batch_size}; element ticket "
      f"density {density}, unit density {unit_density}, rank density {rank_density}")

# %% [markdown]
# ## The data and the models
#
# Fashion-MNIST images are $1 \times 28 \times 28$; the smoke test uses
# $8 \times 8$ digits instead. Both sequence models read the $H$ rows of an
# image as $H$ tokens of $W$ features.

# %%
import copy
import io

import pandas as pd
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

import glth_core as glth
from glth_core.data import load
from glth_core.export import remove_dead_units
from glth_core.inference import latency_table
from glth_core.store import default_results_dir
from glth_core.tickets import TicketError, state_dict_bytes

data = load("digits" if smoke else "fashion_mnist")
x_train, y_train = data.train
x_test, y_test = data.test[0][:2000], data.test[1][:2000]
_, height, width = data.input_shape
print(f"{data.name}: {len(x_train)} training images of {tuple(data.input_shape)}, {len(x_test)} test images")


# %%
class RowTransformer(nn.Module):
    """Image rows as tokens: a linear embedding plus a learned position embedding, a Transformer encoder,
    and a two-layer head on the flattened tokens."""

    def __init__(self, height, width, classes=10, d=64, heads=4, feedforward=256, layers=2, hidden=256):
        super().__init__()
        self.embed = nn.Linear(width, d)
        self.position = nn.Embedding(height, d)
        layer = nn.TransformerEncoderLayer(d, heads, feedforward, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(height * d, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x):                      # x: (n, 1, H, W)
        tokens = self.embed(x[:, 0]) + self.position.weight
        return self.head(self.encoder(tokens))


class RowLSTM(nn.Module):
    """Image rows as a sequence: an LSTM, then a two-layer head on its last output."""

    def __init__(self, height, width, classes=10, hidden=128):
        super().__init__()
        self.lstm = nn.LSTM(width, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x):
        out, _ = self.lstm(x[:, 0])
        return self.head(out[:, -1])


def resnet18(height, width, classes=10):
    """torchvision's ResNet-18 with a first convolution for grey images."""
    model = torchvision.models.resnet18(num_classes=classes)
    model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model


BUILD = {"transformer": RowTransformer, "lstm": RowLSTM, "resnet18": resnet18}


def build(name, seed=0):
    torch.manual_seed(seed)
    return BUILD[name](height, width)


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


@torch.no_grad()
def accuracy(model):
    model.eval()
    hits = sum(int((model(x_test[i:i + 500]).argmax(1) == y_test[i:i + 500]).sum()) for i in range(0, len(x_test), 500))
    return 100 * hits / len(x_test)


# %% [markdown]
# One function runs the six steps for a model. Each step is one library call;
# the comments say what it does.

# %%
tickets_dir = default_results_dir(results_dir) / "tickets" / ("smoke" if smoke else "book")
tickets_dir.mkdir(parents=True, exist_ok=True)
probe = x_test[:16]


def walk_through(name):
    model = build(name)
    glth.generalize(model, "dct")                      # 1. every weight in the DCT basis (q, k, v and gates apart)
    start = glth.snapshot(model)                       #    the rewind point: initialisation
    train(model, resnet_steps if name == "resnet18" else steps)     # 2. train a little
    dense_accuracy = accuracy(model)
    dense = glth.export(model)                         #    (the trained dense model, kept for the comparison below)
    glth.prune(model, 1 - density, scope="layer")      # 3. keep the largest `density` of each tensor's coefficients
    glth.rewind(model, start)                          # 4. back to initialisation, masks kept ...
    train(model, resnet_steps if name == "resnet18" else steps, seed=1)  # ... and train the ticket
    plain = glth.export(model).eval()                  # 5. a plain torch model
    model.eval()
    with torch.no_grad():
        exported_error = float((plain(probe) - model(probe)).abs().max() / model(probe).abs().max())
    path = glth.save_ticket(model, tickets_dir / f"{name}.glth")  # 6. the ticket file ...
    fresh = glth.load_ticket(build(name, seed=123).eval(), path)  # ... into a freshly built model
    with torch.no_grad():
        identical = torch.equal(fresh(probe), model(probe))
    return {"model": model, "dense": dense, "plain": plain, "path": path,
            "row": {"model": name, "dense accuracy (%)": round(dense_accuracy, 1),
                    "ticket accuracy (%)": round(accuracy(model), 1), "density": round(glth.density(model), 3),
                    "export rel. error < 1e-5": exported_error < 1e-5, "loaded ticket identical": identical}}


walks = {name: walk_through(name) for name in models}
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
name = models[0]
other = build(models[1]) if len(models) > 1 else nn.Sequential(nn.Linear(3, 3))  # another architecture
try:
    glth.load_ticket(other, walks[name]["path"])
except TicketError as error:
    print("wrong model:", error)
broken = tickets_dir / "broken.glth"
raw = bytearray(walks[name]["path"].read_bytes())
raw[len(raw) // 2] ^= 1
broken.write_bytes(bytes(raw))
try:
    glth.load_ticket(build(name), broken)
except TicketError as error:
    print("flipped byte:", error)
broken.write_bytes(bytes(raw[: len(raw) // 2]))
try:
    glth.load_ticket(build(name), broken)
except TicketError as error:
    print("truncated:", error)
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
#   reads that width); `glth_core.export.remove_dead_units` then removes them
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
UNIT_PAIRS = {"transformer": [("encoder.layers.0.linear1", "encoder.layers.0.linear2"),
                              ("encoder.layers.1.linear1", "encoder.layers.1.linear2"), ("head.1", "head.3")],
              "lstm": [("head.0", "head.2")], "resnet18": []}
UNIT_LAYERS = {"resnet18": [f"layer{i}.{j}.conv1" for i in range(1, 5) for j in range(2)]}
LOW_RANK_LAYERS = {"transformer": ["head.1"], "lstm": ["head.0"], "resnet18": ["fc"]}


def variant(dense, basis, layers, fraction):
    """Generalize a copy of the trained dense model on ``layers``, prune whole rows, return it."""
    model = glth.generalize(copy.deepcopy(dense), basis, layers=layers)
    glth.prune(model, fraction, granularity="row", scope="layer")
    return model.eval()


def shrink(plain, pairs):
    for first, second in pairs:
        a, b = plain.get_submodule(first), plain.get_submodule(second)
        a, b = remove_dead_units(a, b)
        for path, layer in ((first, a), (second, b)):
            parent, _, child = path.rpartition(".")
            setattr(plain.get_submodule(parent), child, layer)
    return plain


def variants(name):
    walk = walks[name]
    pairs = UNIT_PAIRS[name]
    unit_layers = [first for first, _ in pairs] or UNIT_LAYERS[name]
    generalized = {"dense": glth.generalize(copy.deepcopy(walk["dense"]), "canonical"),
                   "element ticket": walk["model"],
                   "unit-pruned": variant(walk["dense"], "canonical", unit_layers, 1 - unit_density),
                   "low-rank": variant(walk["dense"], "dct", LOW_RANK_LAYERS[name], 1 - rank_density)}
    exported = {"dense": walk["dense"].eval(), "element ticket": walk["plain"],
                "unit-pruned": shrink(glth.export(generalized["unit-pruned"]), pairs).eval(),
                "low-rank": glth.export(generalized["low-rank"]).eval()}
    rows = []
    for kind, model in generalized.items():
        path = glth.save_ticket(model, tickets_dir / f"{name}-{kind.replace(' ', '-')}.glth")
        dense_bytes = state_dict_bytes(exported["dense"])
        with torch.no_grad():
            error = float((exported[kind](probe) - model(probe)).abs().max() / model(probe).abs().max())
        rows.append({"ticket": kind, "parameters (ticket)": glth.count_parameters(model),
                     "parameters (exported)": sum(p.numel() for p in exported[kind].parameters()),
                     "state dict bytes (exported)": state_dict_bytes(exported[kind]),
                     "ticket file bytes": path.stat().st_size,
                     "ticket file / dense state dict": round(path.stat().st_size / dense_bytes, 3),
                     "export = generalized": error < 1e-5})
    return exported, pd.DataFrame(rows)


results = {name: variants(name) for name in models}
for name, (_, sizes) in results.items():
    print(f"\n{name}")
    print(sizes.to_string(index=False))

# %% [markdown]
# The ticket file is where every ticket pays off on disk: it holds only the
# surviving coefficients, their positions (as a bit mask, or as indices when
# fewer than one in 32 survive) and the name and seed of the basis, which is
# rebuilt when the file is loaded. The dense ticket (nothing pruned) costs a
# little more than its state dict: the positions of all coefficients.
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
threads = torch.get_num_threads()
for name, (exported, _) in results.items():
    timed = {"dense": exported["dense"], "dense, again": copy.deepcopy(exported["dense"]),
             **{kind: model for kind, model in exported.items() if kind != "dense"}}
    table = latency_table(timed, lambda b: x_test[:b], batch_sizes, repeats=repeats)
    speed = table.pivot(index="model", columns="batch", values="speedup").loc[list(timed)]
    speed.columns = [f"speed-up, batch {b}" for b in speed.columns]
    dense_ms = table[table.model == "dense"].set_index("batch")["seconds"] * 1000
    print(f"\n{name}: dense latency " + ", ".join(f"{ms:.2f} ms at batch {b}" for b, ms in dense_ms.items())
          + f" ({threads} torch threads)")
    print(speed.round(2).to_string())

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
