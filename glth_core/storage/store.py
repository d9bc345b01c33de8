r"""Results folder, run folders and per-round checkpoints (atomic writes: :mod:`glth_core.storage.atomic`).

Layout::

    <results>/                      GLTH_RESULTS_DIR, default ./results
        <kind>_<hash>/              one run (see hparams.run_key)
            hparams.json            the run's identity (hyperparameters, version, source hash)
            round_0000.pt           checkpoint of each finished round (checksummed, see below)
            round_0001.pt
            round_0001.pt.corrupt-1 a checkpoint that failed its checksum or did not load, moved aside
            rounds.csv              one row per finished round (rewritten after each round)
            provenance.json         only in runs unpacked from an archive (see glth_core.runs.archive)
        .locks/<kind>_<hash>.lock   the run's lock (see run_lock)

A run that fails before its first round is finished leaves no run folder.

Every file is written atomically: to a temporary file in the same folder, then
``os.replace`` onto its name (atomic on POSIX), so a killed process leaves
either the old file or the new one, never a half-written file that a later
run would trust. A round is finished if and only if its checkpoint exists and
loads; ``rounds.csv`` is derived from the checkpoints.

Checkpoints are plain dicts of tensors and numbers (state dicts, not
modules: ``torch.save(model)`` does not work for parametrized modules) and
are loaded with ``torch.load(weights_only=True)``. A checkpoint file is one
header line, ``glth-checkpoint sha256=<64 hex digits>\n``, followed by the
``torch.save`` bytes whose SHA-256 it states. A checkpoint that fails its
checksum (flipped bits, truncated, empty, no header) or does not load is moved
aside to ``<name>.corrupt-<n>`` with a one-line warning naming it, and its round
counts as not finished, so the run recomputes it (bit-identically: every round
is seeded) and goes on.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .atomic import (MIN_FREE_BYTES, StorageError, atomic_write_bytes, atomic_write_text, check_writable,
                     default_results_dir)

__all__ = [
    "StorageError",
    "CorruptCheckpoint",
    "CorruptCheckpointWarning",
    "MIN_FREE_BYTES",
    "default_results_dir",
    "check_writable",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_torch_save",
    "atomic_write_csv",
    "read_checkpoint",
    "RunStore",
    "run_lock",
]

class CorruptCheckpoint(ValueError):
    """A checkpoint file fails its checksum or does not load."""


class CorruptCheckpointWarning(UserWarning):
    """A corrupt checkpoint was moved aside and its round will be recomputed."""


#: Start of a checkpoint file; the hex SHA-256 of the payload and a newline follow.
CHECKPOINT_HEADER = b"glth-checkpoint sha256="


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj)`` to ``path`` atomically."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """``df.to_csv(index=False)`` to ``path`` atomically."""
    atomic_write_text(path, df.to_csv(index=False))


def read_checkpoint(data: bytes, map_location="cpu") -> dict:
    """The checkpoint dict in the bytes ``data`` of a checkpoint file; :class:`CorruptCheckpoint` if it
    fails its checksum or does not load."""
    head, newline, payload = data.partition(b"\n")
    if not head.startswith(CHECKPOINT_HEADER) or not newline:
        raise CorruptCheckpoint("empty" if not data else "no checksum header: truncated or not a checkpoint")
    if hashlib.sha256(payload).hexdigest().encode() != head[len(CHECKPOINT_HEADER):]:
        raise CorruptCheckpoint("its content does not match its SHA-256 checksum")
    try:
        checkpoint = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as err:  # the checksum held, but the payload is not a loadable checkpoint
        raise CorruptCheckpoint(f"does not load: {type(err).__name__}: {err}") from err
    if not isinstance(checkpoint, dict):
        raise CorruptCheckpoint(f"holds a {type(checkpoint).__name__}, not a dict")
    return checkpoint


def _move_aside(path: Path, data: bytes) -> Path | None:
    """Rename ``path`` to the first free ``<name>.corrupt-<n>``, unless its content is no longer ``data``
    (another process replaced it meanwhile); returns the new path or None."""
    n = 1
    while path.with_name(f"{path.name}.corrupt-{n}").exists():
        n += 1
    aside = path.with_name(f"{path.name}.corrupt-{n}")
    try:
        if path.read_bytes() != data:
            return None
        os.replace(path, aside)
    except FileNotFoundError:
        return None
    return aside


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike):
    """Hold an exclusive lock for run folder ``folder`` while the block runs (blocks until free).

    The lock file is ``<results>/.locks/<run_id>.lock``, outside the run folder, so that a
    run folder can be removed (a run that failed before its first round) while another
    process waits for it. Two processes that reach the same run (two sweeps over one
    results folder, a Dask task retried while its first attempt still runs) take turns:
    the second finds the first one's checkpoints instead of redoing or overwriting them.
    POSIX ``flock`` locks are released by the kernel when their holder dies, so a
    killed worker never leaves a stale lock.
    """
    folder = Path(folder)
    lock_file = folder.parent / ".locks" / f"{folder.name}.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class RunStore:
    """The folder of one run: ``<results>/<run_id>/``.

    ``RunStore(results_dir, run_id, identity)`` checks the results folder is
    writable and writes ``hparams.json`` (its content must equal ``identity`` if
    the file exists already). Free space (:data:`MIN_FREE_BYTES`) is checked when
    a round turns out not to be finished (:meth:`load_round` returns None: it is
    about to be computed), so reading a finished run needs no free space.
    """

    def __init__(self, results_dir: str | os.PathLike | None, run_id: str, identity: dict):
        root = check_writable(default_results_dir(results_dir), min_free_bytes=0)
        self._space_checked = False
        self._stored_rows: dict[int, tuple[tuple[int, int], dict]] = {}
        self.path = root / run_id
        self.run_id = run_id
        self.path.mkdir(parents=True, exist_ok=True)
        hp_file = self.path / "hparams.json"
        text = self._identity_text = json.dumps(identity, sort_keys=True, indent=2) + "\n"
        if hp_file.exists():
            if json.loads(hp_file.read_text()) != json.loads(text):
                raise StorageError(
                    f"{hp_file} describes another run (hash collision or edited file); delete {self.path} to redo it"
                )
        else:
            atomic_write_text(hp_file, text)

    @contextlib.contextmanager
    def lock(self):
        """Context manager: exclusive access to this run's folder (:func:`run_lock`).

        On leaving it, a run folder without a finished round (the run failed or diverged in
        round 0) is removed, unless it holds something else (a checkpoint moved aside), so a
        failed run leaves nothing behind; :meth:`save_round` recreates the folder.
        """
        with run_lock(self.path):
            try:
                yield
            finally:
                self._discard_if_unfinished()

    def _discard_if_unfinished(self) -> None:
        try:
            names = {p.name for p in self.path.iterdir()}
        except FileNotFoundError:
            return
        if names and names <= {"hparams.json", "rounds.csv"}:
            for name in names:
                (self.path / name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.path.rmdir()

    def checkpoint_path(self, round_index: int) -> Path:
        return self.path / f"round_{round_index:04d}.pt"

    def has_round(self, round_index: int) -> bool:
        return self.checkpoint_path(round_index).exists()

    def save_round(self, round_index: int, state: dict) -> None:
        """Atomically save the checkpoint of a finished round, with the checksum of its content."""
        buffer = io.BytesIO()
        torch.save(state, buffer)
        payload = buffer.getvalue()
        header = CHECKPOINT_HEADER + hashlib.sha256(payload).hexdigest().encode() + b"\n"
        if not (self.path / "hparams.json").exists():  # the folder of a failed attempt was removed meanwhile
            atomic_write_text(self.path / "hparams.json", self._identity_text)
        atomic_write_bytes(self.checkpoint_path(round_index), header + payload)

    def load_round(self, round_index: int, map_location="cpu") -> dict | None:
        """The checkpoint of round ``round_index``, or None if that round is not finished.

        A corrupt checkpoint is moved aside with a :class:`CorruptCheckpointWarning`
        (the round is then not finished).
        """
        path = self.checkpoint_path(round_index)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return self._not_finished()
        try:
            return read_checkpoint(data, map_location)
        except CorruptCheckpoint as err:
            aside = _move_aside(path, data)
            where = f"moved to {aside.name}" if aside else "replaced by another process meanwhile"
            warnings.warn(f"checkpoint {path} is corrupt ({err}); {where}, round {round_index} will be recomputed",
                          CorruptCheckpointWarning, stacklevel=2)
            return self._not_finished()

    def _not_finished(self) -> None:
        """A round is about to be computed: check (once) that the results folder has room for it."""
        if not self._space_checked:
            check_writable(self.path.parent)
            self._space_checked = True
        return None

    def _stored_row(self, round_index: int) -> dict | None:
        """The table row in the checkpoint of a finished round (cached while the file is unchanged)."""
        path = self.checkpoint_path(round_index)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._stored_rows.get(round_index)
        if cached is None or cached[0] != stamp:
            try:
                row = read_checkpoint(path.read_bytes()).get("row")
            except (CorruptCheckpoint, FileNotFoundError):
                return None
            if not isinstance(row, dict):
                return None
            cached = self._stored_rows[round_index] = (stamp, row)
        return cached[1]

    def write_table(self, rows: list[dict]) -> pd.DataFrame:
        """Write ``rounds.csv`` atomically from the checkpoints; return ``rows`` as a DataFrame.

        The file holds ``rows`` (the rounds asked for) followed by the rows of the finished rounds
        after them (asking for fewer rounds of a longer run must not shrink the table of what is
        finished), read from their checkpoints, so a table edited by hand is rewritten to what the
        checkpoints say.
        """
        df = pd.DataFrame(rows)
        table = list(rows)
        if rows and all(isinstance(row.get("round"), int) for row in rows):
            r = max(row["round"] for row in rows) + 1
            while (row := self._stored_row(r)) is not None:
                table.append(row)
                r += 1
        text = pd.DataFrame(table).to_csv(index=False)
        path = self.path / "rounds.csv"
        try:
            if path.read_text() == text:
                return df
        except (FileNotFoundError, UnicodeDecodeError):
            pass
        atomic_write_text(path, text)
        return df
