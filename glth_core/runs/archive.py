r"""Results that travel: pack a results folder into one checked archive, unpack it safely elsewhere.

Archive layout (a gzip-compressed tar)::

    results/<run_id>/hparams.json   the run folders of the results store (see glth_core.storage.store)
    results/<run_id>/round_0000.pt
    results/<run_id>/rounds.csv
    manifest.json                   format, date, provenance, runs, SHA-256 and size of every file

``manifest.json`` holds ``format`` (:data:`FORMAT`), ``created`` (UTC, ISO 8601),
``glth_core`` (version and :func:`~glth_core.engine.hparams.source_hash` of the packing
code), ``hardware`` (:func:`hardware`: torch version, CUDA device name or CPU,
torch threads, CPU count, platform), ``runs`` (``{run_id: {"identity",
"provenance"}}``: the content of the run's ``hparams.json`` (kind,
hyperparameters, library version and source hash, which the run key hashes) and
where it comes from), ``files`` (``{member: {"sha256", "size"}}``) and, in a
signed archive, ``signature`` (see below). Provenance is ``{"packed": date,
"hardware": ...}`` of the machine that first packed the run; unpacking writes it
to the run's ``provenance.json``, and a later pack of that folder carries it on
unchanged (so a run keeps the GPU box it was computed on, not the laptop that
repacked it). Packing only reads the results folder, and only the files a run
folder holds (:data:`RUN_FILES`); anything else there is left out.

What a checksum proves
----------------------
The SHA-256 of every file in the manifest detects *accidental* damage (a
truncated download, flipped bits). It proves nothing about who made the
archive: anyone can edit a checkpoint's recorded accuracy and recompute the
checkpoint header and the manifest entry. An unsigned archive is therefore
trusted as far as its source, and :func:`unpack` says so. To detect forgery,
sign archives with a key that only you hold: ``pack(..., key=...)`` adds
``signature = {"algorithm": "hmac-sha256", "key_id", "value"}``, an HMAC-SHA-256
(:mod:`hmac`) of the canonical JSON of the rest of the manifest, which covers
every file's SHA-256; ``unpack(..., key=...)`` refuses an archive that is
unsigned, signed with another key, or altered after signing. On the command line
the key is the content of ``--key-file FILE`` or of ``$GLTH_ARCHIVE_KEY`` (at
least 16 bytes; e.g. ``python -c "import secrets; print(secrets.token_hex(32))"``).

Unpacking (:func:`unpack`) trusts nothing else in the archive, and checks the
whole archive before it installs anything:

* every member must be a regular file or directory named ``manifest.json`` or
  ``results/<run_id>/<file>`` where ``<file>`` is one of :data:`RUN_FILES`
  (``hparams.json``, ``round_NNNN.pt``, ``rounds.csv``) and not larger than its
  cap (checked on the tar header, before a byte is read); no absolute path, no
  ``..``, no deeper folders, no symbolic or hard link, no device or FIFO, no
  duplicate name (``./results/x`` and ``results/x`` are the same name); anything
  else is refused with :class:`UnsafeArchiveError` naming the member;
* the manifest must be well formed, list exactly the archive's files and runs,
  and each file's SHA-256 and size must match (checked while the files are
  extracted to a staging folder inside the results folder, removed afterwards);
* every checkpoint must pass its own checksum, load with
  ``torch.load(weights_only=True)`` and hold the row of its run and round, and a
  run's rounds must be consecutive; the run's ``rounds.csv`` is then re-derived
  from those rows (the archive's own table is never installed);
* a run is installed only if its folder name is the run key that *this* code
  computes for its hyperparameters (:func:`~glth_core.engine.hparams.run_key`, which
  hashes the library version and source): a run computed by other code is
  skipped as stale, so it is never shown as current;
* a run that already has a finished round in the destination is left alone
  (never overwritten, never mixed with another machine's rounds).

Only then are runs installed, each one atomically: a run folder that does not
exist yet is renamed into place from the staging folder in one ``os.replace``;
into an existing folder without finished rounds (a failed run) the files are
moved under the run's lock, the checkpoints before ``rounds.csv``, so an
interrupted unpack leaves only finished, verified rounds behind.
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import io
import json
import os
import platform
import re
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["FORMAT", "RUN_FILES", "KEY_ENV", "UnsafeArchiveError", "UnpackedRun", "pack", "unpack", "hardware",
           "load_key"]

#: Value of ``manifest.json``'s ``format``.
FORMAT = "glth_core-results/1"

_MANIFEST = "manifest.json"
_PROVENANCE = "provenance.json"
_ROOT = "results"
_RUN_ID = re.compile(r"^[a-z0-9]+_[0-9a-f]{12}$")
_CHUNK = 2**20
_MiB = 2**20

#: The files a run folder may hold in an archive: name pattern -> largest size in bytes. A
#: checkpoint holds the trained state, masks and (round 0) the rewind point of one of the
#: registry's models: Conv-6 at full width, the largest, takes about 40 MB.
RUN_FILES = {
    r"hparams\.json": 1 * _MiB,
    r"round_[0-9]{4}\.pt": 512 * _MiB,
    r"rounds\.csv": 64 * _MiB,
}
_RUN_FILES = [(re.compile(f"^{pattern}$"), cap) for pattern, cap in RUN_FILES.items()]
_MANIFEST_CAP = 64 * _MiB
#: Environment variable holding the archive signing key (see the module docstring).
KEY_ENV = "GLTH_ARCHIVE_KEY"
_MIN_KEY_BYTES = 16
_TRUST_NOTE = ("the SHA-256 manifest only detects accidental damage: these results are trusted as far as the "
               "archive's source (sign archives with --key-file or $GLTH_ARCHIVE_KEY to detect forgery)")


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


def _cap(file_name: str) -> int | None:
    """The size cap of a file a run folder may hold in an archive, or None if it may not hold it."""
    return next((cap for pattern, cap in _RUN_FILES if pattern.match(file_name)), None)


def load_key(key_file: str | os.PathLike | None = None) -> bytes | None:
    """The archive signing key: the bytes of ``key_file`` (one trailing newline dropped), else
    ``$GLTH_ARCHIVE_KEY`` (UTF-8), else None.

    Raises:
        ValueError: the key file cannot be read, or the key is shorter than 16 bytes.
    """
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes()
        except OSError as err:
            raise ValueError(f"--key-file {key_file}: cannot read it ({err.strerror or err})") from None
        key, where = key[:-1] if key.endswith(b"\n") else key, f"--key-file {key_file}"
    elif os.environ.get(KEY_ENV):
        key, where = os.environ[KEY_ENV].encode(), f"${KEY_ENV}"
    else:
        return None
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError(f"{where}: the signing key must have at least {_MIN_KEY_BYTES} bytes, got {len(key)}; "
                         "make one with: python -c \"import secrets; print(secrets.token_hex(32))\"")
    return key


def _key_id(key: bytes) -> str:
    return hmac.new(key, b"glth_core archive key id", hashlib.sha256).hexdigest()[:16]


def _signed_bytes(manifest: dict) -> bytes:
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()


def _sign(manifest: dict, key: bytes) -> dict:
    return {"algorithm": "hmac-sha256", "key_id": _key_id(key),
            "value": hmac.new(key, _signed_bytes(manifest), hashlib.sha256).hexdigest()}


def _run_folders(root: Path, runs) -> list[Path]:
    if runs is None:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and _RUN_ID.match(p.name)
                         and (p / "hparams.json").is_file()
                         and any(p.glob("round_*.pt")))  # a run that failed before its first round: nothing to carry
    else:
        folders = []
        for run_id in runs:
            p = root / str(run_id)
            if not _RUN_ID.match(str(run_id)) or not (p / "hparams.json").is_file():
                raise ValueError(f"--runs: {run_id!r} is not a run folder of {str(root)!r} (a folder <kind>_<hash> "
                                 "holding hparams.json)")
            folders.append(p)
    if not folders:
        raise ValueError(f"no runs to pack in {str(root)!r}: it has no <kind>_<hash> folder with an hparams.json; "
                         "pass --results-dir or set GLTH_RESULTS_DIR")
    return folders


def pack(file: str | os.PathLike, results_dir: str | os.PathLike | None = None, runs=None, *,
         key: bytes | None = None) -> Path:
    """Write the runs of ``results_dir`` (default ``$GLTH_RESULTS_DIR`` or ``./results``) to ``file``.

    Args:
        file: the archive to write (a ``.tar.gz``); written to a temporary file next to it and
            renamed onto it.
        results_dir: the results folder; only read.
        runs: run ids to pack (default: every run folder with a finished round).
        key: sign the archive with this key (HMAC-SHA-256, see the module docstring; default: unsigned).

    Only the files a run folder holds (:data:`RUN_FILES`) are packed: lock files, temporary
    files and anything else are left out. Each file is read once, and hashed and archived
    from those bytes, so a run that is still training is packed consistently file by file.

    Returns:
        ``Path(file)``.

    Raises:
        ValueError: no runs, an unknown run id, or a file larger than its cap.
    """
    from ..engine.run_identity import source_hash
    from ..storage.store import default_results_dir

    from .. import _version

    root = default_results_dir(results_dir)
    if not root.is_dir():
        raise ValueError(f"results folder {str(root)!r} does not exist; pass --results-dir or set GLTH_RESULTS_DIR")
    folders = _run_folders(root, runs)
    created = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    packed_here = {"packed": created.isoformat(), "hardware": hardware()}
    manifest = {"format": FORMAT, "created": created.isoformat(),
                "glth_core": {"version": _version.__version__, "source": source_hash()},
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
                files = {}
                for path in sorted(folder.iterdir()):
                    cap = _cap(path.name) if path.name != _PROVENANCE else _cap("hparams.json")
                    if cap is None or not path.is_file() or path.is_symlink():
                        continue  # .*.tmp, *.corrupt-N, anything a run folder does not hold
                    if path.stat().st_size > cap:
                        raise ValueError(f"{path} has {path.stat().st_size} bytes, more than a run's {path.name} "
                                         f"can hold ({cap} bytes); it is not a file of this run")
                    files[path.name] = path.read_bytes()
                provenance = json.loads(files.pop(_PROVENANCE)) if _PROVENANCE in files else packed_here
                manifest["runs"][folder.name] = {"identity": json.loads(files["hparams.json"]),
                                                 "provenance": provenance}
                for name, data in files.items():
                    member = f"{_ROOT}/{folder.name}/{name}"
                    manifest["files"][member] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                    add(member, data)
            if key is not None:
                manifest["signature"] = _sign(manifest, key)
            add(_MANIFEST, (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode())
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return file


def _check_member(member: tarfile.TarInfo) -> str:
    """The canonical name of ``member`` (``./`` and empty parts dropped); raise
    :class:`UnsafeArchiveError` unless it is a regular file or folder of the store that a run
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
    round and run); raise :class:`UnsafeArchiveError` otherwise."""
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
        file: an archive written by :func:`pack`.
        results_dir: default ``$GLTH_RESULTS_DIR`` or ``./results``.
        log: called with one line per run and a last line saying what the archive's checks prove
            (default ``print``; ``None``: silent).
        key: the signing key; when given, the archive must be signed with it.

    Returns:
        One :class:`UnpackedRun` per packed run (``installed``, ``stale``, ``exists`` or ``empty``).

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
        p.add_argument("--key-file", default=None,
                       help=f"file holding the signing key (default: ${KEY_ENV}; none: pack unsigned, unpack "
                            "without verifying who packed the archive)")


def main(args) -> int:
    """Run a parsed ``results`` command; returns the exit status (2 on bad input or an unsafe archive)."""
    import sys

    try:
        key = load_key(args.key_file)
        if args.action == "pack":
            runs = None if args.runs is None else [r.strip() for r in args.runs.split(",") if r.strip()]
            path = pack(args.file, args.results_dir, runs=runs, key=key)
            print(f"packed {path}" + (" (signed)" if key is not None else " (unsigned)"))
        else:
            outcomes = unpack(args.file, args.results_dir, key=key)
            counts = {s: sum(o.status == s for o in outcomes) for s in ("installed", "stale", "exists", "empty")}
            print(", ".join(f"{n} {s}" for s, n in counts.items()))
    except (ValueError, TypeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
