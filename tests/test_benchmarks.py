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
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--devices", "cpu", "--configs", "0",
           "--reps", "1", "--steps", "1", "--eval-examples", "20", "--lottery", "--quick",
           "--lottery-epochs", "1", "--lottery-rounds", "1", "--lottery-reps", "1", "--csv", str(csv), "--book", str(book)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, GLTH_RESULTS_DIR=str(tmp_path / "results"), PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-3000:]
    frame = pd.read_csv(csv)
    steps = frame[frame.config == "LeNet-300-100, batch 60"]
    assert list(steps.basis) == BASES
    assert (steps.train_ms > 0).all() and (steps.eval_ms > 0).all()
    canonical = steps.set_index("basis").loc["canonical"]
    assert canonical.train_ratio == 1.0 and canonical.eval_ratio == 1.0
    assert all(math.isfinite(r) and r > 0 for r in steps.train_ratio)
    # the basis tables: none for the canonical basis, some for the others
    tables = steps.set_index("basis").basis_kib
    assert tables["canonical"] == 0 and (tables[["dct", "hadamard", "random"]] > 0).all()
    lottery = frame[frame.config.str.startswith("whole lottery run")]
    assert sorted(lottery.basis) == sorted(BASES[1:])
    assert lottery.set_index("basis").train_ratio["canonical"] == 1.0
    text = book.read_text()
    assert text.startswith("Benchmark of ") and text.count("\n| ") == len(frame) + 1  # header row + one per row


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
