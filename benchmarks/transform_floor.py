"""How far overhead can fall: a step's basis transforms alone, against the issue's targets.

A rotated basis adds two things to a training step: the arithmetic of its transforms (pocketfft
calls, dense or Kronecker products) and the overhead around them (autograd nodes, Python of the
generalized forward, small elementwise operations). Removing overhead can at best bring a step
down to ``canonical step + transforms``. This script measures that floor per configuration:

1. one training step of each case (``benchmarks/steps.py``) runs with the library's two transform
   entry points recorded: ``Basis._walk`` (weight synthesis, input analysis, conv kernels) and
   ``AxisTransform.synthesize_rows`` (the output side of a Linear layer on its activations), each
   with the shape of its input and whether that input needs a gradient;
2. ``kernels_ms``: those calls replayed on fresh tensors of the same shapes under ``torch.no_grad``,
   each call whose input needs a gradient once more in the opposite direction (its backward
   applies the adjoint transform, of the same size, to the output's gradient): the transforms' own
   operations, without the autograd graph and the layer's Python;
3. ``floor_ratio = (canonical step + kernels_ms) / canonical step``, next to the measured ratio and
   the issue's target (``benchmarks/run.py``'s ``TARGETS``).

All timings of a configuration and thread count are interleaved (the order rotates every
repetition) and taken in one process; the table prints medians. A floor above the target says
that this target is out of reach for these transforms in eager PyTorch on this machine, whatever
overhead is removed; a floor below it leaves ``ratio - floor_ratio`` to overhead.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import CONFIGS, TARGETS, write_atomic  # noqa: E402
from steps import LOOPS, Case, interleaved_medians, markdown_table  # noqa: E402

from glth_core.core import matrices as _matrices  # noqa: E402
from glth_core.core.bases import Basis  # noqa: E402

ROTATED = ("dct", "hadamard", "random")


@contextlib.contextmanager
def recorded_transforms(calls: list):
    """Within the block, append ``(replay, input needs grad)`` for every transform call of the library."""
    walk, synthesize = Basis._walk, _matrices.AxisTransform.synthesize_rows
    rows_classes = [c for c in _all_subclasses(_matrices.AxisTransform) if "synthesize_rows" in vars(c)]
    originals = {c: vars(c)["synthesize_rows"] for c in rows_classes}

    depth = [0]  # a subclass' synthesize_rows may call its parent's: record the outermost call only

    def record(forward, adjoint, needs_grad, run):
        if depth[0] == 0:
            calls.append((forward, adjoint, needs_grad))
        depth[0] += 1
        try:
            return run()
        finally:
            depth[0] -= 1

    def recording_walk(self, x, active, inverse):
        like = torch.randn(x.shape, dtype=x.dtype)
        return record(lambda: walk(self, like, active, inverse), lambda: walk(self, like, active, not inverse),
                      x.requires_grad, lambda: walk(self, x, active, inverse))

    def recording_rows(original):
        def wrapper(self, z, bias=None):
            like = torch.randn(z.shape, dtype=z.dtype)
            return record(lambda: original(self, like, bias), lambda: self(like, -1), z.requires_grad,
                          lambda: original(self, z, bias))
        return wrapper

    Basis._walk = recording_walk
    _matrices.AxisTransform.synthesize_rows = recording_rows(synthesize)
    for cls, original in originals.items():
        setattr(cls, "synthesize_rows", recording_rows(original))
    try:
        yield calls
    finally:
        Basis._walk = walk
        _matrices.AxisTransform.synthesize_rows = synthesize
        for cls, original in originals.items():
            setattr(cls, "synthesize_rows", original)


def _all_subclasses(cls):
    out = []
    for sub in cls.__subclasses__():
        out += [sub] + _all_subclasses(sub)
    return out


def transform_calls(case: Case) -> list:
    """The transform calls of one training step of ``case`` (see :func:`recorded_transforms`)."""
    calls: list = []
    with recorded_transforms(calls):
        case.step()
    return calls


@torch.no_grad()
def replay(calls) -> None:
    """Each call once, and its adjoint once more when its input needs a gradient (what its backward applies)."""
    for forward, adjoint, needs_grad in calls:
        forward()
        if needs_grad:
            adjoint()


def measure(model: str, shape, batch: int, loop: str, reps: int, steps: int) -> list[dict]:
    """Medians (ms) of each basis' step and of its replayed transforms; all interleaved."""
    cases = {b: Case(model, shape, batch, b, loop, torch.device("cpu"), 10) for b in ("canonical",) + ROTATED}
    for case in cases.values():
        case.step()
    calls = {b: transform_calls(cases[b]) for b in ROTATED}
    jobs = {("step", b): cases[b].step for b in cases}
    jobs.update({("kernels", b): (lambda c=calls[b]: replay(c)) for b in ROTATED})
    ms = interleaved_medians(jobs, reps, steps)
    canonical = ms[("step", "canonical")]
    return [dict(basis=b, canonical_ms=canonical, step_ms=ms[("step", b)], ratio=ms[("step", b)] / canonical,
                 kernels_ms=ms[("kernels", b)], calls=len(calls[b]),
                 floor_ratio=(canonical + ms[("kernels", b)]) / canonical) for b in ROTATED]


def target_of(config: str, basis: str) -> float | None:
    for _, prefix, column, bases, limit in TARGETS:
        if column == "train_ratio" and config.startswith(prefix) and basis in bases:
            return limit
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated torch thread counts (default 1,2)")
    parser.add_argument("--configs", default="all", help="comma-separated indices into run.py's CONFIGS, or 'all'")
    parser.add_argument("--loops", default=",".join(LOOPS), help="comma-separated: engine, user")
    parser.add_argument("--reps", type=int, default=15, help="interleaved repetitions (median)")
    parser.add_argument("--steps", type=int, default=6, help="steps (or replays) per repetition; small CNN: a third")
    parser.add_argument("--csv", type=Path, help="also write the table here")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown table here (make bench: the book's "
                                                      "book/transform_floor_latest.md)")
    args = parser.parse_args(argv)
    try:
        threads = [int(t) for t in args.threads.split(",")]
        configs = CONFIGS if args.configs == "all" else [CONFIGS[int(i)] for i in args.configs.split(",")]
    except (ValueError, IndexError):
        parser.error(f"--threads must list positive integers and --configs be 'all' or indices in "
                     f"0..{len(CONFIGS) - 1}, got {args.threads!r} and {args.configs!r}")
    loops = args.loops.split(",")
    if min(threads + [args.reps, args.steps]) < 1 or not set(loops) <= set(LOOPS):
        parser.error(f"--threads, --reps and --steps must be positive and --loops a subset of {LOOPS}")
    torch.manual_seed(0)
    rows = []
    for n in threads:
        torch.set_num_threads(n)
        for label, model, shape, batch in configs:
            for loop in [lp for lp in loops if model == "lenet300" or lp == "engine"]:  # the CNN: engine only
                steps = args.steps if model == "lenet300" else max(1, args.steps // 3)
                for row in measure(model, shape, batch, loop, args.reps, steps):
                    row = dict(config=label, threads=n, loop=loop, **row, target=target_of(label, row["basis"]))
                    rows.append(row)
                    print(f"{label:26s} {n} thread(s) {loop:6s} {row['basis']:8s} step {row['ratio']:.2f}x  "
                          f"transforms alone {row['kernels_ms']:.2f} ms -> floor {row['floor_ratio']:.2f}x  "
                          f"(overhead {row['ratio'] - row['floor_ratio']:+.2f})  target {row['target']}", flush=True)
    frame = pd.DataFrame(rows)
    frame["floor_within_target"] = frame.floor_ratio <= frame.target
    if args.csv:
        frame.to_csv(args.csv, index=False)
    summary = (f"{int((~frame.floor_within_target).sum())} of {len(frame)} rows have a floor above their target "
               "(out of reach by removing overhead alone); the others leave ratio - floor to overhead.")
    print()
    print(summary)
    if args.markdown:
        header = (f"Transform floor of {time.strftime('%Y-%m-%d', time.gmtime())}, torch {torch.__version__}, "
                  f"medians of {args.reps} interleaved repetitions. {summary}")
        write_atomic(args.markdown, markdown(frame, header))
    return 0


def markdown(frame: pd.DataFrame, header: str) -> str:
    columns = ["configuration", "threads", "loop", "basis", "canonical step (ms)", "step (ms)", "step / canonical",
               "transforms alone (ms)", "floor", "overhead", "target"]
    rows = [[r.config, str(r.threads), r.loop, r.basis, f"{r.canonical_ms:.2f}", f"{r.step_ms:.2f}", f"{r.ratio:.2f}x",
             f"{r.kernels_ms:.2f}", f"{r.floor_ratio:.2f}x", f"{r.ratio - r.floor_ratio:+.2f}",
             f"{r.target:.2f}x" + ("" if r.floor_within_target else " (floor above)")] for _, r in frame.iterrows()]
    return markdown_table(header, columns, rows)


if __name__ == "__main__":
    sys.exit(main())
