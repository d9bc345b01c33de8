"""What memory format and thread count buy the small CNN's training step on this machine.

Times the engine's small-CNN step (``glth_core.engine.models`` ``"small_cnn"``, batch ``--batch``, 1x28x28
inputs) in the canonical and DCT bases, as the engine runs it (channels-last: the model converts its
input, and generalized kernels follow the input's layout) and with the same model kept in the default
(contiguous, NCHW) layout, at each thread count of ``--threads``. Repetitions are
interleaved across the cases of one thread count; prints the median step time of each case and its
ratio to the contiguous canonical step at one thread.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from steps import Case  # noqa: E402

FORMATS = ("contiguous", "channels_last")


def _plain_layout_forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The small CNN's forward with the default (NCHW) layout throughout: the engine's model without its
    switch to channels-last (same operations, same order)."""
    x = F.relu(F.max_pool2d(model.conv1(x), 2))
    x = F.relu(F.max_pool2d(model.conv2(x), 2))
    return model.fc2(F.relu(model.fc1(x.flatten(1))))


def make_case(basis: str, memory_format: str, batch: int) -> Case:
    """The engine's small-CNN step as it runs (``channels_last``: the model converts its input and its
    generalized kernels follow), or the same model kept in the default layout (``contiguous``)."""
    case = Case("small_cnn", (1, 28, 28), batch, basis, "engine", torch.device("cpu"), eval_examples=1)
    if memory_format == "contiguous":
        case.model.forward = types.MethodType(_plain_layout_forward, case.model)
    return case


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    parser.add_argument("--reps", type=int, default=7, help="interleaved repetitions (median)")
    parser.add_argument("--steps", type=int, default=2, help="steps per repetition")
    args = parser.parse_args(argv)
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        parser.error(f"--threads must be comma-separated positive ints, got {args.threads!r}")
    if min(threads + [args.batch, args.reps, args.steps]) < 1:
        parser.error("--batch, --threads, --reps and --steps must be positive")
    cases = {(b, f): make_case(b, f, args.batch) for b in ("canonical", "dct") for f in FORMATS}
    medians = {}
    for n in threads:
        torch.set_num_threads(n)
        for case in cases.values():
            case.step()
        times = {key: [] for key in cases}
        keys = list(cases)
        for rep in range(args.reps):
            for key in keys[rep % len(keys):] + keys[:rep % len(keys)]:
                start = time.perf_counter()
                for _ in range(args.steps):
                    cases[key].step()
                times[key].append((time.perf_counter() - start) / args.steps * 1e3)
        for key, t in times.items():
            medians[(n,) + key] = statistics.median(t)
    base = medians[(threads[0], "canonical", "contiguous")]
    print(f"small CNN step, batch {args.batch}: median ms (ratio to canonical, contiguous, {threads[0]} thread(s))")
    for (n, basis, fmt), ms in medians.items():
        print(f"  threads {n}  {basis:9s} {fmt:13s} {ms:8.1f} ms  {ms / base:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
