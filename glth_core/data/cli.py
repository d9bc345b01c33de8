"""The command line of :mod:`glth_core.data`::

    python -m glth_core.data list
    python -m glth_core.data fetch fashion_mnist [--data-dir D] [--no-download]
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .registry import DATASETS, REGISTRY, check_name
from .sources import DatasetNotFoundError, cached_status, resolve_data_dir
from .splits import load

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``list`` the data sets, or ``fetch`` some ahead of time."""
    parser = argparse.ArgumentParser(prog="python -m glth_core.data",
                                     description="Fetch and inspect glth_core's data sets.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list the known data sets and where they are")
    p_fetch = sub.add_parser("fetch", help="fetch data sets into the cache and check them")
    p_fetch.add_argument("names", nargs="+", metavar="NAME", help=", ".join(DATASETS))
    p_fetch.add_argument("--no-download", action="store_true",
                         help="only look offline (cache, system copy); never download")
    p_fetch.add_argument("--quiet", action="store_true", help="print only the summary")
    for p in (p_list, p_fetch):
        p.add_argument("--data-dir", default=None,
                       help="data cache (default: $GLTH_DATA_DIR or ~/.cache/glth_core/data)")
    args = parser.parse_args(argv)
    cache = resolve_data_dir(args.data_dir)

    if args.command == "list":
        print(f"data cache: {cache}")
        for name, spec in REGISTRY.items():
            train, test = spec.sizes
            print(f"{name:14s} {str(spec.input_shape):12s} {spec.num_classes} classes, {train}/{test} "
                  f"train/test  [{cached_status(name, cache)}]")
            print(f"{'':14s} {spec.description}")
        return 0

    try:
        names = [check_name(n) for n in args.names]
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    status = 0
    for name in names:
        try:
            splits = load(name, data_dir=cache, download=not args.no_download,
                          verbose=not args.quiet)
        except DatasetNotFoundError as err:
            print(str(err), file=sys.stderr)
            status = 1
            continue
        (xtr, ytr), (xte, yte) = splits.train, splits.test
        print(f"{name}: files at {splits.source}")
        print(f"{name}: train x {tuple(xtr.shape)} y {tuple(ytr.shape)}, "
              f"test x {tuple(xte.shape)} y {tuple(yte.shape)}, "
              f"{splits.num_classes} classes")
    return status
