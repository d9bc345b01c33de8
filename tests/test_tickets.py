"""Ticket files (issue 22): round trip into a freshly built model, compactness, refusals."""
import hashlib
import json
import struct

import pytest
import torch
from torch import nn

import glth_core as glth
from glth_core.core.params import generalized_parameters
from glth_core.core.tickets import MAGIC, TicketError, read_header, state_dict_bytes


class Classifier(nn.Module):
    """Embedding + LSTM + attention + LayerNorm + BatchNorm + Linear: every kind of tensor a ticket holds."""

    def __init__(self, hidden=16):
        super().__init__()
        self.embed = nn.Embedding(30, 12)
        self.lstm = nn.LSTM(12, hidden, batch_first=True, bidirectional=True)
        self.attn = nn.MultiheadAttention(2 * hidden, 4, batch_first=True)
        self.norm = nn.LayerNorm(2 * hidden)
        self.bn = nn.BatchNorm1d(2 * hidden)
        self.head = nn.Linear(2 * hidden, 5)

    def forward(self, tokens):
        h = self.lstm(self.embed(tokens))[0]
        h = self.norm(h + self.attn(h, h, h, need_weights=False)[0])
        return self.head(self.bn(h.mean(1)))


def build(seed=0, hidden=16):
    torch.manual_seed(seed)
    return Classifier(hidden)


def tokens(seed=1):
    return torch.randint(0, 30, (6, 9), generator=torch.Generator().manual_seed(seed))


def trained_ticket(basis="dct", granularity="element"):
    model = glth.generalize(build(), basis, seed=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(3):  # BatchNorm statistics and every tensor move away from initialisation
        opt.zero_grad()
        model(tokens(step)).logsumexp(1).mean().backward()
        opt.step()
    glth.prune(model, 0.8, granularity=granularity)
    return model.eval()


@pytest.mark.parametrize("basis,granularity", [("dct", "element"), ("random", "row"), ("canonical", "element"),
                                               ("svd", "element")])
def test_round_trip_into_a_freshly_built_model(tmp_path, basis, granularity):
    model = trained_ticket(basis, granularity)
    path = glth.save_ticket(model, tmp_path / "ticket.glth")
    fresh = build(seed=123).eval()  # other initial weights: everything must come from the file
    glth.load_ticket(fresh, path)
    x = tokens(7)
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
    for key, target in generalized_parameters(model).items():
        other = generalized_parameters(fresh)[key]
        assert torch.equal(other.mask, target.mask), key
        assert torch.equal(other.coefficients, target.coefficients), key
    # and into a model generalized the same way
    same = glth.generalize(build(seed=5), basis, seed=4).eval() if basis != "svd" else None
    if same is not None:
        glth.load_ticket(same, path)
        with torch.no_grad():
            assert torch.equal(same(x), model(x))


def test_file_holds_only_surviving_coefficients(tmp_path):
    model = trained_ticket("dct")
    path = glth.save_ticket(model, tmp_path / "t.glth")
    header = read_header(path)
    kept = sum(int(t.mask.sum()) for t in generalized_parameters(model).values())
    values = sum(e["values"]["nbytes"] for e in header["targets"])
    assert values == 4 * kept
    assert {e["key"] for e in header["targets"]} == set(generalized_parameters(model))
    assert header["targets"][1]["spec"]["view"]["labels"] == ["input", "forget", "cell", "output"]
    dense = state_dict_bytes(glth.export(model))
    assert path.stat().st_size < 0.5 * dense  # 20% of the coefficients, positions as a bitmask or indices


def test_positions_pick_the_smaller_encoding(tmp_path):
    model = trained_ticket("dct")
    glth.prune(model, 0.95, fractions={"head": 0.0})  # 1% of the rest left: indices are smaller than a bitmask
    header = read_header(glth.save_ticket(model, tmp_path / "sparse.glth"))
    encodings = {e["key"]: e["positions"]["encoding"] for e in header["targets"]}
    assert encodings["head"] == "bitmask" and encodings["lstm.weight_hh_l0"] == "indices"


def test_refuses_a_model_of_another_architecture(tmp_path):
    path = glth.save_ticket(trained_ticket(), tmp_path / "t.glth")
    with pytest.raises(TicketError, match="does not fit this model.*'lstm.weight_ih_l0' has shape"):
        glth.load_ticket(build(hidden=8), path)
    with pytest.raises(TicketError, match="does not fit this model"):
        glth.load_ticket(nn.Sequential(nn.Linear(3, 3)), path)
    other_basis = glth.generalize(build(), "random", seed=4)
    with pytest.raises(TicketError, match="another basis"):
        glth.load_ticket(other_basis, path)


def test_refuses_a_truncated_file(tmp_path):
    path = glth.save_ticket(trained_ticket(), tmp_path / "t.glth")
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 40, 10):
        path.write_bytes(data[:cut])
        with pytest.raises(TicketError, match="truncated|not a glth_core ticket"):
            glth.load_ticket(build(), path)


@pytest.mark.parametrize("where", ["header", "payload", "digest"])
def test_refuses_a_flipped_byte(tmp_path, where):
    path = glth.save_ticket(trained_ticket(), tmp_path / "t.glth")
    data = bytearray(path.read_bytes())
    (header_length,) = struct.unpack("<I", data[len(MAGIC):len(MAGIC) + 4])
    position = {"header": len(MAGIC) + 4 + header_length // 2, "payload": len(MAGIC) + 4 + header_length + 100,
                "digest": len(data) - 3}[where]
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(TicketError, match="corrupt|malformed"):
        glth.load_ticket(build(), path)


def test_refuses_another_version_and_a_foreign_file(tmp_path):
    path = glth.save_ticket(trained_ticket(), tmp_path / "t.glth")
    data = path.read_bytes()
    (n,) = struct.unpack("<I", data[len(MAGIC):len(MAGIC) + 4])
    header = json.loads(data[len(MAGIC) + 4:len(MAGIC) + 4 + n])
    header["version"] = 99
    raw = json.dumps(header).encode()
    body = MAGIC + struct.pack("<I", len(raw)) + raw + data[len(MAGIC) + 4 + n:-32]
    path.write_bytes(body + hashlib.sha256(body).digest())
    with pytest.raises(TicketError, match="version 99.*reads 'glth-ticket' version 1"):
        glth.load_ticket(build(), path)
    torch.save(build().state_dict(), path)
    with pytest.raises(TicketError, match="not a glth_core ticket"):
        glth.load_ticket(build(), path)
    with pytest.raises(ValueError, match="no generalized layers"):
        glth.save_ticket(build(), tmp_path / "plain.glth")


def test_lazy_model_is_refused_until_materialised(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.LazyLinear(4))
    x = torch.randn(2, 6)
    glth.generalize(model, "dct", example_inputs=x)
    path = glth.save_ticket(model, tmp_path / "lazy.glth")
    with pytest.raises(ValueError, match="run model\\(x\\) once"):
        glth.load_ticket(nn.Sequential(nn.LazyLinear(4)), path)
    fresh = nn.Sequential(nn.LazyLinear(4))
    fresh(x)
    glth.load_ticket(fresh, path)
    assert torch.equal(fresh(x), model(x))


def test_round_trip_of_a_random_subspace_model_in_float64(tmp_path):
    """Offset W0 (random-subspace mode) is stored dense; float64 coefficients keep their dtype."""
    model = glth.generalize(build().double(), "random", seed=2, offset="init")
    with torch.no_grad():
        for target in generalized_parameters(model).values():
            target.coefficients.normal_(0, 0.01)
    glth.set_masks(model, glth.random_masks(model, 0.3, seed=1))
    model.eval()
    path = glth.save_ticket(model, tmp_path / "subspace.glth")
    fresh = glth.load_ticket(build(seed=9).double().eval(), path)
    x = tokens(3)
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
    assert generalized_parameters(fresh)["head"].coefficients.dtype == torch.float64
    assert generalized_parameters(fresh)["head"].parametrization.offset is not None
