"""Inputs and faults that used to give silently wrong answers (issue 14): each now works or is refused."""
from pathlib import Path

import pytest
import scipy.fft
import torch
from torch import nn

import glth_core as glth


def _mlp():
    return nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 10))


# ---------------------------------------------------------------- tied weights

def test_tied_weights_are_refused_and_the_model_is_untouched():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8))
    model[2].weight = model[0].weight
    x = torch.randn(4, 8)
    before = model(x).detach()
    with pytest.raises(ValueError, match=r"layer '0' shares its weight tensor with \['2.weight'\].*Untie"):
        glth.generalize(model, "dct")
    with pytest.raises(ValueError, match="tied weights"):  # generalizing only one user would corrupt the other
        glth.generalize(model, "dct", layers=["0"])
    assert not glth.generalized_layers(model)
    assert model[2].weight is model[0].weight
    assert torch.equal(model(x), before)


def test_untied_copies_generalize_with_unchanged_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8))
    model[2].weight = nn.Parameter(model[0].weight.detach().clone())
    x = torch.randn(4, 8)
    before = model(x).detach()
    glth.generalize(model, "dct")
    torch.testing.assert_close(model(x), before, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- integer input

@pytest.mark.parametrize("name", ["dct", "hadamard", "random", "canonical"])
@pytest.mark.parametrize("method", ["coeffs", "weights"])
def test_integer_tensors_are_refused(name, method):
    b = glth.basis(name, (4, 4))
    with pytest.raises(TypeError, match=rf"{'w' if method == 'coeffs' else 'c'} must be a floating-point tensor.*int64"):
        getattr(b, method)(torch.ones(4, 4, dtype=torch.int64))


def test_float_input_still_matches_scipy():
    x = torch.arange(16, dtype=torch.float64).reshape(4, 4)
    c = glth.basis("dct", (4, 4), dtype=torch.float64).coeffs(x)
    torch.testing.assert_close(c, torch.from_numpy(scipy.fft.dctn(x.numpy(), type=2, norm="ortho")))


# ---------------------------------------------------------------- float16 / bfloat16 DCT

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_fft_dct_layer(dtype):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(512, 300))  # both axes take the FFT path at this size
    x = torch.randn(8, 512)
    reference = model(x).detach()
    model = model.to(dtype)
    glth.generalize(model, "dct")
    kinds = {type(t).__name__ for t in model[0].parametrizations.weight[0].basis.transforms}
    assert kinds == {"DCTTransform"}
    y = model(x.to(dtype))  # training path (weight side, FFT)
    assert y.dtype == dtype
    y.float().sum().backward()
    assert model[0].parametrizations.weight.original.grad.isfinite().all()
    with torch.no_grad():
        y = model(x.to(dtype))
    tolerance = 0.02 if dtype == torch.float16 else 0.1
    torch.testing.assert_close(y.float(), reference, atol=tolerance, rtol=0)
    # coefficients agree with scipy's DCT of the low-precision weight, to that precision
    w = model[0].weight.detach().float().numpy()
    c = model[0].parametrizations.weight.original.detach().float()
    assert (c - torch.from_numpy(scipy.fft.dctn(w, type=2, norm="ortho"))).abs().max() < 10 * tolerance


# ---------------------------------------------------------------- meta device

@pytest.mark.parametrize("name", ["dct", "hadamard", "random"])
def test_generalize_on_meta_then_to_empty_and_load(name):
    torch.manual_seed(0)
    reference = glth.generalize(_mlp(), name, image_shape=(1, 28, 28))
    with torch.device("meta"):
        model = _mlp()
    glth.generalize(model, name, image_shape=(1, 28, 28))
    model.to_empty(device="cpu")
    model.load_state_dict(reference.state_dict())
    x = torch.randn(5, 784)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=0, rtol=0)
    y = model(x)  # and the training path
    torch.testing.assert_close(y, reference(x), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- NaN coefficients

def _generalized_pair():
    torch.manual_seed(0)
    return glth.generalize(nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 4)), "dct")


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_prune_refuses_a_nan_coefficient(scope):
    model = _generalized_pair()
    with torch.no_grad():
        model[0].parametrizations.weight.original[3, 5] = float("nan")
    before = glth.masks(model)
    with pytest.raises(ValueError, match=r"layer '0' has NaN or infinite coefficients"):
        glth.prune(model, 0.2, scope=scope)
    after = glth.masks(model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing pruned


def test_prune_refuses_a_layer_full_of_inf_in_global_scope():
    model = _generalized_pair()
    with torch.no_grad():
        model[2].parametrizations.weight.original.fill_(float("inf"))
    with pytest.raises(ValueError, match=r"layer '2' has NaN or infinite"):
        glth.prune(model, 0.5)
    assert glth.density(model) == 1.0


def test_masked_nan_does_not_block_pruning():
    model = _generalized_pair()
    glth.prune(model, 0.5)
    masked = (glth.masks(model)["0"] == 0).nonzero()[0]
    with torch.no_grad():  # a masked coefficient is not ranked: its value does not matter
        model[0].parametrizations.weight.original[tuple(masked)] = float("nan")
    glth.prune(model, 0.5)
    assert 0 < glth.density(model) < 0.5


# ---------------------------------------------------------------- checkpoints that heal

def _corrupt_middle(path):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(b ^ 0x5A for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _empty(path):
    path.write_bytes(b"")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A small digits IMP run done once without faults: (hparams, table, its run folder)."""
    from glth_core.engine import hparams as H
    from glth_core.engine.lottery import run_imp

    torch.set_num_threads(1)
    hp = H.update(H.ImpHparams(), model="mlp1d", dataset="digits", basis="dct", epochs=1, batch_size=64, rounds=3,
                  fraction=0.3, seed=0)
    results = tmp_path_factory.mktemp("uninterrupted")
    table = run_imp(hp, results, progress=False)
    return hp, table, results / table["run_id"][0]


@pytest.mark.parametrize("damage, round_index", [(_corrupt_middle, 1), (_truncate, 2), (_empty, 0)])
def test_a_damaged_checkpoint_is_moved_aside_and_recomputed(uninterrupted, tmp_path, damage, round_index):
    import shutil

    from glth_core.engine.lottery import run_imp
    from glth_core.storage.store import CorruptCheckpointWarning, read_checkpoint

    hp, table, run_dir = uninterrupted
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    path = copy / f"round_{round_index:04d}.pt"
    original = path.read_bytes()
    damage(path)
    with pytest.warns(CorruptCheckpointWarning, match=rf"checkpoint .*{path.name} is corrupt.*corrupt-1.*round "
                                                      rf"{round_index} will be recomputed") as caught:
        resumed = run_imp(hp, tmp_path, progress=False)
    assert len([w for w in caught if issubclass(w.category, CorruptCheckpointWarning)]) == 1
    assert (copy / f"{path.name}.corrupt-1").exists()
    before, after = read_checkpoint(original), read_checkpoint(path.read_bytes())
    for part in ("state", "masks"):  # recomputed bit for bit (same seed streams)
        assert before[part].keys() == after[part].keys()
        assert all(torch.equal(before[part][k], after[part][k]) for k in before[part])
    assert {**before["row"], "wall_time_s": 0} == {**after["row"], "wall_time_s": 0}
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(resumed.drop(columns="wall_time_s"), table.drop(columns="wall_time_s"))
    assert resumed["wall_time_s"][round_index] != table["wall_time_s"][round_index]  # it was really recomputed


def test_a_checkpoint_with_a_wrong_checksum_is_not_trusted(tmp_path):
    from glth_core.storage.store import CorruptCheckpointWarning, RunStore

    store = RunStore(tmp_path, "imp_x", {"x": 1})
    store.save_round(0, {"mask": torch.ones(3)})
    data = store.checkpoint_path(0).read_bytes()
    # a change that still unpickles: same length, one float of the mask changed
    tampered = data.replace(torch.ones(3).numpy().tobytes(), torch.tensor([1.0, 0.748, 1.0]).numpy().tobytes())
    assert tampered != data
    store.checkpoint_path(0).write_bytes(tampered)
    with pytest.warns(CorruptCheckpointWarning, match="does not match its SHA-256"):
        assert store.load_round(0) is None
    assert not store.checkpoint_path(0).exists()
    store.save_round(0, {"mask": torch.ones(3)})
    store.checkpoint_path(0).write_bytes(tampered)
    with pytest.warns(CorruptCheckpointWarning, match="corrupt-2"):  # earlier casualties are kept
        store.load_round(0)


# ---------------------------------------------------------------- CLI and sweep: checked before training

TINY_CLI = ["imp", "--model", "mlp1d", "--dataset", "digits", "--rounds", "0", "--epochs", "1", "--quiet"]


@pytest.fixture
def no_training(monkeypatch):
    from glth_core.engine import training

    def refuse(*args, **kwargs):
        raise AssertionError("training started before the bad option was reported")

    monkeypatch.setattr(training, "train", refuse)


@pytest.mark.parametrize("flags, message", [
    (["--workers", "-1", "--grid", "seed=0,1"], "--workers must be >= 1"),
    (["--workers", "0", "--grid", "seed=0,1"], "--workers must be >= 1"),
    (["--threads", "-1"], "--threads must be >= 0"),
    (["--device", "tpu"], "--device tpu: unknown device 'tpu'"),
    (["--device", "cuda:x"], "--device cuda:x: unknown device"),
    (["--device", "meta"], "'meta' is not supported"),
])
def test_bad_run_options_are_usage_errors(tmp_path, capsys, no_training, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        from glth_core.cli import main

        main(TINY_CLI + ["--results-dir", str(tmp_path)] + flags)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing was run


@pytest.mark.parametrize("where", ["folder", "under_file", "unwritable"])
def test_bad_out_paths_are_usage_errors(tmp_path, capsys, no_training, where):
    from glth_core.cli import main

    (tmp_path / "a_file").write_text("x")
    out = {"folder": tmp_path, "under_file": tmp_path / "a_file" / "t.csv",
           "unwritable": Path("/proc/glth-no-such-dir/t.csv")}[where]  # /proc refuses new folders, even to root
    with pytest.raises(SystemExit) as exit_info:
        main(TINY_CLI + ["--results-dir", str(tmp_path / "results"), "--out", str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"--out {out}" in err and {"folder": "is a folder", "under_file": "is a file, not a folder",
                                       "unwritable": "cannot write a file there"}[where] in err
    assert not (tmp_path / "results").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_is_checked_even_when_the_run_is_cached(tmp_path, capsys):
    from glth_core.engine import hparams as H
    from glth_core.cli import main
    from glth_core.engine.lottery import run_imp
    from glth_core.engine.subspace import run_subspace

    assert main(TINY_CLI + ["--results-dir", str(tmp_path), "--device", "cpu"]) == 0
    with pytest.raises(SystemExit) as exit_info:
        main(TINY_CLI + ["--results-dir", str(tmp_path), "--device", "cuda"])
    assert exit_info.value.code == 2 and "CUDA is not available" in capsys.readouterr().err
    hp = H.update(H.ImpHparams(), model="mlp1d", dataset="digits", rounds=0, epochs=1)
    with pytest.raises(ValueError, match="CUDA is not available"):
        run_imp(hp, tmp_path, device="cuda", progress=False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        run_subspace(H.SubspaceHparams(), tmp_path, device="cuda", progress=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_workers": -1}, "n_workers must be None"),
    ({"n_workers": 0}, "n_workers must be None"),
    ({"n_workers": 1.5}, "n_workers must be None"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
    ({"scheduler": "nowhere"}, "scheduler must be None"),
])
def test_sweep_checks_its_options_before_starting(tmp_path, no_training, kwargs, message):
    from glth_core.engine import hparams as H
    from glth_core.runs.sweep import grid, sweep

    runs = grid(H.update(H.ImpHparams(), model="mlp1d", dataset="digits", rounds=0, epochs=1), seed=[0, 1])
    with pytest.raises(ValueError, match=message):
        sweep(runs, results_dir=tmp_path, progress=False, **kwargs)


# ---------------------------------------------------------------- papermill parameters a chapter lacks

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_check_parameters_names_the_unknown_and_lists_the_declared():
    from glth_core.book.chapter import check_parameters

    parameters_cell = "smoke = False  # comment\nseeds: int = 2\nbases = ['dct']\n"
    history = ["", parameters_cell, "# Parameters\nsmoke = True\nnonsense = 1\nbasis = 'x'\n", "check"]
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) basis, nonsense: this chapter declares "
                                         r"bases, seeds, smoke"):
        check_parameters({"In": history, "smoke": True, "nonsense": 1})
    check_parameters({"In": ["", parameters_cell, "# Parameters\nsmoke = True\nseeds = 5\n", "check"]})
    check_parameters({"In": ["", parameters_cell, "check"]})  # nothing injected
    check_parameters({"smoke": True})  # not IPython


def test_every_chapter_checks_its_parameter_names():
    import nbformat

    for path in sorted(NOTEBOOKS.glob("0*.ipynb")):
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        index = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
        check = cells[index + 1].source
        assert "check_parameters(globals())" in check or "Chapter(" in check and "globals())" in check, path.name


@pytest.mark.parametrize("chapter", ["02_bases", "01_canonical"])  # explicit checks; the Chapter object
@pytest.mark.parametrize("parameters, error", [({"smoke": True, "nonsense": 1}, "nonsense"), ({"smoke": True}, None)])
def test_papermill_with_an_undeclared_parameter_fails_in_the_check_cell(tmp_path, monkeypatch, parameters, error,
                                                                       chapter):
    """The real chapter up to its check cell, executed by papermill."""
    import nbformat
    import papermill

    monkeypatch.setenv("GLTH_RESULTS_DIR", str(tmp_path / "results"))
    notebook = nbformat.read(NOTEBOOKS / f"{chapter}.ipynb", as_version=4)
    code = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    check = code[next(n for n, i in enumerate(code) if "parameters" in notebook.cells[i].metadata.get("tags", [])) + 1]
    notebook.cells = notebook.cells[:check + 1]
    nbformat.write(notebook, tmp_path / "head.ipynb")
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOKS.parent))
    run = lambda: papermill.execute_notebook(str(tmp_path / "head.ipynb"), str(tmp_path / "out.ipynb"),  # noqa: E731
                                             parameters=parameters, kernel_name="python3", progress_bar=False)
    if error is None:
        run()
        return
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        run()
    assert failure.value.ename == "ValueError"
    assert "unknown parameter(s) nonsense: this chapter declares " in failure.value.evalue
    declared = failure.value.evalue.split("declares ")[1].split(";")[0].split(", ")
    assert {"smoke", "profile", "seeds", "device"} <= set(declared) and "nonsense" not in declared
    assert "check_parameters(globals())" in failure.value.traceback[-1] or any(
        "check_parameters" in line for line in failure.value.traceback)


# ---------------------------------------------------------------- README sweep example as a script

def test_readme_sweep_example_is_guarded_for_worker_processes(monkeypatch):
    import re

    import importlib

    sweep_module = importlib.import_module("glth_core.runs.sweep")

    readme = (NOTEBOOKS.parent / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "sweep(" in b)
    calls = []
    monkeypatch.setattr(sweep_module, "sweep", lambda runs, **kw: calls.append(runs) or "table")
    imported = {"__name__": "__mp_main__"}  # how a spawned Dask worker imports the script
    exec(compile(block, "README.md", "exec"), imported)
    assert calls == [] and "table" not in imported
    run = {"__name__": "__main__"}
    exec(compile(block, "README.md", "exec"), run)
    assert len(calls) == 1 and len(calls[0]) == 4 and run["table"] == "table"
    assert "guard is required" in readme
