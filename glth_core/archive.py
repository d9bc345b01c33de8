r"""Results that travel: pack a results folder into one checked archive, unpack it safely elsewhere.

Archive layout (a gzip-compressed tar)::

    results/<run_id>/hparams.json   the run folders of the results store (see glth_core.store)
    results/<run_id>/round_0000.pt
    results/<run_id>/rounds.csv
    manifest.json                   format, date, provenance, runs, SHA-256 and size of every file

``manifest.json`` holds ``format`` (:data:`FORMAT`), ``created`` (UTC, ISO 8601),
``glth_core`` (version and :func:`~glth_core.hparams.source_hash` of the packing
code), ``hardware`` (:func:`hardware`: torch version, CUDA device name or CPU,
torch threads, CPU count, platform), ``runs`` (``{run_id: {"identity",
"provenance"}}``: the content of the run's ``hparams.json`` (kind,
hyperparameters, library version and source hash, which the run key hashes) and
where it comes from) and ``files`` (``{member: {"sha256", "size"}}``).
Provenance is ``{"packed": date, "hardware": ...}`` of the machine that first
packed the run; unpacking writes it to the run's ``provenance.json``, and a
later pack of that folder carries it on unchanged (so a run keeps the GPU box
it was computed on, not the laptop that repacked it). Packing only reads the
results folder.

Unpacking (:func:`unpack`) trusts nothing in the archive:

* every member must be a regular file or directory named ``manifest.json`` or
  ``results/<run_id>/<file>`` (no absolute path, no ``..``, no deeper folders, no
  symbolic or hard link, no device or FIFO, no duplicate name); anything else
  is refused with :class:`UnsafeArchiveError` naming the member, before
  anything is written;
* the manifest must list exactly the archive's files, and each file's SHA-256
  and size must match (checked while the files are extracted to a staging
  folder inside the results folder, which is removed afterwards);
* a run is installed only if its folder name is the run key that *this* code
  computes for its hyperparameters (:func:`~glth_core.hparams.run_key`, which
  hashes the library version and source): a run computed by other code is
  skipped as stale, so it is never shown as current;
* a run that already has a finished round in the destination is left alone
  (never overwritten, never mixed with another machine's rounds).

Files are moved into place with ``os.replace`` under the run's lock, the
checkpoints before ``rounds.csv``; a round is finished iff its checkpoint exists,
and every installed checkpoint has been verified, so an interrupted unpack
leaves only finished rounds behind.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import platform
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["FORMAT", "UnsafeArchiveError", "UnpackedRun", "pack", "unpack", "hardware"]

#: Value of ``manifest.json``'s ``format``.
FORMAT = "glth_core-results/1"

_MANIFEST = "manifest.json"
_PROVENANCE = "provenance.json"
_ROOT = "results"
_RUN_ID = re.compile(r"^[a-z0-9]+_[0-9a-f]{12}$")
_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_CHUNK = 2**20


class UnsafeArchiveError(ValueError):
    """The archive holds a member that would leave the results store, or fails its manifest check."""


@dataclass(frozen=True)
class UnpackedRun:
    """What :func:`unpack` did with one packed run: ``status`` is ``"installed"``,
    ``"stale"`` (another code version or key: not reused) or ``"exists"`` (the
    destination already has finished rounds of it: left alone)."""

    run_id: str
    status: str
    message: str


def hardware() -> dict:
    """The machine's description for provenance: torch, device, threads, CPUs, platform."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if cuda else (platform.processor() or platform.machine() or "cpu"),
        "cuda": torch.version.cuda if cuda else None,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _run_folders(root: Path, runs) -> list[Path]:
    if runs is None:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and _RUN_ID.match(p.name)
                         and (p / "hparams.json").is_file())
    else:
        folders = []
        for run_id in runs:
            p = root / str(run_id)
            if not _RUN_ID.match(str(run_id)) or not (p / "hparams.json").is_file():
                raise ValueError(f"runs: {run_id!r} is not a run folder of {str(root)!r} (a folder <kind>_<hash> "
                                 "holding hparams.json)")
            folders.append(p)
    if not folders:
        raise ValueError(f"no runs to pack in {str(root)!r}: it has no <kind>_<hash> folder with an hparams.json; "
                         "pass --results-dir or set GLTH_RESULTS_DIR")
    return folders


def pack(file: str | os.PathLike, results_dir: str | os.PathLike | None = None, runs=None) -> Path:
    """Write the runs of ``results_dir`` (default ``$GLTH_RESULTS_DIR`` or ``./results``) to ``file``.

    ``runs``: run ids to pack (default: every run folder). Lock files and temporary
    files are left out; the results folder is only read. Each file is read once, and
    hashed and archived from those bytes, so a run that is still training is packed
    consistently file by file. The archive is written to a temporary file next to
    ``file`` and renamed onto it. Returns ``Path(file)``.
    """
    from .hparams import source_hash
    from .store import default_results_dir

    import glth_core

    root = default_results_dir(results_dir)
    if not root.is_dir():
        raise ValueError(f"results folder {str(root)!r} does not exist; pass --results-dir or set GLTH_RESULTS_DIR")
    folders = _run_folders(root, runs)
    created = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    packed_here = {"packed": created.isoformat(), "hardware": hardware()}
    manifest = {"format": FORMAT, "created": created.isoformat(),
                "glth_core": {"version": glth_core.__version__, "source": source_hash()},
                "hardware": packed_here["hardware"], "runs": {}, "files": {}}

    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            def add(name: str, data: bytes) -> None:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), int(created.timestamp()), 0o644
                tar.addfile(info, io.BytesIO(data))

            for folder in folders:
                files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())
                         if p.is_file() and not p.is_symlink() and _FILE.match(p.name)}  # skips .lock, .*.tmp
                provenance = json.loads(files.pop(_PROVENANCE)) if _PROVENANCE in files else packed_here
                manifest["runs"][folder.name] = {"identity": json.loads(files["hparams.json"]),
                                                 "provenance": provenance}
                for name, data in files.items():
                    member = f"{_ROOT}/{folder.name}/{name}"
                    manifest["files"][member] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                    add(member, data)
            add(_MANIFEST, (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode())
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return file


def _check_member(member: tarfile.TarInfo) -> None:
    """Raise :class:`UnsafeArchiveError` unless ``member`` is a regular file or folder inside the store."""
    name = member.name
    where = f"archive member {name!r}"
    if name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
        raise UnsafeArchiveError(f"{where} has an absolute path; refusing to unpack")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise UnsafeArchiveError(f"{where} contains '..' (it would leave the results folder); refusing to unpack")
    if member.issym() or member.islnk():
        raise UnsafeArchiveError(f"{where} is a {'symbolic' if member.issym() else 'hard'} link (to "
                                 f"{member.linkname!r}); results archives hold regular files only")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"{where} is a device, FIFO or other special file; results archives hold "
                                 "regular files only")
    parts = tuple(p for p in parts if p != ".")
    if member.isdir():
        ok = parts == (_ROOT,) or (len(parts) == 2 and parts[0] == _ROOT and _RUN_ID.match(parts[1]))
    else:
        ok = parts == (_MANIFEST,) or (len(parts) == 3 and parts[0] == _ROOT and _RUN_ID.match(parts[1])
                                       and _FILE.match(parts[2]))
    if not ok:
        raise UnsafeArchiveError(f"{where} is outside the results store: expected {_MANIFEST} or "
                                 f"{_ROOT}/<kind>_<hash>/<file>")


def _current_identity(stored) -> tuple[dict | None, str | None]:
    """``(identity, run key)`` this code gives the packed run's hyperparameters (``None``s if it cannot)."""
    from .hparams import ImpHparams, SubspaceHparams, from_dict, identity, run_key

    cls = {"imp": ImpHparams, "subspace": SubspaceHparams}.get(stored.get("kind")) if isinstance(stored, dict) else None
    if cls is None or not isinstance(stored.get("hparams"), dict):
        return None, None
    try:
        hparams = from_dict(cls, stored["hparams"])
    except (TypeError, ValueError):  # hyperparameters this code does not know
        return None, None
    return identity(stored["kind"], hparams), run_key(stored["kind"], hparams)


def _install(staged: Path, dest: Path, provenance: dict) -> bool:
    """Move the verified files of ``staged`` into run folder ``dest`` unless it has a finished round."""
    from .store import atomic_write_text, run_lock

    with run_lock(dest):
        if any(dest.glob("round_*.pt")):
            return False
        atomic_write_text(dest / _PROVENANCE, json.dumps(provenance, sort_keys=True, indent=2) + "\n")
        # hparams first (the run's identity), checkpoints next, the derived table last
        for name in sorted((p.name for p in staged.iterdir()), key=lambda n: (n != "hparams.json", n == "rounds.csv", n)):
            os.replace(staged / name, dest / name)
    return True


def unpack(file: str | os.PathLike, results_dir: str | os.PathLike | None = None,
           log=print) -> list[UnpackedRun]:
    """Check ``file`` and install its reusable runs into ``results_dir`` (see the module docstring).

    ``log``: called with one line per run (default ``print``; ``None``: silent).
    Raises :class:`UnsafeArchiveError` (a ``ValueError``) for an unsafe or corrupt
    archive, before any run is installed. Returns one :class:`UnpackedRun` per packed run.
    """
    from .store import check_writable, default_results_dir

    file = Path(file)
    if not file.is_file():
        raise ValueError(f"archive {str(file)!r} does not exist")
    try:
        tar = tarfile.open(file, mode="r:*")
    except tarfile.TarError as e:
        raise UnsafeArchiveError(f"{str(file)!r} is not a results archive (tar.gz written by 'results pack'): {e}") \
            from None
    root = check_writable(default_results_dir(results_dir))
    with tar:
        members = tar.getmembers()
        seen: set[str] = set()
        for member in members:
            _check_member(member)
            key = member.name.rstrip("/")
            if key in seen:
                raise UnsafeArchiveError(f"archive member {member.name!r} appears twice; refusing to unpack")
            seen.add(key)
        files = {m.name: m for m in members if m.isfile()}
        if _MANIFEST not in files:
            raise UnsafeArchiveError(f"{str(file)!r} has no {_MANIFEST}; it was not written by 'results pack'")
        try:
            manifest = json.loads(tar.extractfile(files.pop(_MANIFEST)).read())
            listed = manifest["files"]
            packed_runs = manifest["runs"]
            if manifest.get("format") != FORMAT:
                raise KeyError("format")
        except (ValueError, KeyError, TypeError) as e:
            raise UnsafeArchiveError(f"{_MANIFEST} of {str(file)!r} is unreadable or of another format "
                                     f"(expected {FORMAT!r}): {e}") from None
        if set(listed) != set(files):
            extra, missing = sorted(set(files) - set(listed)), sorted(set(listed) - set(files))
            raise UnsafeArchiveError(f"archive files and {_MANIFEST} disagree: not listed {extra}, missing {missing}")
        in_folders = {PurePosixPath(name).parts[1] for name in files}
        if in_folders - set(packed_runs):
            raise UnsafeArchiveError(f"run folders {sorted(in_folders - set(packed_runs))} are not in {_MANIFEST}")

        staging = Path(tempfile.mkdtemp(dir=root, prefix=".unpack-"))
        try:
            for name, member in files.items():
                target = staging.joinpath(*PurePosixPath(name).parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                digest, size = hashlib.sha256(), 0
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    for block in iter(lambda: src.read(_CHUNK), b""):
                        digest.update(block)
                        size += len(block)
                        dst.write(block)
                expected = listed[name]
                if not isinstance(expected, dict) or digest.hexdigest() != expected.get("sha256") \
                        or size != expected.get("size"):
                    raise UnsafeArchiveError(f"archive member {name!r} does not match its SHA-256/size in "
                                             f"{_MANIFEST}: the archive is corrupt or was altered")
            outcomes = []
            for run_id, packed in sorted(packed_runs.items()):
                if not _RUN_ID.match(run_id) or not (staging / run_id / "hparams.json").is_file() \
                        or not isinstance(packed, dict):
                    raise UnsafeArchiveError(f"run {run_id!r} of {_MANIFEST} has no hparams.json in the archive")
                stored = json.loads((staging / run_id / "hparams.json").read_text())
                current, key = _current_identity(stored)
                if stored != packed.get("identity") or current != stored or key != run_id:
                    outcome = UnpackedRun(run_id, "stale", f"{run_id}: skipped, computed by other code or "
                                          f"hyperparameters (this code's key for them: {key}); not reused")
                elif _install(staging / run_id, root / run_id, packed.get("provenance") or {}):
                    outcome = UnpackedRun(run_id, "installed", f"{run_id}: installed")
                else:
                    outcome = UnpackedRun(run_id, "exists", f"{run_id}: already has finished rounds in "
                                          f"{str(root)!r}; left as it is")
                outcomes.append(outcome)
                if log is not None:
                    log(outcome.message)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return outcomes


# --------------------------------------------------------------------------- command line


def add_parser(subparsers) -> None:
    """Add ``results pack FILE`` / ``results unpack FILE`` to the CLI's subparsers."""
    results = subparsers.add_parser("results", help="pack a results folder into an archive, or unpack one",
                                    description="Carry results with their provenance between machines.")
    actions = results.add_subparsers(dest="action", required=True)
    pack_parser = actions.add_parser("pack", help="write the results folder's runs to a .tar.gz archive")
    pack_parser.add_argument("file", help="the archive to write, e.g. results.tar.gz")
    pack_parser.add_argument("--runs", default=None, help="comma-separated run ids (default: every run)")
    unpack_parser = actions.add_parser("unpack", help="check an archive and install its reusable runs")
    unpack_parser.add_argument("file", help="the archive to read")
    for p in (pack_parser, unpack_parser):
        p.add_argument("--results-dir", default=None, help="results folder (default: $GLTH_RESULTS_DIR or ./results)")


def main(args) -> int:
    """Run a parsed ``results`` command; returns the exit status (2 on bad input or an unsafe archive)."""
    import sys

    try:
        if args.action == "pack":
            runs = None if args.runs is None else [r.strip() for r in args.runs.split(",") if r.strip()]
            path = pack(args.file, args.results_dir, runs=runs)
            print(f"packed {path}")
        else:
            outcomes = unpack(args.file, args.results_dir)
            counts = {s: sum(o.status == s for o in outcomes) for s in ("installed", "stale", "exists")}
            print(", ".join(f"{n} {s}" for s, n in counts.items()))
    except (ValueError, TypeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
