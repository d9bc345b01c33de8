"""The chapters' parameter checks, smoke mode (re-exported by :mod:`glth_core.book.chapter`).

Every chapter starts with a papermill ``parameters`` cell; the cell after it
checks each parameter with these functions, so that ``papermill -p NAME VALUE``
with a wrong name or value fails there, with a message that names the
parameter and what is allowed, instead of deep inside training. A name the
chapter does not declare is caught by :func:`check_parameters`; the training
settings are checked by the engine's own :func:`glth_core.engine.hparams.validate`
(:func:`check_hparams`), counts against :data:`glth_core.book.profiles.LIMITS`, and
the device, scheduler address, results folder and data set are tried there too
(:func:`check_common`), so that nothing a later cell needs fails in the sweep.
"""
from __future__ import annotations

import ast
import os
from typing import Iterable, Sequence

__all__ = [
    "require_bool", "require_int", "require_fraction", "require_nonnegative", "require_names",
    "check_common", "check_parameters", "check_hparams", "check_results_folder", "smoke_scheduler",
    "log_percent_axis",
]


def require_bool(name: str, value) -> None:
    """``value`` must be True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"parameter {name} must be True or False, got {value!r}")


def require_int(name: str, value, minimum: int = 0, maximum: int | None = None) -> None:
    """``value`` must be an integer >= ``minimum`` and, when given, <= ``maximum`` (booleans are refused).

    ``maximum=None`` takes the chapter limit of ``name`` (:func:`glth_core.book.profiles.limit`), if it has
    one; the message says how to raise it.
    """
    from .profiles import limit

    if maximum is None:
        maximum = limit(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        bound = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
        raise ValueError(f"parameter {name} must be {bound}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"parameter {name} must be an integer in [{minimum}, {maximum}], got {value!r}; the limit "
                         f"keeps a typo from training for days: to go further, set the environment variable "
                         f"GLTH_MAX_{name.upper()}={value} before running the chapter")


def require_fraction(name: str, value) -> None:
    """``value`` must be a number in the open interval (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"parameter {name} must be a number in (0, 1), got {value!r}")


def require_nonnegative(name: str, value, unit: str = "") -> None:
    """``value`` must be a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        what = f"a finite number of {unit} >= 0" if unit else "a finite number >= 0"
        raise ValueError(f"parameter {name} must be {what}, got {value!r}")


def require_names(name: str, values, allowed: Iterable[str], *, allow_empty: bool = False) -> None:
    """``values`` must be a list of distinct names from ``allowed`` (non-empty unless ``allow_empty``)."""
    allowed = list(allowed)
    if (not isinstance(values, (list, tuple)) or (not values and not allow_empty)
            or any(not isinstance(v, str) or v not in allowed for v in values) or len(set(values)) != len(values)):
        raise ValueError(f"parameter {name} must be a list of distinct names from {allowed}"
                         f"{'' if allow_empty else ' (at least one)'}, got {values!r}")


#: First line of the cell papermill injects after a notebook's ``parameters`` cell (Python kernels).
INJECTED_CELL_HEADER = "# Parameters"


def _assigned_names(source: str) -> set[str]:
    """Names assigned at the top level of the cell ``source`` (``a = 1``, ``a: int = 1``, ``a += 1``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics; a parameters cell has none
        return set()
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def check_parameters(namespace: dict) -> None:
    """Refuse a papermill parameter (``-p NAME VALUE``) that the chapter does not declare.

    ``namespace``: the chapter's ``globals()``, read in the cell after the parameters
    cell. Papermill injects a cell starting with :data:`INJECTED_CELL_HEADER` right after
    the ``parameters`` cell, and IPython keeps the source of every cell it ran in
    ``In``: each name the injected cell assigns must be assigned by a cell run before it
    (the ``parameters`` cell), else a ValueError names it and lists the declared ones.
    Without an injected cell (run by hand, or outside IPython) there is nothing to check.
    """
    history = namespace.get("In")
    if not isinstance(history, list):
        return
    injected = [i for i, source in enumerate(history)
                if isinstance(source, str) and source.lstrip().startswith(INJECTED_CELL_HEADER)]
    if not injected:
        return
    declared: set[str] = set()
    for i, source in enumerate(history[:injected[-1]]):
        if i not in injected and isinstance(source, str):
            declared |= _assigned_names(source)
    unknown = sorted(_assigned_names(history[injected[-1]]) - declared)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}: this chapter declares "
                         f"{', '.join(sorted(declared))}; check the spelling of papermill's -p NAME")


def check_common(*, smoke, dataset, model, device, scheduler, results_dir, models: Sequence[str] | None = None,
                 **integers) -> None:
    """Check the parameters every chapter has; ``integers``: ``name=(value, minimum)`` pairs.

    ``models`` narrows the allowed model names to a subset of the registry
    :data:`glth_core.engine.models.MODELS` (default: every registered model); the data set
    must be in :data:`glth_core.data.DATASETS`. Integers above their chapter limit
    (:data:`glth_core.book.profiles.LIMITS`) are refused with how to raise it. Everything the
    sweep would find later is found here, in seconds: the device must exist on this
    machine, a scheduler address must answer (:func:`glth_core.runs.sweep.check_scheduler`), the
    results folder must be writable, and the data set must be available (when the runs
    train here, not on a remote cluster).
    """
    from ..data import DATASETS
    from ..engine.models import MODELS

    require_bool("smoke", smoke)
    if not isinstance(dataset, str) or dataset not in DATASETS:
        raise ValueError(f"parameter dataset must be one of {list(DATASETS)}, got {dataset!r}")
    allowed_models = list(models) if models is not None else list(MODELS)
    unregistered = [m for m in allowed_models if m not in MODELS]
    if unregistered:  # the chapter's own subset drifted from the registry
        raise ValueError(f"models={allowed_models}: {unregistered} not registered in glth_core.engine.models.MODELS "
                         f"({', '.join(MODELS)})")
    if not isinstance(model, str) or model not in allowed_models:
        raise ValueError(f"parameter model must be one of {allowed_models}, got {model!r}")
    for name, (value, minimum) in integers.items():
        require_int(name, value, minimum)
    if not isinstance(device, str) or not (device in ("auto", "cpu") or device.startswith("cuda")):
        raise ValueError(f"parameter device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if not isinstance(scheduler, str) or not (scheduler in ("auto", "local", "serial") or "://" in scheduler):
        raise ValueError("parameter scheduler must be 'auto', 'local', 'serial' or an address like tcp://HOST:PORT, "
                         f"got {scheduler!r}")
    if results_dir is not None and not isinstance(results_dir, (str, os.PathLike)):
        raise ValueError(f"parameter results_dir must be None or a folder path, got {results_dir!r}")
    _check_where(dataset, device, scheduler, results_dir)


def _check_where(dataset: str, device: str, scheduler: str, results_dir) -> None:
    """The device, scheduler, results folder and data set exist and answer (see :func:`check_common`)."""
    from .. import data
    from ..storage.store import StorageError, check_writable, default_results_dir
    from ..runs.sweep import check_scheduler
    from ..engine.training import resolve_device

    remote = "://" in scheduler
    if remote:
        check_scheduler(scheduler, name="parameter scheduler")
    elif device != "auto":  # a remote cluster's workers have their own devices
        try:
            resolve_device(device)
        except (ValueError, TypeError) as err:
            raise ValueError(f"parameter device {device!r}: {err}") from None
    folder = default_results_dir(results_dir)
    try:
        check_writable(folder, min_free_bytes=0)
    except StorageError as err:
        raise ValueError(f"parameter results_dir: {err}") from None
    if not remote:
        try:
            data.fetch(dataset, verbose=False)
        except data.DatasetNotFoundError as err:
            raise ValueError(f"parameter dataset {dataset!r}: {err}") from None


def check_hparams(*runs, **renamed) -> None:
    """Check every hyperparameter of ``runs`` (:class:`~glth_core.engine.hparams.ImpHparams` /
    :class:`~glth_core.engine.hparams.SubspaceHparams`) with the engine's own check,
    :func:`glth_core.engine.hparams.validate`, naming chapter parameters instead of flags.

    ``renamed``: engine name -> chapter parameter, where a chapter calls a hyperparameter
    otherwise (``lr="adam_lr"``).

    Raises:
        ValueError, TypeError: naming the parameter and its bounds.
    """
    from ..engine.hparams import validate

    for hp in runs:
        validate(hp, naming=lambda flag: f"parameter {renamed.get(flag, flag)}")


def check_results_folder(results_dir) -> "os.PathLike":
    """The results folder a reading chapter (06) shows: it must exist and be readable.

    Returns the folder (``results_dir``, else ``$GLTH_RESULTS_DIR``, else ``./results``).

    Raises:
        ValueError: naming the folder, when it is missing, not a folder, or unreadable.
    """
    from ..storage.store import default_results_dir

    if results_dir is not None and not isinstance(results_dir, (str, os.PathLike)):
        raise ValueError(f"parameter results_dir must be None or a folder path, got {results_dir!r}")
    folder = default_results_dir(results_dir)
    where = f"results folder {str(folder)!r} (parameter results_dir, else $GLTH_RESULTS_DIR, else ./results)"
    if not folder.exists():
        raise ValueError(f"{where} does not exist: run the experiment chapters first (make book), or pass the "
                         "folder they wrote to")
    if not folder.is_dir():
        raise ValueError(f"{where} is not a folder")
    try:
        next(iter(folder.iterdir()), None)
        if not os.access(folder, os.R_OK | os.X_OK):
            raise PermissionError("no read permission")
    except OSError as err:
        raise ValueError(f"{where} cannot be read ({getattr(err, 'strerror', None) or err})") from None
    return folder


def smoke_scheduler(scheduler: str) -> str:
    """Smoke mode: run in this process (a cluster costs more to start than the tiny runs take).

    Also limits torch to one thread: the smoke models are tiny, and one thread is
    fastest on a busy machine. An explicit scheduler address is kept.
    """
    import torch

    torch.set_num_threads(1)
    return "serial" if scheduler in ("auto", "local") else scheduler


def log_percent_axis(axis) -> None:
    """Moved to :func:`glth_core.analysis.plots.log_percent_axis` (kept here for old notebooks)."""
    from ..analysis.plots import log_percent_axis as moved

    moved(axis)
