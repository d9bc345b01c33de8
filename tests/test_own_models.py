"""Models built from torch modules beyond Linear/Conv: attention, recurrent layers, embeddings,
transposed convolutions and lazy modules (issue 22).

Parity is checked against the model before generalize (the reference is torch's own module);
block bases against scipy's DCT of each block; gradients of split tensors against the mask.
"""
import copy

import numpy as np
import pytest
import scipy.fft
import torch
from torch import nn

import glth_core as glth
from glth_core.core.export import remove_dead_units
from glth_core.core.params import default_parameters, generalized_parameters
from glth_core.core.views import BlockBasis, View

BASES = ["dct", "random"]


def relative_error(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


class Recurrent(nn.Module):
    """Wraps an RNN so that the model returns one tensor (the outputs of every step)."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


class Attention(nn.Module):
    def __init__(self, batch_first, kdim=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=batch_first, kdim=kdim, vdim=kdim)
        self.key = nn.Linear(16, kdim) if kdim else nn.Identity()

    def forward(self, x):
        k = self.key(x)
        return self.attn(x, k, k, need_weights=False)[0]


def build(kind, seed=0):
    """(model in eval mode, input) of each architecture the issue names."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    if kind == "mha_batch_first":
        return Attention(True), torch.randn(3, 7, 16, generator=g)
    if kind == "mha_seq_first":
        return Attention(False), torch.randn(7, 3, 16, generator=g)
    if kind == "mha_kdim":
        return Attention(True, kdim=8), torch.randn(3, 7, 16, generator=g)
    if kind == "transformer":
        layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
        return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), torch.randn(3, 7, 16, generator=g)
    if kind == "lstm_proj":
        return Recurrent(nn.LSTM(6, 8, num_layers=2, proj_size=4)), torch.randn(5, 2, 6, generator=g)
    if kind.startswith(("lstm", "gru", "rnn")):
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind[:kind.index("_")]]
        layers, bidirectional = int(kind[-1]), "bi" in kind
        rnn = cls(6, 8, num_layers=layers, bidirectional=bidirectional)
        return Recurrent(rnn), torch.randn(5, 2, 6, generator=g)
    if kind == "embedding":
        model = nn.Sequential(nn.Embedding(20, 12), nn.Flatten(), nn.Linear(36, 5))
        return model, torch.randint(0, 20, (4, 3), generator=g)
    if kind.startswith("conv_transpose"):
        d = int(kind[-2])
        cls = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[d]
        model = nn.Sequential(cls(3, 4, 3, stride=2), nn.ReLU(), cls(4, 2, 3))
        return model, torch.randn(2, 3, *([5] * d), generator=g)
    raise AssertionError(kind)


KINDS = ["mha_batch_first", "mha_seq_first", "mha_kdim", "transformer", "lstm_uni1", "lstm_bi2", "lstm_proj",
         "gru_uni1", "gru_bi2", "rnn_bi2", "embedding", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("kind", KINDS)
def test_generalize_prune_and_export_keep_outputs(kind, basis):
    model, x = build(kind)
    model.eval()
    with torch.no_grad():
        before = model(x)
    glth.generalize(model, basis, seed=3)
    assert generalized_parameters(model), "nothing was generalized by default"
    with torch.no_grad():
        assert relative_error(model(x), before) <= 1e-5
    assert relative_error(model(x).detach(), before) <= 1e-5  # the autograd path too
    glth.prune(model, 0.5)
    with torch.no_grad():
        pruned = model(x)
        assert relative_error(pruned, before) > 1e-3, "pruning half the coefficients changed nothing"
        plain = glth.export(model).eval()
        assert relative_error(plain(x), pruned) <= 1e-5
    assert not any("parametrizations" in n for n, _ in plain.named_parameters())
    assert glth.count_parameters(plain) == sum(p.numel() for p in plain.parameters())


def test_default_parameters_cover_attention_and_recurrent_weights():
    model, _ = build("transformer")
    keys = list(glth.generalize(model, "dct") and generalized_parameters(model))
    assert keys[:4] == ["layers.0.self_attn.in_proj_weight", "layers.0.self_attn.out_proj", "layers.0.linear1",
                        "layers.0.linear2"]
    lstm = nn.LSTM(6, 8, num_layers=2, bidirectional=True, proj_size=4)
    assert [t for _, t in default_parameters(lstm)] == [
        "weight_ih_l0", "weight_hh_l0", "weight_hr_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse",
        "weight_hr_l0_reverse", "weight_ih_l1", "weight_hh_l1", "weight_hr_l1", "weight_ih_l1_reverse",
        "weight_hh_l1_reverse", "weight_hr_l1_reverse"]


def test_layers_accepts_module_names_and_parameter_paths():
    model, _ = build("lstm_bi2")
    glth.generalize(model, "dct", layers=["rnn"])  # used to fail: "has no weight tensor"
    assert len(generalized_parameters(model)) == 8
    model, _ = build("transformer")
    glth.generalize(model, "dct", layers=["layers.1.self_attn.in_proj_weight", "layers.0.linear1.weight"])
    assert list(generalized_parameters(model)) == ["layers.0.linear1", "layers.1.self_attn.in_proj_weight"]
    model, _ = build("transformer")
    with pytest.raises(ValueError, match="no module named .* and no parameter of that path"):
        glth.generalize(model, "dct", layers=["layers.0.self_attn.in_proj_wieght"])
    with pytest.raises(ValueError, match="more than once"):
        glth.generalize(model, "dct", layers=["layers.0.linear1", "layers.0.linear1.weight"])


def test_attention_blocks_are_dct_of_each_projection():
    """Each of q, k, v gets the 2-D DCT of its own E x E matrix (scipy reference), not of the stack."""
    model, _ = build("mha_batch_first")
    w = model.attn.in_proj_weight.detach().numpy().copy()
    glth.generalize(model, "dct")
    target = generalized_parameters(model)["attn.in_proj_weight"]
    assert isinstance(target.parametrization.basis, BlockBasis)
    assert target.parametrization.basis.view.labels == ("q", "k", "v")
    expected = np.concatenate([scipy.fft.dctn(block, norm="ortho") for block in np.split(w, 3)])
    np.testing.assert_allclose(target.coefficients.detach().numpy(), expected, atol=1e-5)
    assert not np.allclose(expected, scipy.fft.dctn(w, norm="ortho"), atol=1e-3)


def test_lstm_gates_are_dct_of_each_gate_and_views_override():
    model, _ = build("lstm_uni1")
    w = model.rnn.weight_hh_l0.detach().numpy().copy()
    glth.generalize(model, "dct", views={"rnn.weight_ih_l0": None})
    targets = generalized_parameters(model)
    assert targets["rnn.weight_hh_l0"].parametrization.basis.view.labels == ("input", "forget", "cell", "output")
    expected = np.concatenate([scipy.fft.dctn(block, norm="ortho") for block in np.split(w, 4)])
    np.testing.assert_allclose(targets["rnn.weight_hh_l0"].coefficients.detach().numpy(), expected, atol=1e-5)
    assert not isinstance(targets["rnn.weight_ih_l0"].parametrization.basis, BlockBasis)
    with pytest.raises(ValueError, match="does not fit"):
        glth.generalize(build("lstm_uni1")[0], "dct", views={"rnn.weight_hh_l0": View(0, (8, 8))})


@pytest.mark.parametrize("kind", ["mha_seq_first", "lstm_bi2", "gru_uni1"])
def test_masked_coefficients_of_split_tensors_get_zero_gradient(kind):
    model, x = build(kind)
    glth.generalize(model, "dct")
    glth.prune(model, 0.6)
    model.train()
    model(x).square().sum().backward()
    split = [t for t in generalized_parameters(model).values() if isinstance(t.parametrization.basis, BlockBasis)]
    assert split
    for target in split:
        grad, mask = target.coefficients.grad, target.mask
        assert torch.all(grad[mask == 0] == 0), target.key
        assert grad[mask == 1].abs().sum() > 0, target.key


def test_lstm_trains_and_refreshes_its_flat_weights():
    model, x = build("lstm_bi2")
    glth.generalize(model, "dct")
    with torch.no_grad():
        first = model(x)
        assert model.rnn.weight_ih_l0 is model.rnn.weight_ih_l0  # cached while nothing changes
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model(x).square().mean().backward()
    opt.step()
    with torch.no_grad():
        after = model(x)
    assert relative_error(after, first) > 1e-4, "a training step did not reach the LSTM's flat weights"
    model(x)  # a forward with gradients leaves graph tensors in the LSTM's flat weights
    plain = glth.export(model)  # deep copy with gradients on
    twin = copy.deepcopy(model)
    with torch.no_grad():
        assert relative_error(plain(x), after) <= 1e-5
        assert torch.equal(twin(x), after)


def test_rewind_and_count_parameters_on_split_tensors():
    model, x = build("gru_bi2")
    glth.generalize(model, "dct")
    start = glth.snapshot(model)
    total = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(x).sum().backward()
    opt.step()
    glth.prune(model, 0.5, granularity="row")
    kept = sum(int(t.mask.sum()) for t in generalized_parameters(model).values())
    coefficients = sum(t.mask.numel() for t in generalized_parameters(model).values())
    assert glth.count_parameters(model) == total - coefficients + kept
    glth.rewind(model, start)
    for key, target in generalized_parameters(model).items():
        expected = start[target.state_key("mask").replace(".0.mask", ".original")] * target.mask
        assert torch.equal(target.coefficients.detach(), expected), key


def test_lazy_linear_is_materialised_or_refused_with_a_message():
    torch.manual_seed(0)
    model = nn.Sequential(nn.LazyLinear(16), nn.ReLU(), nn.LazyLinear(4))
    x = torch.randn(5, 10)
    with pytest.raises(ValueError, match="run model\\(x\\) once"):
        glth.generalize(model, "dct")
    mismatched = nn.Sequential(nn.LazyLinear(16), nn.Linear(8, 4))  # the example pass fails in the second layer
    with pytest.raises(ValueError, match="failed.*pass inputs the model accepts"):
        glth.generalize(mismatched, "dct", example_inputs=x)
    torch.manual_seed(0)
    reference = nn.Sequential(nn.LazyLinear(16), nn.ReLU(), nn.LazyLinear(4))
    expected = reference(x)
    torch.manual_seed(0)
    model = nn.Sequential(nn.LazyLinear(16), nn.ReLU(), nn.LazyLinear(4))
    glth.generalize(model, "dct", example_inputs=x)
    assert list(generalized_parameters(model)) == ["0", "2"]
    assert relative_error(model(x).detach(), expected.detach()) <= 1e-5
    glth.prune(model, 0.3)
    with torch.no_grad():
        assert relative_error(glth.export(model)(x), model(x)) <= 1e-5


def test_tied_embedding_and_head_are_refused():
    emb, head = nn.Embedding(10, 4), nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    with pytest.raises(ValueError, match="tied weights"):
        glth.generalize(nn.Sequential(emb, head), "dct")


def test_remove_dead_units_shrinks_unit_pruned_pairs_exactly():
    """Unit pruning (canonical rows) then remove_dead_units: same outputs, fewer units, inside torch's fused
    TransformerEncoderLayer fast path and in an MLP whose dead units have a nonzero bias (folded)."""
    model, x = build("transformer")
    model.eval()
    glth.generalize(model, "canonical", layers=["layers.0.linear1", "layers.1.linear1"])
    glth.prune(model, 0.5, granularity="row", scope="layer")
    with torch.no_grad():
        expected = model(x)
        plain = glth.export(model)
        for layer in plain.layers:
            layer.linear1, layer.linear2 = remove_dead_units(layer.linear1, layer.linear2)
        assert plain.layers[0].linear1.out_features == 16 and plain.layers[0].linear2.in_features == 16
        assert relative_error(plain(x), expected) <= 1e-5
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 3, bias=False))
    glth.generalize(mlp, "canonical", layers=["0"])
    glth.prune(mlp, 0.6, granularity="row")
    x = torch.randn(4, 6)
    with torch.no_grad():
        expected = mlp(x)
        plain = glth.export(mlp)
        first, second = remove_dead_units(plain[0], plain[2], torch.tanh)
        assert (first.out_features, second.in_features) == (4, 4) and second.bias is not None
        assert relative_error(second(torch.tanh(first(x))), expected) <= 1e-5
    with pytest.raises(ValueError, match="plain nn.Linear.*export the generalized model first"):
        remove_dead_units(mlp[0], mlp[2])


def test_latency_table_is_tidy_with_ratios_to_the_baseline():
    from glth_core.engine.inference import latency_table

    models = {"dense": nn.Linear(8, 8), "small": nn.Linear(8, 2)}
    table = latency_table(models, lambda b: torch.randn(b, 8), batch_sizes=(1, 4), repeats=3, baseline="dense")
    assert list(table.columns) == ["model", "batch", "seconds", "throughput", "speedup"]
    assert len(table) == 4 and (table["seconds"] > 0).all()
    for batch, rows in table.groupby("batch"):
        base = rows.set_index("model")["seconds"]["dense"]
        assert rows.set_index("model")["speedup"]["dense"] == 1.0
        assert rows["speedup"].tolist() == pytest.approx((base / rows["seconds"]).tolist())
        assert rows["throughput"].tolist() == pytest.approx((batch / rows["seconds"]).tolist())
    with pytest.raises(ValueError, match="baseline 'sparse' is not one of the models"):
        latency_table(models, lambda b: torch.randn(b, 8), baseline="sparse")


@pytest.mark.parametrize("kind", ["mha_batch_first", "transformer", "gru_bi2", "embedding", "conv_transpose2d"])
def test_inference_reuses_synthesised_weights_until_coefficients_change(kind):
    """The fast path of attribute-read weights: under no_grad each weight is synthesised once and reused
    (the same tensor), and a change of the coefficients is seen by the next forward."""
    from glth_core.core.params import CachedGeneralizedWeight

    model, x = build(kind)
    model.eval()
    glth.generalize(model, "dct")
    cached = [t for t in generalized_parameters(model).values()
              if isinstance(t.parametrization, CachedGeneralizedWeight)]
    assert cached, "no tensor of this model is read by attribute"
    with torch.no_grad():
        before = model(x)
        first = [getattr(t.module, t.tensor) for t in cached]
        assert all(getattr(t.module, t.tensor) is w for t, w in zip(cached, first))
        for target in cached:
            target.coefficients.mul_(1.5)
        after = model(x)
        assert all(getattr(t.module, t.tensor) is not w for t, w in zip(cached, first))
    assert relative_error(after, before) > 1e-3
    with torch.enable_grad():  # with gradients the weight is a fresh, differentiable tensor
        weight = getattr(cached[0].module, cached[0].tensor)
        assert weight.requires_grad and weight is not getattr(cached[0].module, cached[0].tensor)


def test_exported_weights_have_dense_layouts(monkeypatch):
    """A spatial DCT applied axis by axis synthesises conv kernels as permuted views; export must hand out
    contiguous weights (strided ones make every convolution of the plain model slower), channels_last ones
    stay so. Fusing the kernel axes into one product (the default) gives contiguous kernels; it is turned
    off here so that the permuted case is the one tested."""
    from glth_core.core import bases
    monkeypatch.setattr(bases, "FUSED_AXES_MAX", 1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.ConvTranspose2d(8, 4, 3), nn.Flatten(), nn.LazyLinear(5))
    x = torch.randn(2, 3, 9, 9)
    glth.generalize(model, "dct", example_inputs=x)
    assert not model[0].weight.is_contiguous()  # what synthesis gives: the case being tested
    plain = glth.export(model)
    assert all(p.is_contiguous() for p in plain.parameters())
    last = glth.generalize(nn.Sequential(nn.Conv2d(3, 8, 3)).to(memory_format=torch.channels_last), "dct")
    exported = glth.export(last)[0].weight
    assert exported.is_contiguous() or exported.is_contiguous(memory_format=torch.channels_last)
