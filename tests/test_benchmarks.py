"""`make bench` stays runnable: a tiny run of benchmarks/run.py writes a complete table (no time is asserted)."""
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BASES = ["plain", "canonical", "dct", "hadamard", "random"]


def test_tiny_benchmark_writes_every_basis_with_ratios(tmp_path):
    csv, book = tmp_path / "bench.csv", tmp_path / "latest.md"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--devices", "cpu", "--configs", "1",
           "--reps", "1", "--steps", "1", "--eval-examples", "20", "--lottery", "--quick",
           "--lottery-epochs", "1", "--lottery-rounds", "1", "--lottery-reps", "1", "--csv", str(csv), "--book", str(book)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, GLTH_RESULTS_DIR=str(tmp_path / "results"), PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-3000:]
    frame = pd.read_csv(csv)
    steps = frame[frame.config == "LeNet-300-100, batch 128"]
    assert sorted(set(steps.loop)) == ["engine", "user"]
    for loop in ("engine", "user"):
        rows = steps[steps.loop == loop]
        assert list(rows.basis) == BASES
        assert (rows.train_ms > 0).all() and (rows.eval_ms > 0).all()
        canonical = rows.set_index("basis").loc["canonical"]
        assert canonical.train_ratio == 1.0 and canonical.eval_ratio == 1.0
        assert all(math.isfinite(r) and r > 0 for r in rows.train_ratio)
        # the basis tables: none for the canonical basis, some for the others
        tables = rows.set_index("basis").basis_kib
        assert tables["canonical"] == 0 and (tables[["dct", "hadamard", "random"]] > 0).all()
    lottery = frame[frame.config.str.startswith("whole lottery run")]
    assert sorted(lottery.basis) == sorted(BASES[1:])
    assert lottery.set_index("basis").train_ratio["canonical"] == 1.0
    text = book.read_text()
    assert text.startswith("Benchmark of ") and text.count("\n| ") == len(frame) + 1  # header row + one per row
    # the targets are checked in the same run, each with the largest measured ratio
    for target in ("LeNet-300-100 step, DCT and random: <= 1.25x", "LeNet-300-100 step, Hadamard: <= 1.35x",
                   "evaluation with cached weights, any basis: <= 1.05x"):
        assert f"- {target}; largest " in text and target in done.stdout
    worst = steps[steps.basis.isin(["dct", "random"])].train_ratio.max()
    assert f"largest {worst:.2f}x" in text


def test_profile_splits_a_step_into_categories(tmp_path):
    out = tmp_path / "profile.md"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "profile_bases.py"), "--settings", "0", "--steps", "2",
           "--reps", "1", "--markdown", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in out.read_text().splitlines() if line.startswith("| LeNet-300-100 step, batch 60, engine")]
    assert [r.split(" | ")[1] for r in rows] == ["canonical", "dct", "hadamard", "random"]
    transforms = {r.split(" | ")[1]: float(r.split(" | ")[4].split()[0]) for r in rows}
    assert transforms["canonical"] == 0 and all(transforms[b] > 0 for b in ("dct", "hadamard", "random"))


def test_bad_counts_are_refused_with_a_clear_message():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--configs", "none", "--lottery",
                           "--lottery-reps", "0", "--no-book"], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 2
    assert "--lottery-* counts must be positive" in done.stderr and "Traceback" not in done.stderr


def test_sweep_throughput_benchmark_prints_both_schedulers_and_the_choice(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "sweep_throughput.py"), "--runs", "2", "--reps", "1",
           "--dataset", "digits"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, GLTH_RESULTS_DIR=str(tmp_path / "results"), PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout
    assert "serial (1 process" in lines and "local cluster (" in lines
    ratio = float(lines.split("cluster / serial throughput: ")[1].split("x")[0])
    assert ratio > 0
    assert "auto_scheduler picks 'serial' here" in lines or "auto_scheduler picks 'local' here" in lines


def test_sweep_throughput_refuses_bad_counts():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sweep_throughput.py"), "--runs", "0"],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 2 and "--runs must be >= 1" in done.stderr


def test_cnn_settings_and_epoch_seconds_print_every_case(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), GLTH_RESULTS_DIR=str(tmp_path / "results"))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cnn_settings.py"), "--batch", "4", "--threads", "1",
                           "--reps", "1", "--steps", "1"], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("threads 1")]
    assert sorted((w[2], w[3]) for w in lines) == [("canonical", "channels_last"), ("canonical", "contiguous"),
                                                   ("dct", "channels_last"), ("dct", "contiguous")]
    assert [w[-1] for w in lines if w[2:4] == ["canonical", "contiguous"]] == ["1.00x"]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "epoch_seconds.py"), "--models", "lenet300",
                           "--dataset", "digits", "--bases", "dct", "--threads", "1"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split() for line in done.stdout.splitlines()]
    assert [r[1] for r in rows] == ["canonical", "dct"] and rows[0][-1] == "1.00x" and float(rows[1][2]) > 0


def test_dct_cost_benchmark_prints_timings_choices_and_fitted_constants():
    cmd = [sys.executable, str(ROOT / "benchmarks" / "dct_costs.py"), "--sizes", "300", "--rows", "1,60",
           "--reps", "1", "--calls", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("300 ")]
    assert [r[1] for r in rows] == ["1", "60"]
    assert all(float(r[2]) > 0 and float(r[3]) > 0 and r[4] in ("dense", "fft") for r in rows)
    assert [r[5] for r in rows] == ["dense", "fft"]  # the cost model's picks for 1 and 60 rows of 300
    assert "fitted: DENSE_MACS_PER_US" in done.stdout
    bad = subprocess.run(cmd[:2] + ["--sizes", "1024"], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert bad.returncode == 2 and "sizes must be in 2..512" in bad.stderr


def test_each_thread_count_gets_its_own_labelled_rows_and_ratios(tmp_path):
    """make bench times one thread and two (the book's setting): each count has its rows, labelled, with ratios
    to the canonical basis of the same count; a bad list is refused in one line."""
    csv = tmp_path / "bench.csv"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--devices", "cpu", "--configs", "1", "--loops",
           "engine", "--reps", "1", "--steps", "1", "--eval-examples", "20", "--threads", "1,2", "--no-book",
           "--csv", str(csv)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-3000:]
    frame = pd.read_csv(csv)
    for threads, label in ((1, "LeNet-300-100, batch 128, 1 thread"), (2, "LeNet-300-100, batch 128, 2 threads")):
        rows = frame[frame.config == label]
        assert list(rows.basis) == BASES and set(rows.threads) == {threads}
        assert rows.set_index("basis").train_ratio["canonical"] == 1.0
    bad = subprocess.run(cmd[:2] + ["--threads", "1,x"], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert bad.returncode == 2 and "--threads must be comma-separated positive integers" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_transform_floor_records_each_transform_of_a_step_once_and_restores_the_library():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import torch
        import transform_floor
        from steps import Case

        from glth_core.core.bases import Basis
        from glth_core.core.matrices import AxisTransform

        def synthesize_rows_of_every_transform():
            classes, todo = [], [AxisTransform]
            while todo:
                cls = todo.pop()
                classes.append(cls)
                todo += cls.__subclasses__()
            return {cls: vars(cls).get("synthesize_rows") for cls in classes}

        walk, rows = Basis._walk, synthesize_rows_of_every_transform()
        case = Case("lenet300", (1, 28, 28), 60, "dct", "engine", torch.device("cpu"), 10)
        case.step()
        calls = transform_floor.transform_calls(case)
        # engine at batch 60: fc1's input is analysed beforehand; fc1 and fc2 transform their outputs on the
        # activations, fc2 its input too; fc3 (10 x 100) synthesises its input side on the weight and transforms
        # its 10 outputs on the activations: 5 calls, each on a tensor that needs a gradient
        assert len(calls) == 5 and all(needs_grad for _, _, needs_grad in calls)
        user = Case("lenet300", (1, 28, 28), 60, "dct", "user", torch.device("cpu"), 10)
        user_calls = transform_floor.transform_calls(user)
        assert len(user_calls) == 6 and not user_calls[0][2]  # plus the raw input's analysis, which needs none
        assert Basis._walk is walk and synthesize_rows_of_every_transform() == rows
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_transform_floor_writes_a_floor_per_rotated_basis_with_its_target(tmp_path):
    csv = tmp_path / "floor.csv"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "transform_floor.py"), "--threads", "1", "--configs", "0",
           "--loops", "engine", "--reps", "3", "--steps", "2", "--csv", str(csv),
           "--markdown", str(tmp_path / "floor.md")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-3000:]
    frame = pd.read_csv(csv)
    assert list(frame.basis) == ["dct", "hadamard", "random"] and (frame.calls == 5).all()
    assert (frame.kernels_ms > 0).all() and (frame.floor_ratio > 1).all()
    assert list(frame.target) == [1.25, 1.35, 1.25]
    assert "rows have a floor above their target" in done.stdout
    table = (tmp_path / "floor.md").read_text()
    assert table.startswith("Transform floor of ") and table.count("\n| LeNet-300-100, batch 60 | 1 | engine |") == 3
