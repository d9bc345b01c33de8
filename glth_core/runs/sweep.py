r"""Sweeps: many runs at once, serially or on a Dask distributed cluster.

A sweep is a list of run hyperparameters (:class:`~glth_core.engine.hparams.ImpHparams`
or :class:`~glth_core.engine.hparams.SubspaceHparams`), usually made by :func:`grid`.
Each run becomes one task; a task is the engine's own cached, resumable run
(:func:`glth_core.engine.lottery.run_imp`, :func:`glth_core.engine.subspace.run_subspace`),
so

* a resubmitted sweep finds finished runs in the results folder and trains
  nothing;
* a run whose worker died is retried by Dask on another worker and resumes
  from its last finished round (Dask reschedules the tasks of a lost worker);
* a run that fails by itself (NaN loss, bad hyperparameter) is reported with
  its hyperparameters and error, and the rest of the sweep finishes;
* runs are deduplicated on their whole hyperparameter tuple; IMP runs that differ
  only in ``rounds`` (which is not part of the run key) share one run folder and run
  once, with the most rounds asked for, so the table holds every round of every
  grid point (``grid(..., rounds=[1, 3])`` gives rounds 0-3, each once).

Where the work runs (``scheduler``):

* ``None`` or ``"auto"`` (the default): whichever is faster where it runs,
  :func:`auto_scheduler`: ``"serial"`` on a machine with fewer than
  :data:`LOCAL_CLUSTER_MIN_CORES` cores or when the runs go to a GPU, ``"local"``
  otherwise. On a 2-core CPU, two single-threaded worker processes train at
  0.7x the throughput of one process with two threads (``make bench`` prints
  this measurement); small networks scale poorly over threads, so on many cores
  one process per core wins;
* ``"local"``: a :class:`distributed.LocalCluster` sized to the
  machine: ``n_workers`` processes (default: the number of cores, at most the
  number of runs) with one thread each, torch limited to
  ``cores // n_workers`` threads per worker so that workers do not
  oversubscribe the cores;
* ``"serial"``: in this process, one run after the other (no Dask);
* ``"tcp://HOST:PORT"`` (any scheduler address): an existing cluster, e.g.
  one started by ``dask-jobqueue`` on Slurm/PBS. The results folder must then
  be a path that every worker can reach (a shared file system).

Workers write their runs into the shared results folder, each run in its own
folder named by its hash; two processes that reach the same run serialise on its
lock file (:func:`glth_core.storage.store.run_lock`), and every file is written atomically, so two
sweeps over one results folder never corrupt each other. The tables of all
runs are sent back to the client and merged into one tidy table, bit-identical
to the same runs done serially with the same number of torch threads (on a CPU
the thread count changes the order of floating-point reductions).
"""
from __future__ import annotations

import logging
import dataclasses
import itertools
import os
import sys
import time
import traceback
from typing import Any, Iterable, Sequence

import pandas as pd

from ..engine.hparams import ImpHparams, SubspaceHparams, update
from ..engine.run_identity import run_key
from ..engine.validation import validate
from ..storage.store import default_results_dir

__all__ = ["grid", "sweep", "run_one", "SweepFailure", "default_workers", "auto_scheduler", "check_scheduler",
           "LOCAL_CLUSTER_MIN_CORES"]

#: Below this many cores, ``scheduler="auto"`` runs a sweep in this process.
LOCAL_CLUSTER_MIN_CORES = 8


# --------------------------------------------------------------------------- building sweeps


def grid(base, **axes: Sequence[Any]) -> list:
    """All combinations of the given flag values on top of ``base``.

    ``grid(ImpHparams(), basis=["canonical", "dct"], seed=[0, 1])`` gives four
    runs, in the order of ``itertools.product`` (last axis fastest).

    Args:
        base: the hyperparameters that the axes change (``ImpHparams`` or ``SubspaceHparams``).
        **axes: flag name -> values; the names are those of
            :func:`glth_core.engine.hparams.update` (``model``, ``dataset``, ``basis``, ``epochs``,
            ``control``, ...). A scalar value is treated as a one-element axis.

    Returns:
        A list of hyperparameters, one per combination.

    Raises:
        ValueError: an empty axis.
        TypeError: an unknown flag.
    """
    names = list(axes)
    values = [v if isinstance(v, (list, tuple, range)) else [v] for v in axes.values()]
    for name, vals in zip(names, values):
        if len(vals) == 0:
            raise ValueError(f"grid axis {name!r} is empty; give at least one value")
    return [update(base, **dict(zip(names, combo))) for combo in itertools.product(*values)]


def _kind(hparams) -> str:
    if isinstance(hparams, ImpHparams):
        return "imp"
    if isinstance(hparams, SubspaceHparams):
        return "subspace"
    raise TypeError(
        f"a sweep runs ImpHparams or SubspaceHparams, got {type(hparams).__name__}; build runs with glth_core.runs.sweep.grid"
    )


# --------------------------------------------------------------------------- one run


def run_one(hparams, results_dir=None, *, device=None, progress=False, torch_threads: int | None = None,
            depends_on=None) -> pd.DataFrame:
    """Run (or find) one run of a sweep and return its table (the task every worker executes).

    ``torch_threads`` limits torch's intra-op threads in this process.
    ``depends_on`` is ignored: it lets Dask order a control after its ticket.
    """
    if torch_threads:
        import torch

        torch.set_num_threads(int(torch_threads))
    if _kind(hparams) == "imp":
        from ..engine.lottery import run_imp

        return run_imp(hparams, results_dir, device=device, progress=progress)
    from ..engine.subspace import run_subspace

    return run_subspace(hparams, results_dir, device=device, progress=progress)


# --------------------------------------------------------------------------- failures


@dataclasses.dataclass
class SweepFailure:
    """A run of a sweep that failed by itself: its hyperparameters and error."""

    run_id: str
    hparams: Any
    error: str

    def __str__(self) -> str:
        return f"{self.run_id} failed: {self.error}"


def _ticket_of(hparams):
    """The ticket run a control run needs first (None for tickets and subspace runs)."""
    if isinstance(hparams, ImpHparams) and hparams.pruning.control != "ticket":
        return dataclasses.replace(hparams, pruning=dataclasses.replace(hparams.pruning, control="ticket"))
    return None


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(n_runs: int) -> int:
    """Worker processes for a local cluster: the cores of this machine, at most one per run."""
    return max(1, min(_cores(), n_runs))


def auto_scheduler(device=None, cores: int | None = None) -> str:
    """``"serial"`` or ``"local"``: the faster way to run a sweep here (see the module docstring).

    ``device``: where the runs train (``None``/``"auto"``: CUDA if available);
    ``cores``: this machine's cores (default: counted).
    """
    from ..engine.training import resolve_device

    if resolve_device(device).type == "cuda":
        return "serial"  # one process keeps the GPU busy; worker processes would each hold a CUDA context
    return "serial" if (cores or _cores()) < LOCAL_CLUSTER_MIN_CORES else "local"


# --------------------------------------------------------------------------- the sweep


def _with_rounds(hparams, rounds: int):
    return dataclasses.replace(hparams, pruning=dataclasses.replace(hparams.pruning, rounds=rounds))


def _dedupe(runs: Iterable) -> list:
    """The distinct runs of ``runs`` in first-seen order, one per run folder.

    Runs are compared on their whole hyperparameter tuple. IMP runs that differ only in
    ``rounds`` share one folder (``rounds`` is not part of the run key): they become one
    run with the most rounds asked for, whose table holds every round any of them asked for.
    """
    by_key: dict[str, Any] = {}
    for hp in runs:
        key = run_key(_kind(hp), hp)
        kept = by_key.get(key)
        if kept is None:
            by_key[key] = hp
        elif isinstance(hp, ImpHparams) and hp.pruning.rounds > kept.pruning.rounds:
            by_key[key] = _with_rounds(kept, hp.pruning.rounds)
    return list(by_key.values())


def check_scheduler(address: str, *, timeout: float = 5.0, name: str = "scheduler") -> None:
    """Check that a Dask scheduler listens at ``address`` (``tcp://HOST:PORT``), within ``timeout`` seconds.

    Dask's own client waits 30 s before it reports an unreachable scheduler; this fails in
    ``timeout`` seconds with a message naming ``name`` (a flag or a chapter parameter).
    Addresses of other protocols (``tls://``, ``ucx://``, ...) are only checked for their form.

    Raises:
        ValueError: the address is malformed, or nothing accepts a connection there.
    """
    import socket
    from urllib.parse import urlsplit

    if not isinstance(address, str) or "://" not in address:
        raise ValueError(f"{name} must be 'auto', 'local', 'serial' or an address like tcp://HOST:PORT, "
                         f"got {address!r}")
    parts = urlsplit(address)
    if parts.scheme != "tcp":
        return
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ValueError(f"{name} {address}: expected tcp://HOST:PORT, e.g. tcp://10.0.0.1:8786")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        raise ValueError(f"{name} {address}: no Dask scheduler reachable there ({err.strerror or err}); start one "
                         f"(dask scheduler, dask-jobqueue) or pass another address, or use 'auto'") from None


def _merge(tables: list[pd.DataFrame]) -> pd.DataFrame:
    tables = [t for t in tables if t is not None and len(t)]
    if not tables:
        return pd.DataFrame()
    return pd.concat(tables, ignore_index=True)


def _report_failures(failures: list[SweepFailure]) -> None:
    for failure in failures:
        print(f"sweep: run {failure.run_id} failed ({failure.error}); hyperparameters: {failure.hparams}",
              file=sys.stderr)


def _serial(runs, results_dir, device, progress) -> tuple[list, list[SweepFailure]]:
    from ..engine.training import progress_bar

    tables, failures = [], []
    for hp in progress_bar(iterable=runs, desc="sweep (serial)", unit="run", disable=not progress):
        try:
            tables.append(run_one(hp, results_dir, device=device, progress=False))
        except Exception as err:  # a run that fails by itself must not stop the sweep
            failures.append(SweepFailure(run_key(_kind(hp), hp), hp, f"{type(err).__name__}: {err}"))
    return tables, failures


def _client(scheduler, n_workers: int):
    from distributed import Client, LocalCluster

    if scheduler in (None, "local"):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        return Client(cluster), cluster
    return Client(scheduler), None


def sweep(runs: Sequence, *, scheduler: str | None = None, n_workers: int | None = None, results_dir=None,
          device=None, progress: bool | None = None, retries: int = 2, errors: str = "report",
          client=None) -> pd.DataFrame:
    """Run every run of ``runs`` (skipping finished ones) and merge their tables.

    Args:
        runs: hyperparameters (``ImpHparams`` or ``SubspaceHparams``), e.g. from :func:`grid`.
        scheduler: ``None``/``"auto"`` (:func:`auto_scheduler`), ``"local"`` (a local
            cluster), ``"serial"``, or a Dask scheduler address.
        n_workers: local cluster size (default :func:`default_workers`).
        results_dir: as for :func:`glth_core.engine.lottery.run_imp`.
        device: as for :func:`glth_core.engine.lottery.run_imp`.
        progress: a progress bar over the runs (``None``: when stderr is a terminal).
        retries: Dask retries of a task that raised (a lost worker is handled by Dask itself).
        errors: ``"report"`` prints each failed run with its hyperparameters and keeps the
            others; ``"raise"`` raises a RuntimeError listing them after the sweep finished.
        client: an existing ``distributed.Client`` (overrides ``scheduler``).

    Returns:
        The merged tidy table (one row per run and round); the failures are in
        ``table.attrs["failures"]`` (a list of :class:`SweepFailure`).

    Raises:
        ValueError: a bad ``errors``, ``n_workers`` or ``scheduler``.
        RuntimeError: with ``errors="raise"``, some runs failed.
    """
    if errors not in ("report", "raise"):
        raise ValueError(f"errors must be 'report' or 'raise', got {errors!r}")
    if n_workers is not None and (isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1):
        raise ValueError(f"n_workers must be None (one per core) or an int >= 1, got {n_workers!r}")
    if client is None and scheduler not in (None, "auto", "local", "serial") and (
            not isinstance(scheduler, str) or "://" not in scheduler):
        raise ValueError(f"scheduler must be None, 'auto', 'local', 'serial' or an address like tcp://HOST:PORT, "
                         f"got {scheduler!r}")
    if client is None and scheduler not in (None, "auto", "local", "serial"):
        check_scheduler(scheduler)  # seconds, not the 30 s Dask's client waits for an address that does not answer
    if client is None and scheduler in (None, "auto", "local", "serial"):
        from ..engine.training import resolve_device

        resolve_device(device)  # runs on this machine: its device must exist (a remote cluster checks its own)
    if client is None and scheduler in (None, "auto"):
        scheduler = auto_scheduler(device)
    runs = list(runs)
    for hp in runs:
        _kind(hp)
        validate(hp)  # bad hyperparameters fail here, before any cluster starts
    runs = _dedupe(runs)
    if progress is None:
        progress = sys.stderr.isatty() or "ipykernel" in sys.modules
    results_dir = str(default_results_dir(results_dir))
    start = time.perf_counter()

    if client is None and scheduler == "serial":
        tables, failures = _serial(runs, results_dir, device, progress)
    else:
        tables, failures = _distributed(runs, results_dir, device, progress, retries, scheduler, n_workers, client)

    table = _merge(tables)
    table.attrs["failures"] = failures
    table.attrs["wall_time_s"] = time.perf_counter() - start
    if failures:
        _report_failures(failures)
        if errors == "raise":
            raise RuntimeError("sweep finished with failed runs:\n" + "\n".join(map(str, failures)))
    return table


def _distributed(runs, results_dir, device, progress, retries, scheduler, n_workers, client):
    from distributed import as_completed

    from ..engine.training import progress_bar

    own_cluster, own_client = None, client is None
    if client is None:
        n_workers = n_workers or default_workers(len(runs))
        client, own_cluster = _client(scheduler, n_workers)
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})) or (n_workers or 1))
        cores = default_workers(10**6)
        threads = max(1, cores // workers) if own_cluster is not None else None
        if getattr(client, "dashboard_link", None):
            print(f"sweep: {len(runs)} runs on {workers} Dask workers; dashboard: {client.dashboard_link}",
                  file=sys.stderr)

        futures, by_key = {}, {}
        # tickets first, so that controls can depend on them instead of racing them
        ordered = sorted(runs, key=lambda hp: _ticket_of(hp) is not None)
        for hp in ordered:
            key = run_key(_kind(hp), hp)
            ticket = _ticket_of(hp)
            dependency = by_key.get(run_key("imp", ticket)) if ticket is not None else None
            future = client.submit(run_one, hp, results_dir, device=device, progress=False, torch_threads=threads,
                                   depends_on=dependency, key=f"run-{key}", retries=retries, pure=False)
            futures[future] = hp
            by_key[key] = future

        tables, failures = [], []
        bar = progress_bar(total=len(futures), desc="sweep", unit="run", disable=not progress)
        try:
            for future in as_completed(list(futures)):
                hp = futures[future]
                if future.status == "finished":
                    tables.append(future.result())
                else:
                    err = future.exception()
                    failures.append(SweepFailure(run_key(_kind(hp), hp), hp, f"{type(err).__name__}: {err}"))
                done = len(tables) + len(failures)
                bar.set_postfix(finished=len(tables), failed=len(failures), running=len(futures) - done)
                bar.update(1)
        finally:
            bar.close()
        # keep the submission order in the merged table
        order = {run_key(_kind(hp), hp): i for i, hp in enumerate(runs)}
        tables.sort(key=lambda t: order.get(t["run_id"].iloc[0], 0) if len(t) else 0)
        return tables, failures
    finally:
        if own_client:  # a client this sweep opened, to its own cluster or to a scheduler address
            client.close()
        if own_cluster is not None:
            own_cluster.close()
