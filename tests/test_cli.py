"""Command line: flags from dataclasses, end to end on digits, errors, resume after SIGKILL."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from glth_core.engine import hparams as H
from glth_core.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def cli_env(results):
    env = dict(os.environ, GLTH_RESULTS_DIR=str(results), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return env


def test_help_documents_every_hyperparameter(capsys):
    for command, cls in (("imp", H.ImpHparams), ("subspace", H.SubspaceHparams)):
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        assert e.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        for path, f, _ in H.leaf_fields(cls):
            flag = "--" + H.flag_name(path, f).replace("_", "-")
            assert flag in text, flag
            assert " ".join(f.metadata["help"].split()) in text, flag
    assert "--dimensions" in text


def test_flags_build_the_same_hparams():
    args = build_parser().parse_args(
        ["imp", "--model", "mlp1d", "--dataset", "digits", "--basis", "dct", "--rounds", "3", "--milestones", "2,4",
         "--one-shot", "--no-image-aware", "--output-fraction", "0"])
    from glth_core.cli import _hparams_from_args

    hp = _hparams_from_args(H.ImpHparams, args)
    assert hp == H.update(H.ImpHparams(), model="mlp1d", dataset="digits", basis="dct", rounds=3,
                          milestones=(2, 4), one_shot=True, image_aware=False, output_fraction=0.0)


def test_imp_end_to_end_on_digits(tmp_path, capsys):
    out = tmp_path / "out" / "results.csv"
    code = main(["imp", "--model", "lenet300", "--dataset", "digits", "--basis", "dct", "--rounds", "2",
                 "--fraction", "0.2", "--epochs", "1", "--seed", "0", "--out", str(out),
                 "--results-dir", str(tmp_path / "res"), "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    df = pd.read_csv(out)
    assert list(df["round"]) == [0, 1, 2] and (df["basis"] == "dct").all() and (df["model"] == "lenet300").all()
    assert df["run_id"][0] in printed
    assert df["density"][1] == pytest.approx((0.8 * 64 * 300 + 0.8 * 300 * 100 + 0.9 * 100 * 10)
                                             / (64 * 300 + 300 * 100 + 100 * 10), abs=1e-4)
    # same as the library call
    from glth_core.engine.lottery import run_imp

    hp = H.update(H.ImpHparams(), model="lenet300", dataset="digits", basis="dct", rounds=2, epochs=1)
    lib = run_imp(hp, tmp_path / "res", progress=False)
    assert list(lib["test_accuracy"]) == list(df["test_accuracy"])


def test_subspace_cli_sweep(tmp_path):
    out = tmp_path / "sub.csv"
    code = main(["subspace", "--model", "mlp1d", "--dataset", "digits", "--dimensions", "20,200", "--epochs", "1",
                 "--quiet", "--out", str(out), "--results-dir", str(tmp_path)])
    assert code == 0
    assert list(pd.read_csv(out)["dimension"]) == [20, 200]


@pytest.mark.parametrize(
    "argv,names",
    [(["imp", "--model", "vgg"], ["vgg", "lenet300", "conv2", "conv4", "conv6", "resnet20", "mlp1d"]),
     (["imp", "--dataset", "svhn"], ["svhn", "fashion_mnist", "mnist", "cifar10", "mnist1d", "digits"]),
     (["subspace", "--basis", "fourier"], ["fourier", "canonical", "dct", "hadamard", "random", "svd"]),
     (["imp", "--control", "shuffle"], ["shuffle", "ticket", "reinit", "random_mask"]),
     (["imp", "--milestones", "a,b"], ["comma-separated integers"])],
)
def test_bad_names_exit_2(argv, names, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    for name in names:
        assert name in err


def test_bad_values_and_divergence_exit_codes(tmp_path, capsys):
    base = ["imp", "--model", "mlp1d", "--dataset", "digits", "--epochs", "1", "--quiet",
            "--results-dir", str(tmp_path)]
    assert main(base + ["--fraction", "1.5"]) == 2
    assert "--fraction must be in (0, 1)" in capsys.readouterr().err
    assert main(base + ["--model", "conv2", "--dataset", "digits", "--rounds", "0", "--lr", "1e30"]) == 1
    assert "training diverged in round 0 at step" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(base[:-1] + [str(blocker / "x")]) == 2
    assert "not writable" in capsys.readouterr().err


def run_cli(args, results, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "glth_core", *args], env=cli_env(results), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)


def test_resume_after_sigkill_gives_identical_table(tmp_path):
    args = ["imp", "--model", "mlp1d", "--dataset", "digits", "--rounds", "3", "--epochs", "6",
            "--batch-size", "16", "--seed", "0", "--threads", "1", "--quiet", "--device", "cpu"]
    # interrupted run: kill -9 once round 0's checkpoint exists (mid round 1)
    results = tmp_path / "killed"
    victim = run_cli(args, results)
    deadline = time.time() + 120
    while not list(results.glob("*/round_0000.pt")):
        assert victim.poll() is None, victim.stderr.read().decode()
        assert time.time() < deadline, "round 0 never finished"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    (run_dir,) = results.glob("imp_*")
    assert not (run_dir / "round_0003.pt").exists(), "the run finished before it was killed"
    finished_before = sorted(p.name for p in run_dir.glob("round_*.pt"))
    # rerun: resumes at the last finished round
    resumed = run_cli(args + ["--out", str(tmp_path / "resumed.csv")], results)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    # an uninterrupted run (in this process, also on one thread) in its own results folder
    from glth_core.engine.lottery import run_imp

    hp = H.update(H.ImpHparams(), model="mlp1d", dataset="digits", rounds=3, epochs=6, batch_size=16, seed=0)
    clean = run_imp(hp, tmp_path / "clean", device="cpu", progress=False)
    clean.to_csv(tmp_path / "clean.csv", index=False)
    a = pd.read_csv(tmp_path / "clean.csv").drop(columns="wall_time_s")
    b = pd.read_csv(tmp_path / "resumed.csv").drop(columns="wall_time_s")
    pd.testing.assert_frame_equal(a, b)
    assert list(b["round"]) == [0, 1, 2, 3]
    assert "round_0000.pt" in finished_before
    # the rerun continued the same run folder (same hash) instead of starting afresh
    assert [p.name for p in results.glob("imp_*")] == [run_dir.name]
    assert b["run_id"][0] == run_dir.name


def test_control_help_comes_from_the_registry(capsys):
    """Every control of hparams.CONTROLS is a choice of --control, its description in the help."""
    from glth_core.engine.hparams import CONTROLS

    with pytest.raises(SystemExit):
        main(["imp", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--control {ticket,reinit,random_mask}" in help_text
    for name, text in CONTROLS.items():
        assert f"{name}: {text}" in help_text
