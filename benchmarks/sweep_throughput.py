"""Sweep throughput on this machine: serial (one process, all cores as torch threads) against a local
Dask cluster (one single-threaded worker process per core), side by side (``make bench``).

Both run the same ``--runs`` dense LeNet-300-100 runs (seeds 0.., ``--epochs`` epochs, no pruning) in
fresh temporary results folders, so nothing is cached; the order of the two is alternated over
``--reps`` repetitions and the median wall time is kept. Prints runs per hour of each, their ratio,
and which one ``glth_core.runs.sweep.auto_scheduler`` picks here, and whether that is the faster.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

from glth_core.engine.hparams import ImpHparams, update
from glth_core.runs.sweep import auto_scheduler, default_workers, grid, sweep


def timed_sweep(runs, scheduler: str) -> float:
    """Seconds to finish ``runs`` with ``scheduler`` in a fresh results folder."""
    with tempfile.TemporaryDirectory() as results:
        started = time.perf_counter()
        table = sweep(runs, scheduler=scheduler, results_dir=results, progress=False, errors="raise")
        elapsed = time.perf_counter() - started
    if len(table) != len(runs):
        raise RuntimeError(f"{scheduler} sweep returned {len(table)} rows for {len(runs)} runs")
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4, help="runs per sweep (default 4)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run (default 1)")
    parser.add_argument("--reps", type=int, default=2, help="alternated repetitions (median; default 2)")
    parser.add_argument("--dataset", default="fashion_mnist", help="data set (digits: a quick test)")
    args = parser.parse_args(argv)
    for name in ("runs", "epochs", "reps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")

    cores = default_workers(10**6)
    torch.set_num_threads(cores)  # the serial sweep's process uses every core
    base = update(ImpHparams(), model="lenet300", dataset=args.dataset, epochs=args.epochs, rounds=0)
    runs = grid(base, seed=list(range(args.runs)))
    times = {"serial": [], "local": []}
    for rep in range(args.reps):
        for scheduler in (("serial", "local") if rep % 2 == 0 else ("local", "serial")):
            times[scheduler].append(timed_sweep(runs, scheduler))
    median = {k: statistics.median(v) for k, v in times.items()}
    per_hour = {k: 3600 * args.runs / v for k, v in median.items()}
    faster = max(per_hour, key=per_hour.get)
    picked = auto_scheduler("cpu")
    print(f"sweep throughput, {args.runs} dense LeNet-300-100 runs of {args.epochs} epoch(s) on {args.dataset}, "
          f"{cores} cores, median of {args.reps}:")
    print(f"  serial (1 process, {cores} torch threads): {median['serial']:.1f} s, {per_hour['serial']:.0f} runs/hour")
    print(f"  local cluster ({cores} workers x 1 thread): {median['local']:.1f} s, {per_hour['local']:.0f} runs/hour")
    print(f"  cluster / serial throughput: {per_hour['local'] / per_hour['serial']:.2f}x")
    print(f"  auto_scheduler picks {picked!r} here; the faster was {faster!r}"
          f" ({'agrees' if picked == faster else 'DISAGREES: see glth_core.runs.sweep.LOCAL_CLUSTER_MIN_CORES'})")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    sys.exit(main())
