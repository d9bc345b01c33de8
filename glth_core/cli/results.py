"""``python -m glth_core results pack|unpack``: the command line of :mod:`glth_core.runs.archive`."""
from __future__ import annotations

from ..runs.archive import KEY_ENV, load_key, pack
from ..runs.unpack import unpack

__all__ = ["add_parser", "main"]


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
