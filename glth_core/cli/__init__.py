r"""Command line: ``python -m glth_core imp ...`` and ``python -m glth_core subspace ...``.

``python -m glth_core results pack|unpack FILE [--key-file KEY]`` carries a results
folder between machines (:mod:`glth_core.runs.archive`; with a key the archive is signed,
and unpacking refuses one that is not signed with it).

Every leaf field of :class:`~glth_core.engine.hparams.ImpHparams` /
:class:`~glth_core.engine.hparams.SubspaceHparams` is a flag (``--help`` lists them
with their defaults); booleans are ``--flag`` / ``--no-flag``; tuples are
comma-separated (``--milestones 80,120``). Run options that do not change the
numbers are not hyperparameters: ``--results-dir``, ``--device``, ``--out``,
``--quiet`` (checked, with ``--threads`` and ``--workers``, before anything
trains). ``subspace`` takes ``--dimensions 10,100,1000`` (a sweep;
default: the single ``--dimension``). Every run's hyperparameters are checked by
:func:`glth_core.engine.hparams.validate`, and the data set is looked up (unless the runs go
to a remote scheduler), before anything trains. Exit status 2 on bad input, with a
message naming the flag (a value out of bounds, an unknown device, a scheduler address
that does not answer, a data set that cannot be found), 1 when training diverges
(finished rounds are kept), 0 otherwise.
"""
from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path

from ..engine.hparams import ImpHparams, SubspaceHparams, flag_name, leaf_fields, update
from ..engine.validation import choices_for, validate
from .internals import parser_actions, subparser

__all__ = ["main", "build_parser"]


def _int_tuple(text: str) -> tuple[int, ...]:
    text = text.strip()
    if not text:
        return ()
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 80,120; got {text!r}") from None


def _optional_float(text: str):
    return None if text.lower() in ("", "none") else float(text)


def _add_hparam_flags(parser: argparse.ArgumentParser, cls) -> None:
    defaults = cls()
    for path, f, tp in leaf_fields(cls):
        name = flag_name(path, f)
        value = defaults
        for p in path:
            value = getattr(value, p)
        help_text = f.metadata.get("help", "")
        option = "--" + name.replace("_", "-")
        kwargs: dict = {"dest": name, "default": None}
        if tp is bool:
            parser.add_argument(option, action=argparse.BooleanOptionalAction, help=f"{help_text} (default: {value})",
                                **kwargs)
            continue
        if typing.get_origin(tp) is tuple:
            kwargs["type"] = _int_tuple
            shown = ",".join(map(str, value)) or "none"
        elif typing.get_origin(tp) is typing.Union:  # Optional[float]
            kwargs["type"] = _optional_float
            shown = value
        else:
            kwargs["type"] = tp
            shown = value
        if "choices" in f.metadata:
            kwargs["choices"] = choices_for(f.metadata["choices"])
            kwargs["metavar"] = "{" + ",".join(kwargs["choices"]) + "}"
        parser.add_argument(option, help=f"{help_text} (default: {shown})", **kwargs)


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results-dir", default=None, help="results folder (default: $GLTH_RESULTS_DIR or ./results)")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda (default: auto)")
    parser.add_argument("--out", default=None, help="also write the results table to this CSV file")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no table on stdout")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default 0: torch's choice)")
    parser.add_argument("--grid", action="append", default=[], metavar="FLAG=V1,V2,...",
                        help="sweep: run every combination of these values (repeatable, e.g. --grid basis=canonical,dct "
                             "--grid seed=0,1); the other flags set the rest of each run")
    parser.add_argument("--scheduler", default=None,
                        help="sweep: 'auto' (serial on fewer than 8 cores or a GPU, else a local cluster), 'local' (a "
                             "Dask cluster sized to this machine), 'serial', or a scheduler address tcp://HOST:PORT "
                             "(default: auto when --grid is given)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes of the local cluster "
                        "(default: the number of cores, at most one per run)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m glth_core",
        description="Generalized lottery tickets: iterative magnitude pruning in any basis, and random subspaces.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("imp", help="iterative magnitude pruning (a ticket run or a control)",
                         description="Iterative magnitude pruning with rewinding in an orthonormal basis.")
    _add_hparam_flags(imp, ImpHparams)
    _add_run_flags(imp)
    subspace = sub.add_parser("subspace", help="training in a random subspace (Li et al. 2018)",
                              description="Train in a random subspace of dimension d for each d given.")
    _add_hparam_flags(subspace, SubspaceHparams)
    subspace.add_argument("--dimensions", type=_int_tuple, default=None,
                          help="comma-separated list of d for a sweep (default: --dimension)")
    _add_run_flags(subspace)
    from .results import add_parser as add_results_parser

    add_results_parser(sub)
    return parser


def _hparams_from_args(cls, args: argparse.Namespace):
    flags = {}
    for path, f, _ in leaf_fields(cls):
        name = flag_name(path, f)
        value = getattr(args, name)
        if value is not None:
            flags[name] = value
    return update(cls(), **flags)


def _parse_grid(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, list]:
    """``["basis=canonical,dct", "seed=0,1"]`` -> ``{"basis": ["canonical", "dct"], "seed": [0, 1]}``.

    Each value is converted and checked exactly as the flag of the same name would be.
    """
    actions = parser_actions(parser)
    axes: dict[str, list] = {}
    for item in items:
        name, sep, values = item.partition("=")
        key = name.strip().lstrip("-").replace("-", "_")
        if not sep or not values:
            parser.error(f"--grid expects FLAG=V1,V2,... (e.g. basis=canonical,dct), got {item!r}")
        action = actions.get(key)
        if action is None or key in ("results_dir", "device", "out", "quiet", "threads", "grid", "scheduler",
                                     "workers", "help", "dimensions"):
            parser.error(f"--grid {name}: not a hyperparameter of this command; see --help for the flags")
        converted = []
        for text in values.split(","):
            if isinstance(action, argparse.BooleanOptionalAction):
                if text.lower() not in ("true", "false", "1", "0"):
                    parser.error(f"--grid {name}: {text!r} is not a boolean (true/false)")
                value = text.lower() in ("true", "1")
            else:
                try:
                    value = action.type(text) if action.type else text
                except (ValueError, argparse.ArgumentTypeError) as err:
                    parser.error(f"--grid {name}: {text!r} is not valid ({err})")
            if action.choices is not None and value not in action.choices:
                parser.error(f"--grid {name}: unknown value {value!r}; valid: {', '.join(map(str, action.choices))}")
            converted.append(value)
        axes[key] = converted
    return axes


def _check_run_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors in the run options, found before anything trains (``parser.error``: exit status 2)."""
    import tempfile

    import torch

    from ..engine.training import resolve_device

    if not 0 <= args.threads <= 4096:
        parser.error(f"--threads must be >= 0 and at most 4096 (0: torch's choice), got {args.threads}")
    if args.workers is not None and not 1 <= args.workers <= 4096:
        parser.error(f"--workers must be >= 1 and at most 4096 (omit it for one per core), got {args.workers}")
    remote = bool(args.scheduler) and "://" in args.scheduler
    try:
        if remote:  # the workers' devices are not this machine's: check the name only
            if args.device != "auto":
                torch.device(args.device)
        else:
            resolve_device(args.device)
    except (ValueError, TypeError, RuntimeError) as err:
        parser.error(f"--device {args.device}: {err}")
    if args.scheduler and args.scheduler not in ("auto", "local", "serial"):
        from ..runs.sweep import check_scheduler

        try:
            check_scheduler(args.scheduler, name="--scheduler")
        except ValueError as err:
            parser.error(str(err))
    if args.out:
        out = Path(args.out)
        if out.is_dir():
            parser.error(f"--out {out} is a folder; give a CSV file path such as {out / 'results.csv'}")
        blocker = next((p for p in out.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            parser.error(f"--out {out}: {blocker} is a file, not a folder; choose another path")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=out.parent, prefix=".write-test-"):
                pass
        except OSError as err:
            parser.error(f"--out {out}: cannot write a file there ({err.strerror or err}); choose another path")


def _check_data(names) -> None:
    """Make sure each data set is available here (cache, system copy, package or download), or raise
    ValueError naming ``--dataset`` with the data package's report of what was tried and how to fix it."""
    from ..data import DatasetNotFoundError, fetch

    for name in sorted(names):
        try:
            fetch(name, verbose=False)
        except DatasetNotFoundError as err:
            raise ValueError(f"--dataset {name}: {err}") from None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "results":
        from .results import main as results_main

        return results_main(args)
    _check_run_flags(parser, args)
    import torch

    from ..engine.training import TrainingDiverged

    if args.threads:
        torch.set_num_threads(args.threads)
    progress = False if args.quiet else None
    cls = ImpHparams if args.command == "imp" else SubspaceHparams
    sweeping = bool(args.grid or args.scheduler)
    try:
        base = _hparams_from_args(cls, args)
        if sweeping:
            from ..runs.sweep import grid

            command_parser = subparser(build_parser(), args.command)
            axes = _parse_grid(command_parser, args.grid)
            if args.command == "subspace" and args.dimensions:
                axes["dimension"] = list(args.dimensions)
            runs = grid(base, **axes)
        elif args.command == "subspace" and args.dimensions:
            runs = [update(base, dimension=d) for d in args.dimensions]
        else:
            runs = [base]
        for hp in runs:
            validate(hp)  # every hyperparameter checked (and named) before anything trains
        if not (args.scheduler and "://" in args.scheduler):  # a remote cluster's workers load their own data
            _check_data({hp.dataset.name for hp in runs})
    except (ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        if sweeping:
            from ..runs.sweep import sweep

            df = sweep(runs, scheduler=args.scheduler or "auto", n_workers=args.workers,
                       results_dir=args.results_dir, device=args.device, progress=not args.quiet, errors="report")
            failures = df.attrs.get("failures", [])
            if failures:
                print(f"error: {len(failures)} of {len(runs)} runs failed (see above)", file=sys.stderr)
                if df.empty:
                    return 1
        elif args.command == "imp":
            from ..engine.lottery import run_imp

            df = run_imp(base, args.results_dir, device=args.device, progress=progress)
        else:
            from ..engine.subspace import run_subspace, subspace_sweep

            if args.dimensions:
                df = subspace_sweep(base, args.dimensions, args.results_dir, device=args.device, progress=progress)
            else:
                df = run_subspace(base, args.results_dir, device=args.device, progress=progress)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.out:
        from ..storage.store import atomic_write_csv

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_csv(df, args.out)
    if not args.quiet:
        import pandas as pd

        columns = [c for c in ("run_id", "basis", "control", "seed", "round", "dimension", "density", "params", "test_accuracy",
                               "best_accuracy") if c in df.columns]
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(df[columns].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
