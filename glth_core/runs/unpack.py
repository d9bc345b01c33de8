r"""Unpack a results archive safely: check every member, the manifest, the signature and each run, then install.

Nothing from the archive is trusted before it is checked: members are confined to the run folders
and capped in size, the manifest's SHA-256 and size of every file are verified, a signed archive
is verified with the key, and a run is installed only if its code identity matches this library's
(see :mod:`glth_core.runs.archive` for the format).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

from .archive import (FORMAT, UnpackedRun, UnsafeArchiveError, _CHUNK, _MANIFEST, _MANIFEST_CAP, _PROVENANCE,
                      _ROOT, _RUN_ID, _TRUST_NOTE, _cap, _key_id, _signed_bytes)

__all__ = ["unpack"]


def _check_member(member: tarfile.TarInfo) -> str:
    """The canonical name of ``member`` (``./`` and empty parts dropped); raise
    :class:`~glth_core.runs.archive.UnsafeArchiveError` unless it is a regular file or folder of the store that a run
    folder may hold, within its size cap."""
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
        ok = parts == (_ROOT,) or (len(parts) == 2 and parts[0] == _ROOT and bool(_RUN_ID.match(parts[1])))
    else:
        ok = parts == (_MANIFEST,) or (len(parts) == 3 and parts[0] == _ROOT and bool(_RUN_ID.match(parts[1])))
    if not ok:
        raise UnsafeArchiveError(f"{where} is outside the results store: expected {_MANIFEST} or "
                                 f"{_ROOT}/<kind>_<hash>/<file>")
    if member.isfile():
        cap = _MANIFEST_CAP if parts == (_MANIFEST,) else _cap(parts[2])
        if cap is None:
            raise UnsafeArchiveError(f"{where}: a run folder holds only hparams.json, round_NNNN.pt and rounds.csv; "
                                     "refusing to unpack")
        if member.size > cap:
            raise UnsafeArchiveError(f"{where} has {member.size} bytes, more than a {parts[-1]} can hold "
                                     f"({cap} bytes); refusing to unpack")
    return "/".join(parts)


def _current_identity(stored) -> tuple[dict | None, str | None]:
    """``(identity, run key)`` this code gives the packed run's hyperparameters (``None``s if it cannot)."""
    from ..engine.hparams import ImpHparams, SubspaceHparams, from_dict
    from ..engine.run_identity import identity, run_key

    cls = {"imp": ImpHparams, "subspace": SubspaceHparams}.get(stored.get("kind")) if isinstance(stored, dict) else None
    if cls is None or not isinstance(stored.get("hparams"), dict):
        return None, None
    try:
        hparams = from_dict(cls, stored["hparams"])
    except (TypeError, ValueError, AttributeError):  # hyperparameters this code does not know
        return None, None
    return identity(stored["kind"], hparams), run_key(stored["kind"], hparams)


def _read_manifest(tar: tarfile.TarFile, member: tarfile.TarInfo, file: Path) -> dict:
    """The parsed, well-formed manifest (``format``, ``files``, ``runs`` of the expected types)."""
    def bad(problem: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"{_MANIFEST} of {str(file)!r} {problem}; it was not written by "
                                  f"'results pack' (format {FORMAT!r})")

    try:
        manifest = json.loads(tar.extractfile(member).read())
    except RecursionError:
        raise bad("is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise bad(f"is not JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise bad("is of another format")
    files, runs = manifest.get("files"), manifest.get("runs")
    if not isinstance(files, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", v["sha256"])
            and isinstance(v.get("size"), int) and not isinstance(v["size"], bool) for v in files.values()):
        raise bad("has no 'files' mapping of {member: {sha256, size}}")
    if not isinstance(runs, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("identity"), dict)
            and isinstance(v.get("provenance", {}), dict) for v in runs.values()):
        raise bad("has no 'runs' mapping of {run_id: {identity, provenance}}")
    if "signature" in manifest and not (isinstance(manifest["signature"], dict) and all(
            isinstance(manifest["signature"].get(k), str) for k in ("algorithm", "key_id", "value"))):
        raise bad("has a malformed 'signature'")
    return manifest


def _check_signature(manifest: dict, key: bytes | None, file: Path) -> str:
    """Raise unless ``manifest`` is signed with ``key`` (when a key is given); return what was verified."""
    signature = manifest.get("signature")
    if key is None:
        state = "signed, but no key was given to check it" if signature else "not signed"
        return f"{state}: {_TRUST_NOTE}"
    if signature is None:
        raise UnsafeArchiveError(f"{str(file)!r} is not signed, but a signing key was given: refusing an archive "
                                 "that anyone could have made; pack it with the key, or unpack without one")
    if signature["algorithm"] != "hmac-sha256" or signature["key_id"] != _key_id(key):
        raise UnsafeArchiveError(f"{str(file)!r} was signed with another key (key id {signature['key_id']}, yours "
                                 f"{_key_id(key)}); refusing to unpack")
    expected = hmac.new(key, _signed_bytes(manifest), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature["value"]):
        raise UnsafeArchiveError(f"the signature of {str(file)!r} does not match its manifest: the archive was "
                                 "altered after it was signed; refusing to unpack")
    return f"signature verified (key id {signature['key_id']}): packed by a holder of your key"


def _checked_rows(staged: Path, run_id: str, kind: str) -> list[dict]:
    """The table rows of the staged run's checkpoints, each checkpoint verified (checksum, loads, its own
    round and run); raise :class:`~glth_core.runs.archive.UnsafeArchiveError` otherwise."""
    from ..storage.store import CorruptCheckpoint, read_checkpoint

    paths = sorted(staged.glob("round_*.pt"))
    rounds = [int(p.stem.split("_")[1]) for p in paths]
    if rounds and rounds != list(range(rounds[0], rounds[0] + len(rounds))):
        raise UnsafeArchiveError(f"run {run_id}: its rounds {rounds} are not consecutive; refusing to unpack")
    rows = []
    for path, r in zip(paths, rounds):
        where = f"archive member '{_ROOT}/{run_id}/{path.name}'"
        try:
            checkpoint = read_checkpoint(path.read_bytes())
        except CorruptCheckpoint as err:
            raise UnsafeArchiveError(f"{where} is not a valid checkpoint ({err}); refusing to unpack") from None
        row = checkpoint.get("row")
        if checkpoint.get("round") != r or not isinstance(row, dict) or row.get("run_id") != run_id \
                or row.get("kind") != kind or row.get("round", r) != r:
            raise UnsafeArchiveError(f"{where} does not hold round {r} of run {run_id}; refusing to unpack")
        rows.append(row)
    return rows


def _install(staged: Path, dest: Path) -> bool:
    """Install the verified run folder ``staged`` as ``dest`` under the run's lock, unless ``dest`` has a
    finished round: a new run folder is renamed into place in one step (atomic); into an existing folder
    without finished rounds the files are moved one by one, the derived table last."""
    from ..storage.store import run_lock

    with run_lock(dest):
        if not dest.exists():
            os.rename(staged, dest)
            return True
        if any(dest.glob("round_*.pt")):
            return False
        order = lambda n: (n not in ("hparams.json", _PROVENANCE), n == "rounds.csv", n)  # noqa: E731
        for name in sorted((p.name for p in staged.iterdir()), key=order):
            os.replace(staged / name, dest / name)
    return True


def unpack(file: str | os.PathLike, results_dir: str | os.PathLike | None = None,
           log=print, *, key: bytes | None = None) -> list[UnpackedRun]:
    """Check the whole archive ``file``, then install its reusable runs into ``results_dir``
    (see the module docstring).

    Args:
        file: an archive written by :func:`~glth_core.runs.archive.pack`.
        results_dir: default ``$GLTH_RESULTS_DIR`` or ``./results``.
        log: called with one line per run and a last line saying what the archive's checks prove
            (default ``print``; ``None``: silent).
        key: the signing key; when given, the archive must be signed with it.

    Returns:
        One :class:`~glth_core.runs.archive.UnpackedRun` per packed run (``installed``, ``stale``, ``exists`` or ``empty``).

    Raises:
        UnsafeArchiveError: (a ``ValueError``) an unsafe, corrupt, truncated or forged archive,
            before any run is installed.
    """
    from ..storage.store import atomic_write_csv, atomic_write_text, check_writable, default_results_dir

    import pandas as pd

    file = Path(file)
    if not file.is_file():
        raise ValueError(f"archive {str(file)!r} does not exist")
    root = check_writable(default_results_dir(results_dir), min_free_bytes=0)
    damaged = (tarfile.TarError, EOFError, OSError, zlib.error)
    try:
        tar = tarfile.open(file, mode="r:*")
    except damaged as e:
        raise UnsafeArchiveError(f"{str(file)!r} is not a results archive (tar.gz written by 'results pack'): {e}") \
            from None
    staging = None
    with tar:
        try:
            members = tar.getmembers()
        except damaged as e:
            raise UnsafeArchiveError(f"{str(file)!r} is truncated or corrupt ({type(e).__name__}: {e}); "
                                     "nothing was installed") from None
        files: dict[str, tarfile.TarInfo] = {}
        seen: set[str] = set()
        for member in members:
            name = _check_member(member)
            if name in seen:
                raise UnsafeArchiveError(f"archive member {member.name!r} appears twice (as {name!r}); "
                                         "refusing to unpack")
            seen.add(name)
            if member.isfile():
                files[name] = member
        if _MANIFEST not in files:
            raise UnsafeArchiveError(f"{str(file)!r} has no {_MANIFEST}; it was not written by 'results pack'")
        try:
            manifest = _read_manifest(tar, files.pop(_MANIFEST), file)
        except damaged as e:
            raise UnsafeArchiveError(f"{str(file)!r} is truncated or corrupt ({e}); nothing was installed") from None
        trust = _check_signature(manifest, key, file)
        listed, packed_runs = manifest["files"], manifest["runs"]
        if set(listed) != set(files):
            extra, missing = sorted(set(files) - set(listed)), sorted(set(listed) - set(files))
            raise UnsafeArchiveError(f"archive files and {_MANIFEST} disagree: not listed {extra}, missing {missing}")
        in_folders = {name.split("/")[1] for name in files}
        if in_folders != set(packed_runs):
            raise UnsafeArchiveError(f"the runs of {_MANIFEST} {sorted(set(packed_runs) - in_folders)} have no files "
                                     f"in the archive, and its folders {sorted(in_folders - set(packed_runs))} are "
                                     f"not in {_MANIFEST}")

        try:
            staging = Path(tempfile.mkdtemp(dir=root, prefix=".unpack-"))
            for name, member in files.items():
                target = staging.joinpath(*name.split("/")[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                digest, size = hashlib.sha256(), 0
                try:
                    with tar.extractfile(member) as src, open(target, "wb") as dst:
                        for block in iter(lambda: src.read(_CHUNK), b""):
                            digest.update(block)
                            size += len(block)
                            dst.write(block)
                except damaged as e:
                    if isinstance(e, OSError) and e.errno is not None:
                        raise  # the disk, not the archive
                    raise UnsafeArchiveError(f"{str(file)!r} is truncated or corrupt at {name!r} ({e}); "
                                             "nothing was installed") from None
                expected = listed[name]
                if digest.hexdigest() != expected["sha256"] or size != expected["size"]:
                    raise UnsafeArchiveError(f"archive member {name!r} does not match its SHA-256/size in "
                                             f"{_MANIFEST}: the archive is corrupt or was altered")

            # every run checked before any is installed
            plan = []
            for run_id, packed in sorted(packed_runs.items()):
                run = staging / run_id
                if not (run / "hparams.json").is_file():
                    raise UnsafeArchiveError(f"run {run_id!r} of {_MANIFEST} has no hparams.json in the archive")
                try:
                    stored = json.loads((run / "hparams.json").read_text())
                except (ValueError, UnicodeDecodeError, RecursionError):
                    raise UnsafeArchiveError(f"the hparams.json of run {run_id} is not valid JSON") from None
                if stored != packed["identity"]:
                    raise UnsafeArchiveError(f"the hparams.json of run {run_id} differs from its identity in "
                                             f"{_MANIFEST}; refusing to unpack")
                current, key_now = _current_identity(stored)
                if current != stored or key_now != run_id:
                    plan.append((run_id, "stale", f"{run_id}: skipped, computed by other code or hyperparameters "
                                 f"(this code's key for them: {key_now}); not reused"))
                    continue
                rows = _checked_rows(run, run_id, stored["kind"])
                if not rows:
                    plan.append((run_id, "empty", f"{run_id}: no finished round; nothing to install"))
                    continue
                (run / "rounds.csv").unlink(missing_ok=True)
                atomic_write_csv(pd.DataFrame(rows), run / "rounds.csv")  # from the checkpoints, not the archive
                atomic_write_text(run / _PROVENANCE, json.dumps(packed.get("provenance") or {}, sort_keys=True,
                                                                indent=2) + "\n")
                plan.append((run_id, "install", ""))

            outcomes = []
            for run_id, status, message in plan:
                if status == "install":
                    dest = root / run_id
                    installed = _install(staging / run_id, dest)
                    status = "installed" if installed else "exists"
                    message = f"{run_id}: installed" if installed else \
                        f"{run_id}: already has finished rounds in {str(root)!r}; left as it is"
                outcomes.append(UnpackedRun(run_id, status, message))
                if log is not None:
                    log(message)
            if log is not None:
                log(f"archive {trust}")
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
    return outcomes

