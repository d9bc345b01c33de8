"""Where a training step's time goes, per basis: ``torch.profiler`` tables for the book's appendix.

For each setting (LeNet-300-100 at batch 60, 128 and 512 in the engine and in a user's own
loop, the small CNN at batch 128 in the engine, and the engine's evaluation of LeNet-300-100)
and each basis, ``--steps`` steps (or evaluations) are profiled on the CPU and their operator
time is split into

* ``transforms``: everything run inside a basis transform (forward, inverse, output synthesis,
  input analysis, weight synthesis), and the backward of those operations (matched by the
  autograd sequence numbers of the forward operations);
* ``matmuls``: the layers' own products and convolutions (``mm``, ``addmm``, ``bmm``,
  ``convolution``, ...) and their backward;
* ``optimizer``: ``Optimizer.step`` and ``zero_grad``;
* ``other ops``: every other operator (mask product, ReLU, pooling, loss, autograd's gradient
  accumulation, ...);
* ``python``: the wall time of the step not spent inside any operator (Python, dispatch).

The transform methods are wrapped in ``torch.profiler.record_function`` only while this script
profiles (the library itself carries no profiler labels). Profiling inflates small operators,
so the table shows shares of a profiled step next to its unprofiled median time.
Outputs: a table on stdout and, with ``--markdown PATH``, the Markdown table.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, str(Path(__file__).resolve().parent))
from steps import Case, interleaved_medians, markdown_table  # noqa: E402

from glth_core.core import bases as _bases  # noqa: E402
from glth_core.core import transforms as _transforms  # noqa: E402

BASES = ("canonical", "dct", "hadamard", "random")
#: (label, model, input shape, batch, loop, what)
SETTINGS = (
    ("LeNet-300-100 step, batch 60, engine", "lenet300", (1, 28, 28), 60, "engine", "step"),
    ("LeNet-300-100 step, batch 128, engine", "lenet300", (1, 28, 28), 128, "engine", "step"),
    ("LeNet-300-100 step, batch 512, engine", "lenet300", (1, 28, 28), 512, "engine", "step"),
    ("LeNet-300-100 step, batch 60, user loop", "lenet300", (1, 28, 28), 60, "user", "step"),
    ("LeNet-300-100 step, batch 128, user loop", "lenet300", (1, 28, 28), 128, "user", "step"),
    ("LeNet-300-100 step, batch 512, user loop", "lenet300", (1, 28, 28), 512, "user", "step"),
    ("small CNN step, batch 128, engine", "small_cnn", (1, 28, 28), 128, "engine", "step"),
    ("LeNet-300-100 evaluate (10,000 inputs), engine", "lenet300", (1, 28, 28), 60, "engine", "evaluate"),
)
MATMULS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addbmm", "aten::matmul", "aten::linear",
           "aten::convolution", "aten::_convolution", "aten::mkldnn_convolution", "aten::convolution_backward",
           "aten::conv2d", "aten::_slow_conv2d_forward", "aten::_slow_conv2d_backward"}
CATEGORIES = ("transforms", "matmuls", "optimizer", "other ops", "python")
LABEL = "glth.transform"


def _labelled(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with record_function(LABEL):
            return method(*args, **kwargs)
    return wrapper


@contextlib.contextmanager
def transforms_labelled():
    """Wrap every transform entry point in ``record_function(LABEL)`` for the duration of the block."""
    patched = []
    classes = [c for c in vars(_transforms).values() if isinstance(c, type) and issubclass(c, _transforms.AxisTransform)]
    targets = [(c, name) for c in classes for name in ("forward", "inverse", "synthesize_rows") if name in vars(c)]
    targets += [(_bases.Basis, "analyse_inputs"), (_bases.Basis, "apply_transforms")]
    for cls, name in targets:
        patched.append((cls, name, vars(cls)[name]))
        setattr(cls, name, _labelled(vars(cls)[name]))
    try:
        yield
    finally:
        for cls, name, original in patched:
            setattr(cls, name, original)


def split(events) -> dict[str, float]:
    """Self CPU time (us) of the profiled operators by category (see the module docstring)."""
    in_transform: dict[int, bool] = {}
    transform_seqs: set[int] = set()

    def under(e, pred):
        while e is not None:
            if pred(e):
                return True
            e = e.cpu_parent
        return False

    for e in events:
        if under(e, lambda a: a.name == LABEL):
            in_transform[id(e)] = True
            if e.sequence_nr >= 0:
                transform_seqs.add(e.sequence_nr)
    totals = dict.fromkeys(CATEGORIES[:-1], 0.0)
    for e in events:
        if e.name == LABEL:
            category = "transforms"
        elif in_transform.get(id(e)) or under(
                e, lambda a: a.name.startswith("autograd::engine::evaluate_function") and a.sequence_nr in transform_seqs):
            category = "transforms"
        elif under(e, lambda a: a.name.startswith("Optimizer.")):
            category = "optimizer"
        elif e.name in MATMULS:
            category = "matmuls"
        else:
            category = "other ops"
        totals[category] += e.self_cpu_time_total
    return totals


def profile_case(case: Case, what: str, steps: int) -> tuple[dict[str, float], float]:
    """``(time per step by category in ms, profiled wall ms per step)``."""
    run = case.step if what == "step" else case.evaluate
    with transforms_labelled():
        run()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            for _ in range(steps):
                run()
            wall = (time.perf_counter() - start) / steps * 1e3
    totals = {k: v / steps / 1e3 for k, v in split(prof.events()).items()}
    totals["python"] = max(0.0, wall - sum(totals.values()))
    return totals, wall


def run_setting(label, model, shape, batch, loop, what, args) -> list[dict]:
    cases = {b: Case(model, shape, batch, b, loop, torch.device("cpu"), eval_examples=10000 if what == "evaluate" else 10)
             for b in BASES}
    for case in cases.values():
        case.step()
        case.step()
        case.evaluate()
    conv = model != "lenet300"
    steps = args.eval_steps if what == "evaluate" else (args.conv_steps if conv else args.steps)
    medians = interleaved_medians({b: c.step if what == "step" else c.evaluate for b, c in cases.items()},
                                  args.reps, max(1, steps // 2))
    rows = []
    for b, case in cases.items():
        totals, wall = profile_case(case, what, steps)
        share = {k: 100 * v / wall for k, v in totals.items()}
        rows.append(dict(setting=label, basis=b, ms=medians[b], ratio=medians[b] / medians["canonical"],
                         profiled_ms=wall, **{f"{k} %": share[k] for k in CATEGORIES},
                         **{f"{k} ms": totals[k] * medians[b] / wall for k in CATEGORIES}))
        print(f"  {label:48s} {b:9s} {medians[b]:8.2f} ms ({rows[-1]['ratio']:.2f}x)  "
              + "  ".join(f"{k} {share[k]:4.0f}%" for k in CATEGORIES), flush=True)
    return rows


def markdown(frame: pd.DataFrame, header: str) -> str:
    columns = ["setting", "basis", "time (ms)", "/ canonical"] + [f"{k} (ms)" for k in CATEGORIES]
    rows = [[r.setting, r.basis, f"{r.ms:.2f}", f"{r.ratio:.2f}x"]
            + [f"{r[f'{k} ms']:.2f} ({r[f'{k} %']:.0f}%)" for k in CATEGORIES] for _, r in frame.iterrows()]
    return markdown_table(header, columns, rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as make bench)")
    parser.add_argument("--steps", type=int, default=40, help="profiled LeNet steps per basis")
    parser.add_argument("--conv-steps", type=int, default=6, help="profiled small-CNN steps per basis")
    parser.add_argument("--eval-steps", type=int, default=4, help="profiled evaluations per basis")
    parser.add_argument("--reps", type=int, default=5, help="interleaved unprofiled repetitions (median time)")
    parser.add_argument("--settings", default="all", help="comma-separated indices into SETTINGS, or 'all'")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    if min(args.threads, args.steps, args.conv_steps, args.eval_steps, args.reps) < 1:
        parser.error("--threads, --steps, --conv-steps, --eval-steps and --reps must be positive")
    try:
        settings = SETTINGS if args.settings == "all" else [SETTINGS[int(i)] for i in args.settings.split(",")]
    except (ValueError, IndexError):
        parser.error(f"--settings must be 'all' or indices in 0..{len(SETTINGS) - 1}, got {args.settings!r}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for setting in settings:
        rows += run_setting(*setting, args)
    frame = pd.DataFrame(rows)
    header = (f"Profile of {time.strftime('%Y-%m-%d', time.gmtime())}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} thread(s); time: unprofiled median of {args.reps} interleaved repetitions; "
              "split: shares of a profiled step.")
    table = markdown(frame, header)
    print()
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
