r"""Results that travel: pack a results folder into one checked archive, unpack it safely elsewhere.

Archive layout (a gzip-compressed tar)::

    results/<run_id>/hparams.json   the run folders of the results store (see glth_core.storage.store)
    results/<run_id>/round_0000.pt
    results/<run_id>/rounds.csv
    manifest.json                   format, date, provenance, runs, SHA-256 and size of every file

``manifest.json`` holds ``format`` (:data:`FORMAT`), ``created`` (UTC, ISO 8601),
``glth_core`` (version and :func:`~glth_core.engine.run_identity.source_hash` of the packing
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
trusted as far as its source, and :func:`~glth_core.runs.unpack.unpack` says so. To detect forgery,
sign archives with a key that only you hold: ``pack(..., key=...)`` adds
``signature = {"algorithm": "hmac-sha256", "key_id", "value"}``, an HMAC-SHA-256
(:mod:`hmac`) of the canonical JSON of the rest of the manifest, which covers
every file's SHA-256; ``unpack(..., key=...)`` refuses an archive that is
unsigned, signed with another key, or altered after signing. On the command line
the key is the content of ``--key-file FILE`` or of ``$GLTH_ARCHIVE_KEY`` (at
least 16 bytes; e.g. ``python -c "import secrets; print(secrets.token_hex(32))"``).

Unpacking (:func:`~glth_core.runs.unpack.unpack`) trusts nothing else in the archive, and checks the
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
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FORMAT",
    "RUN_FILES",
    "KEY_ENV",
    "UnsafeArchiveError",
    "UnpackedRun",
    "pack",
    "unpack",
    "hardware",
    "load_key",
]


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
    """What :func:`~glth_core.runs.unpack.unpack` did with one packed run: ``status`` is ``"installed"``,
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


def __getattr__(name: str):
    """:func:`~glth_core.runs.unpack.unpack`, readable from here too (imported on first use: it imports this module)."""
    if name == "unpack":
        from .unpack import unpack

        return unpack
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
