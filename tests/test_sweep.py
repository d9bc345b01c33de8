"""Sweeps on a real Dask LocalCluster of 2 worker processes, against serial runs."""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from glth_core.engine.hparams import ImpHparams, update
from glth_core.engine.run_identity import run_key
from glth_core.storage.store import run_lock
from glth_core.runs.sweep import grid, sweep

distributed = pytest.importorskip("distributed")

BASE = update(ImpHparams(), model="lenet300", dataset="digits", epochs=1, rounds=2, fraction=0.3, batch_size=64)
VARIABLE = ["wall_time_s"]


def _stable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=VARIABLE).sort_values(["run_id", "round"]).reset_index(drop=True)


def _checkpoints(folder: Path) -> dict[str, tuple[int, int]]:
    """Inode and mtime of every round checkpoint (a retrained round is rewritten atomically: new inode)."""
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("round_*.pt")}


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as local, Client(local) as client:
        yield client


def test_grid_is_the_product_of_its_axes():
    runs = grid(BASE, basis=["canonical", "dct"], seed=[0, 1])
    assert [(r.pruning.basis, r.seed) for r in runs] == [("canonical", 0), ("canonical", 1), ("dct", 0), ("dct", 1)]
    with pytest.raises(ValueError, match="empty"):
        grid(BASE, seed=[])
    with pytest.raises(TypeError, match="no hyperparameter"):
        grid(BASE, colour=["red"])


def test_four_run_sweep_equals_serial_runs_and_resubmission_trains_nothing(tmp_path, cluster):
    runs = grid(BASE, basis=["canonical", "dct"], seed=[0, 1])
    serial = sweep(runs, scheduler="serial", results_dir=tmp_path / "serial", progress=False)
    parallel = sweep(runs, client=cluster, results_dir=tmp_path / "dask", progress=False)
    assert len(parallel) == 4 * (BASE.pruning.rounds + 1)
    assert parallel.attrs["failures"] == []
    pd.testing.assert_frame_equal(_stable(parallel), _stable(serial))

    before = _checkpoints(tmp_path / "dask")
    again = sweep(runs, client=cluster, results_dir=tmp_path / "dask", progress=False)
    assert _checkpoints(tmp_path / "dask") == before, "a resubmitted sweep rewrote results"
    pd.testing.assert_frame_equal(_stable(again), _stable(parallel))


def test_a_failing_run_is_reported_and_the_rest_finish(tmp_path, cluster):
    good = update(BASE, seed=3)
    bad = update(BASE, seed=4, lr=1e6)  # diverges: NaN loss
    table = sweep([good, bad], client=cluster, results_dir=tmp_path, progress=False, retries=0)
    failures = table.attrs["failures"]
    assert [f.run_id for f in failures] == [run_key("imp", bad)]
    assert failures[0].hparams == bad and failures[0].error
    assert set(table["run_id"]) == {run_key("imp", good)}
    with pytest.raises(RuntimeError, match=run_key("imp", bad)):
        sweep([bad], client=cluster, results_dir=tmp_path, progress=False, retries=0, errors="raise")


def test_killed_worker_mid_sweep_still_gives_the_complete_correct_table(tmp_path, cluster):
    runs = grid(update(BASE, epochs=3, rounds=3), seed=[10, 11, 12, 13])
    reference = sweep(runs, scheduler="serial", results_dir=tmp_path / "serial", progress=False)

    results = tmp_path / "dask"
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(table=sweep(runs, client=cluster, results_dir=results,
                                                                         progress=False)))
    thread.start()
    killed = False
    deadline = time.time() + 120
    while not killed and time.time() < deadline and thread.is_alive():
        processing = {w: ks for w, ks in cluster.processing().items() if ks}
        started = list(results.glob("imp_*/round_0*")) if results.exists() else []
        if processing and started:
            worker = next(iter(processing))
            pid = cluster.run(os.getpid, workers=[worker])[worker]
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.05)
    thread.join(timeout=300)
    assert killed, "no worker was killed: the sweep finished before a round checkpoint appeared"
    table = outcome["table"]
    assert table.attrs["failures"] == []
    assert not table.duplicated(["run_id", "round"]).any()
    pd.testing.assert_frame_equal(_stable(table), _stable(reference))
    cluster.wait_for_workers(2, timeout=60)


def test_run_lock_excludes_a_second_holder(tmp_path):
    order = []

    def second():
        with run_lock(tmp_path / "imp_x"):
            order.append("second")

    with run_lock(tmp_path / "imp_x"):
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("first")
    t.join(5)
    assert order == ["first", "second"]


def test_cli_grid_runs_a_sweep_and_rejects_bad_axes(tmp_path, capsys):
    from glth_core.cli import main

    out = tmp_path / "sweep.csv"
    status = main(["imp", "--dataset", "digits", "--epochs", "1", "--rounds", "1", "--batch-size", "64",
                   "--grid", "basis=canonical,dct", "--grid", "seed=0,1", "--scheduler", "serial",
                   "--results-dir", str(tmp_path), "--out", str(out), "--quiet"])
    assert status == 0
    table = pd.read_csv(out)
    assert sorted(set(zip(table["basis"], table["seed"]))) == [("canonical", 0), ("canonical", 1), ("dct", 0), ("dct", 1)]
    assert sorted(table["round"].unique()) == [0, 1]
    for bad, message in [("basis=foo", "unknown value 'foo'"), ("seed=x", "not valid"), ("colour=red", "not a hyperparameter"),
                         ("seed", "FLAG=V1,V2")]:
        with pytest.raises(SystemExit):
            main(["imp", "--grid", bad, "--scheduler", "serial", "--results-dir", str(tmp_path)])
        assert message in capsys.readouterr().err


def test_duplicate_grid_points_run_once(tmp_path, monkeypatch):
    import sys

    sweep_module = sys.modules["glth_core.runs.sweep"]  # the package attribute `sweep` is the function
    calls = []

    def recording_run(hp, results_dir, **kwargs):
        calls.append(run_key("imp", hp))
        return pd.DataFrame({"run_id": [run_key("imp", hp)], "round": [0]})

    monkeypatch.setattr(sweep_module, "run_one", recording_run)
    runs = grid(BASE, seed=[0, 1, 0]) + [update(BASE, seed=1, rounds=5)]  # rounds is not part of the key
    table = sweep(runs, scheduler="serial", results_dir=tmp_path, progress=False)
    assert sorted(calls) == sorted({run_key("imp", update(BASE, seed=s)) for s in (0, 1)})
    assert len(table) == 2


def test_auto_scheduler_is_serial_on_small_machines_and_local_on_many_cores():
    from glth_core.runs.sweep import LOCAL_CLUSTER_MIN_CORES, auto_scheduler

    assert auto_scheduler("cpu", cores=2) == "serial"
    assert auto_scheduler("cpu", cores=LOCAL_CLUSTER_MIN_CORES) == "local"
