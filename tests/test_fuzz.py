"""Fuzz the public API and the command line with valid and invalid arguments (hypothesis, reproducible).

Every call must return a result (with finite numbers) or raise ValueError / TypeError (the CLI: exit
status 0, or 2 / SystemExit(2) with a message): never another exception, a hang or a NaN.
"""
import math

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn

import glth_core as glth
from glth_core.cli import main

SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

# (valid values, invalid values) of each argument; every example breaks at most one argument
BASIS_ARGS = {
    "name": (["canonical", "dct", "hadamard", "random", "svd"], ["DCT", "", None, 3]),
    "shape": ([(5,), (4, 6), (3, 2, 3, 3), (8, 9), (300, 7)], [(), (0, 3), (3, -1), "3x3", (2.5, 2)]),
    "seed": ([0, 1, 2**40], [1.5, "0", None]),
    "dtype": ([None, torch.float32, torch.float64], [torch.int64, "float32"]),
    "axes": ([None, (0,), (0, 1)], [(5,), "0", (-7,)]),
    "x_dtype": ([torch.float32, torch.float64], [torch.int64, torch.bool]),
}
MODEL_ARGS = {
    "kind": (["mlp", "conv"], ["empty"]),
    "basis": (["canonical", "dct", "hadamard", "random", "svd", {"1": "dct"}], ["DCT", None, {"nope": "dct"}]),
    "layers": ([None, ["1"]], [["nope"], "1", ["1", "1"], ["0"]]),
    "image_shape": ([None, None, (1, 4, 4), (4, 4)], [(2, 2, 2), (3, 3)]),
    "offset": ([None, None, "init"], ["bogus"]),
    "seed": ([0, 7], [-1.5, "0"]),
    "fraction": ([0.0, 0.2, 0.5, 0.99], [1.0, -0.1, float("nan"), float("inf"), True, "0.2", None]),
    "scope": (["global", "layer"], ["nope"]),
    "granularity": (["element", "row", "column"], ["nope"]),
    "fractions": ([None, {"1": 0.5}], [{"nope": 0.5}, {"1": 2.0}, [0.1]]),
    "mask_seed": ([0, 3], ["x", None]),
}


def _draw(data, table):
    """One value per argument of ``table``: all valid, or (half of the time) one argument invalid."""
    broken = data.draw(st.one_of(st.none(), st.sampled_from(sorted(table))), label="broken")
    return {name: data.draw(st.sampled_from(invalid if name == broken else valid), label=name)
            for name, (valid, invalid) in table.items()}


def _finite(x):
    if isinstance(x, torch.Tensor):
        assert x.is_floating_point() and bool(x.isfinite().all()), "a result holds NaN/inf"
    elif isinstance(x, dict):
        for v in x.values():
            _finite(v)
    elif isinstance(x, float):
        assert math.isfinite(x)


def _expect_clean(call):
    """``call()``'s result, or None when it raised ValueError/TypeError (anything else fails the test)."""
    try:
        result = call()
    except (ValueError, TypeError) as err:
        assert str(err), "an error without a message"
        event(f"{getattr(call, '__qualname__', '')}: {type(err).__name__}")
        return None
    _finite(result)
    return result


@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_fuzz_basis(data):
    a = _draw(data, BASIS_ARGS)
    shape_ok = isinstance(a["shape"], tuple) and a["shape"] and all(isinstance(d, int) and d > 0 for d in a["shape"])
    weight = torch.randn(a["shape"]) if a["name"] == "svd" and shape_ok else None
    b = _expect_clean(lambda: glth.basis(a["name"], a["shape"], seed=a["seed"], dtype=a["dtype"], axes=a["axes"],
                                         weight=weight))
    if b is None:
        return
    x = (torch.randn(b.shape, dtype=torch.float64) * 3).to(a["x_dtype"])
    c = _expect_clean(lambda: b.coeffs(x))
    if c is not None:  # orthonormal: the round trip is the identity
        event("basis: coefficients computed")
        torch.testing.assert_close(b.weights(c).double(), x.double(), atol=1e-5, rtol=1e-4)


def _model(kind):
    torch.manual_seed(0)
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    if kind == "conv":
        return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 2 * 2, 3))
    return nn.Sequential(nn.Flatten(), nn.ReLU())  # nothing to generalize


@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_fuzz_generalize_prune_export(data):
    a = _draw(data, MODEL_ARGS)
    kind, basis, layers, image_shape, offset, seed, fraction, scope, granularity, overrides, mask_seed = (
        a[k] for k in ("kind", "basis", "layers", "image_shape", "offset", "seed", "fraction", "scope",
                       "granularity", "fractions", "mask_seed"))
    model = _model(kind)
    x = torch.randn(4, 1, 4, 4)
    before = model(x).detach()
    if _expect_clean(lambda: glth.generalize(model, basis, layers, seed=seed, image_shape=image_shape,
                                             offset=offset)) is None:
        return
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, atol=1e-4, rtol=1e-4)
    densities = _expect_clean(lambda: glth.prune(model, fraction, scope=scope, granularity=granularity,
                                                 fractions=overrides))
    if densities is not None:
        event("model: pruned")
        assert all(0 <= d <= 1 for d in densities.values())
    masks = _expect_clean(lambda: glth.random_masks(model, glth.masks(model), mask_seed))
    if masks is not None:
        glth.set_masks(model, masks)
    plain = _expect_clean(lambda: glth.export(model))
    if plain is not None:
        event("model: exported")
        with torch.no_grad():
            torch.testing.assert_close(plain(x), model(x), atol=1e-4, rtol=1e-4)
        assert glth.count_parameters(model) >= 0


CLI_BASE = ["--model", "mlp1d", "--dataset", "digits", "--epochs", "1", "--batch-size", "256", "--quiet"]


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_results")


CLI_ARGS = {
    "command": (["imp", "imp", "subspace"], ["nonsense"]),
    "rounds": (["0", "1", None], ["-1", "x"]),
    "basis": (["dct", "canonical", "random", None], ["bogus"]),
    "fraction": (["0.2", "0.5", None], ["1.5", "nan", "-1", "x"]),
    "seed": (["0", "1", None], ["1e3", "x"]),
    "extra": ([[], ["--threads", "1"], ["--device", "cpu"], ["--out", "OUT/ok.csv"]],
              [["--threads", "-1"], ["--workers", "-1", "--grid", "seed=0,1"], ["--workers", "0", "--grid", "seed=0,1"],
               ["--device", "tpu"], ["--device", "cuda:x"], ["--grid", "bogus=1"], ["--grid", "seed"],
               ["--out", "OUT/dir"], ["--out", "OUT/file/x.csv"], ["--dimension", "-3"], ["--milestones", "a,b"],
               ["--no-such-flag"]]),
}


@settings(max_examples=50, **SETTINGS)
@given(data=st.data())
def test_fuzz_cli(cli_results, data):
    a = _draw(data, CLI_ARGS)
    command, rounds, basis, fraction, seed, extra = (a[k] for k in ("command", "rounds", "basis", "fraction", "seed",
                                                                      "extra"))
    (cli_results / "out").mkdir(exist_ok=True)
    (cli_results / "out" / "dir").mkdir(exist_ok=True)
    (cli_results / "out" / "file").write_text("x")
    argv = [command] + CLI_BASE + ["--results-dir", str(cli_results / "runs")]
    for flag, value in (("--rounds", rounds), ("--basis", basis), ("--fraction", fraction), ("--seed", seed)):
        if value is not None and not (command == "subspace" and flag in ("--rounds", "--fraction")):
            argv += [flag, value]
    argv += [a.replace("OUT", str(cli_results / "out")) for a in extra]
    try:
        status = main(argv)
    except SystemExit as exit_info:
        assert exit_info.code == 2, argv
        event("cli: usage error")
        return
    assert status in (0, 2), argv
    event(f"cli: status {status}")
    out = [a for a in argv if a.endswith("ok.csv")]
    if status == 0 and out:
        import pandas as pd

        table = pd.read_csv(out[0])
        numbers = table[["density", "params", "test_accuracy", "test_loss", "best_accuracy"]]  # no validation set
        assert len(table) and numbers.notna().all().all(), "NaN in the results table"
