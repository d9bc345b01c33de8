"""What a DCT costs on this CPU, dense product against pocketfft: the constants of the cost model in
``glth_core.core.fast_transforms`` (``dense_is_cheaper``) and a check of its choices.

For each length of ``--sizes`` and row count of ``--rows`` it times, interleaved over ``--reps``
repetitions, the forward and backward of one DCT along the last axis (``y = DCT(x)``, then
``y.backward(g)``) both ways: the dense product with the kept matrix (torch's native autograd) and
pocketfft (``scipy.fft`` inside the engine's autograd function). Prints the medians in microseconds,
which one was faster and which one the cost model picks, then least-squares fits of the model's
constants (``DENSE_MACS_PER_US``, ``FFT_FIXED_US``, ``FFT_OPS_PER_US``; the dense fixed cost is
taken as the reference, 0) from these timings. One torch thread unless ``--threads``.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import numpy as np
import torch

from glth_core.core.fast_transforms import DCTTransform, _Orthogonal, dense_is_cheaper
from glth_core.core.matrices import _dense_along


def _timed(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def measure(size: int, rows: int, reps: int, calls: int) -> tuple[float, float, float]:
    """``(dense, fft, baseline)`` medians in microseconds of forward + backward of one DCT of ``rows`` x ``size``;
    ``baseline``: the same autograd round trip through a negation (what neither implementation can avoid)."""
    t = DCTTransform(size)
    x = torch.randn(rows, size, requires_grad=True)
    g = torch.randn(rows, size)
    cases = {"dense": lambda: _dense_along(x, t.dense, 1, False).backward(g),
             "fft": lambda: _Orthogonal.apply(x, t, 1, False).backward(g),
             "baseline": lambda: (-x).backward(g)}
    times = {k: [] for k in cases}
    for fn in cases.values():
        _timed(fn, 5)
    for rep in range(reps):
        names = list(cases)[rep % 3:] + list(cases)[:rep % 3]
        for name in names:
            times[name].append(_timed(cases[name], calls))
    return tuple(statistics.median(times[k]) for k in ("dense", "fft", "baseline"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="128,240,300,512")
    parser.add_argument("--rows", default="1,4,8,16,32,60,128,512")
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--calls", type=int, default=50, help="calls per repetition")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        rows = [int(r) for r in args.rows.split(",")]
    except ValueError:
        parser.error("--sizes and --rows must be comma-separated integers, e.g. --sizes 300 --rows 1,60")
    if min(sizes) < 2 or max(sizes) > 512 or min(rows) < 1 or min(args.reps, args.calls, args.threads) < 1:
        parser.error("sizes must be in 2..512 (the lengths that keep a dense matrix), rows, --reps, --calls "
                     "and --threads positive")
    torch.set_num_threads(args.threads)
    print(f"{'size':>5} {'rows':>5} {'dense us':>9} {'fft us':>9} {'faster':>7} {'model picks':>12}")
    records = []
    for size in sizes:
        for r in rows:
            dense, fft, base = measure(size, r, args.reps, args.calls)
            records.append((size, r, dense - base, fft - base))
            faster = "dense" if dense < fft else "fft"
            picked = "dense" if dense_is_cheaper(r, size) else "fft"
            print(f"{size:5d} {r:5d} {dense:9.1f} {fft:9.1f} {faster:>7} {picked:>12}", flush=True)
    # least squares on the timings less the autograd round trip both pay: dense = r d^2 / a; fft = b + r d log2 d / c
    d_work = np.array([r * s * s for s, r, _, _ in records], dtype=float)
    d_time = np.array([d for _, _, d, _ in records])
    f_work = np.array([r * s * math.log2(s) for s, r, _, _ in records], dtype=float)
    f_time = np.array([f for _, _, _, f in records])
    per_us = float(d_work @ d_work / max(d_work @ d_time, 1e-9))
    (fft_per, fft_fixed), *_ = np.linalg.lstsq(np.stack([f_work, np.ones_like(f_work)], 1), f_time, rcond=None)
    print(f"\nfitted: DENSE_MACS_PER_US ~ {per_us:,.0f}; FFT_FIXED_US ~ {fft_fixed:.1f}; "
          f"FFT_OPS_PER_US ~ {1 / max(fft_per, 1e-12):,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
