"""Benchmark every basis against the canonical one: training step, evaluation, memory (``make bench``).

For each configuration (LeNet-300-100 at batch 60, 128 and 512 on 1x28x28 inputs, the small
CNN of ``glth_core.engine.models`` at batch 128 on 1x28x28 inputs), each way of training (``engine``
and ``user``, see ``benchmarks/steps.py``) and each basis (canonical, dct, hadamard, random;
plus the plain, un-generalized model for reference) it measures, on the CPU and on CUDA when
there is one:

* ``train_ms``: one training step (forward, backward, SGD with momentum step), median over
  ``--reps`` repetitions of ``--steps`` steps (``train_best_ms``: the fastest repetition, a
  check on the median when other jobs load the machine: preemptions only ever add time). ``engine``: as ``glth_core.engine.training.train``
  runs it (a first generalized layer that reads the input, LeNet's ``fc1``, gets inputs
  analysed once beforehand; the model as ``glth_core.engine.lottery.generalized_model`` builds it);
  ``user``: plain ``glth_core.generalize(model, basis)`` and ``torch.optim.SGD``;
* ``eval_ms`` (batch-128 configurations only; evaluation does not depend on the training
  batch): one call of the engine's ``glth_core.engine.training.evaluate`` (eval mode, ``no_grad``)
  on ``--eval-examples`` inputs after training steps changed the weights, so every call
  synthesises each weight once and the rest of the call uses the cached weight; median;
* ``analysis_ms``: the one-off analysis of the evaluation inputs for the first layer, which the
  engine does once per run for its training set (median);
* ``basis_kib``: the basis tables the model holds (buffers of every basis);
* ``autograd_mib``: the tensors autograd saves for the backward of one step
  (``torch.autograd.graph.saved_tensors_hooks``, unique storages);
* ``cuda_peak_mib``: ``torch.cuda.max_memory_allocated`` over the training steps (CUDA only).

Repetitions are interleaved across bases (the order rotates every repetition) so that a noisy,
shared machine slows every basis alike; ratios are taken to the canonical basis of the same
configuration, loop, device and run. The run ends with the issue's targets checked against
the measured ratios (:data:`TARGETS`). With ``--lottery`` (``make bench`` passes it) it also
times short lottery runs per basis (``glth_core.engine.lottery.run_imp``, LeNet-300-100,
``--lottery-epochs`` epochs, ``--lottery-rounds`` rounds, Fashion-MNIST or, with ``--quick``,
digits; the median of ``--lottery-reps`` interleaved runs) in a temporary results folder.

Outputs: a table on stdout, ``benchmarks/results.csv`` and the Markdown snapshot
``book/benchmarks_latest.md`` that the book's appendix includes (``--no-book`` skips it).
Inputs are random (timings do not depend on values).
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from steps import LOOPS, Case  # noqa: E402

from glth_core.core.bases import FIXED_BASES  # noqa: E402
from glth_core.engine.hparams import ImpHparams, update  # noqa: E402
from glth_core.core.parametrization import analyse_inputs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BASES = FIXED_BASES  # svd is fitted to trained weights: not a basis of a training step
#: (label, model name, input shape, batch)
CONFIGS = (
    ("LeNet-300-100, batch 60", "lenet300", (1, 28, 28), 60),
    ("LeNet-300-100, batch 128", "lenet300", (1, 28, 28), 128),
    ("LeNet-300-100, batch 512", "lenet300", (1, 28, 28), 512),
    ("small CNN, batch 128", "small_cnn", (1, 28, 28), 128),
)
#: (what, configuration prefix, column, bases, largest ratio to the canonical basis): the issue's targets
TARGETS = (
    ("LeNet-300-100 step, DCT and random", "LeNet-300-100", "train_ratio", ("dct", "random"), 1.25),
    ("LeNet-300-100 step, Hadamard", "LeNet-300-100", "train_ratio", ("hadamard",), 1.35),
    ("small CNN step, any basis", "small CNN", "train_ratio", ("dct", "hadamard", "random"), 1.10),
    ("evaluation with cached weights, any basis", "", "eval_ratio", ("dct", "hadamard", "random"), 1.05),
)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def basis_bytes(model) -> int:
    seen, total = set(), 0
    for name, module in model.named_modules():
        if name.endswith(".basis") or type(module).__name__ == "Basis":
            for b in module.buffers():
                if b.data_ptr() not in seen:
                    seen.add(b.data_ptr())
                    total += b.numel() * b.element_size()
    return total


def autograd_bytes(model, x, y) -> int:
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return sum(storages.values())


class TimedCase(Case):
    """A :class:`steps.Case` that records its step, evaluation and analysis times."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.train_times: list[float] = []
        self.eval_times: list[float] = []
        self.analysis_times: list[float] = []
        self.cuda_peak = math.nan

    def time_steps(self, steps: int) -> None:
        self.model.train()
        sync(self.device)
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        sync(self.device)
        self.train_times.append((time.perf_counter() - start) / steps)

    def time_eval(self) -> None:
        sync(self.device)
        start = time.perf_counter()
        self.evaluate()
        sync(self.device)
        self.eval_times.append(time.perf_counter() - start)
        if self.first is not None:
            sync(self.device)
            start = time.perf_counter()
            analyse_inputs(self.first, self.x_eval)
            sync(self.device)
            self.analysis_times.append(time.perf_counter() - start)


def run_config(label, model_name, input_shape, batch, loop, device, args) -> list[dict]:
    conv = model_name != "lenet300"
    steps = args.conv_steps if conv else args.steps
    with_eval = batch == 128
    eval_examples = (args.conv_eval_examples if conv else args.eval_examples) if with_eval else 1
    names = ("plain",) + BASES
    cases = [TimedCase(model_name, input_shape, batch, name, loop, device, eval_examples) for name in names]
    for case in cases:  # warm-up: allocator, first-call dispatch, eval cache
        case.step()
        case.step()
        case.evaluate()
    if device.type == "cuda":
        for case in cases:
            torch.cuda.reset_peak_memory_stats(device)
            case.time_steps(steps)
            case.cuda_peak = torch.cuda.max_memory_allocated(device) / 2**20
            case.train_times.clear()
    reps = args.conv_reps if conv else args.reps
    for rep in range(reps):
        order = cases[rep % len(cases):] + cases[: rep % len(cases)]
        for case in order:
            case.time_steps(steps)
        if with_eval:
            for case in reversed(order):
                case.time_eval()
    rows = []
    for case in cases:
        x, y = case.batches[0]
        case.model.train()
        median = (lambda t: 1e3 * statistics.median(t) if t else math.nan)
        rows.append(dict(
            config=label, loop=loop, device=device.type, threads=torch.get_num_threads(), basis=case.basis,
            train_ms=median(case.train_times), train_best_ms=1e3 * min(case.train_times), eval_ms=median(case.eval_times),
            analysis_ms=median(case.analysis_times),
            basis_kib=basis_bytes(case.model) / 1024, autograd_mib=autograd_bytes(case.model, x, y) / 2**20,
            cuda_peak_mib=case.cuda_peak, eval_examples=eval_examples if with_eval else 0, reps=reps, steps=steps))
        print(f"  {label:26s} {loop:6s} {device.type:4s} {case.basis:9s} train {rows[-1]['train_ms']:8.2f} ms"
              + (f"  eval {rows[-1]['eval_ms']:8.1f} ms" if with_eval else ""), flush=True)
    return rows


def run_lottery(args, device) -> list[dict]:
    from glth_core.engine.lottery import load_splits, run_imp

    dataset = "digits" if args.quick else "fashion_mnist"
    times = {b: [] for b in BASES}
    load_splits(update(ImpHparams(), dataset=dataset).dataset)  # data loading is not part of the comparison
    with tempfile.TemporaryDirectory(prefix="glth-bench-") as tmp:
        # untimed warm-up run: first-call costs (imports, kernels, allocator) would go to whichever basis runs first
        run_imp(update(ImpHparams(), model="lenet300", dataset=dataset, epochs=args.lottery_epochs, rounds=1),
                Path(tmp) / "warm-up", device=device.type, progress=False)
        for rep in range(args.lottery_reps):
            for basis in BASES[rep % len(BASES):] + BASES[: rep % len(BASES)]:
                hp = update(ImpHparams(), model="lenet300", dataset=dataset, epochs=args.lottery_epochs,
                            basis=basis, rounds=args.lottery_rounds)
                start = time.perf_counter()
                run_imp(hp, Path(tmp) / f"{basis}-{rep}", device=device.type, progress=False)
                times[basis].append(time.perf_counter() - start)
                print(f"  lottery {dataset} {basis:9s} {times[basis][-1]:7.1f} s", flush=True)
    label = (f"whole lottery run (ms, in the train column): LeNet-300-100, {dataset}, "
             f"{args.lottery_epochs} epoch(s), {args.lottery_rounds} rounds")
    return [dict(config=label, loop="engine", device=device.type, threads=torch.get_num_threads(), basis=b,
                 train_ms=1e3 * statistics.median(t), reps=args.lottery_reps) for b, t in times.items()]


def with_ratios(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for col in ("train_ms", "train_best_ms", "eval_ms"):
        if col not in frame:
            continue
        base = frame[frame.basis == "canonical"].set_index(["config", "loop", "device"])[col]
        frame[col.replace("_ms", "_ratio")] = [
            r[col] / base.get((r["config"], r["loop"], r["device"]), math.nan) for _, r in frame.iterrows()]
    return frame


def target_lines(frame: pd.DataFrame) -> list[str]:
    """One line per target of :data:`TARGETS`: the largest measured ratio, where, and whether it is met."""
    lines = []
    for what, prefix, column, bases, limit in TARGETS:
        if column not in frame:
            continue
        rows = frame[frame.config.str.startswith(prefix) & frame.basis.isin(bases) & frame[column].notna()
                     & ~frame.config.str.startswith("whole lottery run")]
        for device in sorted(rows.device.unique()):
            on = rows[rows.device == device]
            worst = on.loc[on[column].idxmax()]
            verdict = "met" if worst[column] <= limit else "NOT met"
            lines.append(f"{what}: <= {limit:.2f}x; largest {worst[column]:.2f}x ({worst['basis']}, {worst['config']}, "
                         f"{worst['loop']} loop, {device}): {verdict}")
    return lines


def machine(threads: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    text = (f"CPU {cpu}, {os.cpu_count()} logical cores, torch {torch.__version__}, "
            f"torch thread counts {threads}, Python {platform.python_version()}")
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name()}"
    return text


def markdown(frame: pd.DataFrame, header: str) -> str:
    def fmt(v, spec, suffix=""):
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec) + suffix

    analysed: list[str] = []
    lines = [header, "",
             "| configuration | loop | device | basis | train step (ms) | train / canonical | best-of / canonical | "
             "evaluate (ms) | evaluate / canonical | basis tables (KiB) | autograd saved (MiB) | CUDA peak (MiB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in frame.iterrows():
        if "analysis_ms" in r and not pd.isna(r["analysis_ms"]):
            analysed.append(f"{r['basis']} {r['analysis_ms']:.1f} ms ({r['config']}, {r['device']})")
        lines.append(f"| {r['config']} | {r['loop']} | {r['device']} | {r['basis']} | {fmt(r.get('train_ms'), '.2f')} | "
                     f"{fmt(r.get('train_ratio'), '.2f', 'x')} | {fmt(r.get('train_best_ratio'), '.2f', 'x')} | "
                     f"{fmt(r.get('eval_ms'), '.1f')} | "
                     f"{fmt(r.get('eval_ratio'), '.2f', 'x')} | "
                     f"{fmt(r.get('basis_kib'), '.1f')} | {fmt(r.get('autograd_mib'), '.2f')} | "
                     f"{fmt(r.get('cuda_peak_mib'), '.1f')} |")
    if analysed:
        lines += ["", "One-off analysis of the evaluation inputs for the first layer (the engine does this once per "
                  "run for its training set and keeps it for every round, outside the timed steps): "
                  + "; ".join(analysed) + "."]
    targets = target_lines(frame)
    if targets:
        lines += ["", "Targets (ratios to the canonical basis, same run):", ""] + [f"- {t}" for t in targets]
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", default="1",
                        help="comma-separated torch CPU thread counts, each timed in turn (default 1: stable timings; "
                             "make bench: 1,2, the book runs two)")
    parser.add_argument("--reps", type=int, default=15, help="interleaved repetitions per basis (median)")
    parser.add_argument("--steps", type=int, default=8, help="training steps per repetition (LeNet)")
    parser.add_argument("--conv-steps", type=int, default=2, help="training steps per repetition (small CNN)")
    parser.add_argument("--eval-examples", type=int, default=10000, help="inputs per evaluate() call (LeNet)")
    parser.add_argument("--conv-eval-examples", type=int, default=2000, help="inputs per evaluate() call (small CNN)")
    parser.add_argument("--conv-reps", type=int, default=7, help="interleaved repetitions per basis (small CNN)")
    parser.add_argument("--loops", default="engine,user", help="comma-separated ways of training: engine, user")
    parser.add_argument("--devices", default="auto", help="'auto' (cpu, and cuda if available), 'cpu' or 'cuda'")
    parser.add_argument("--configs", default="all", help="comma-separated indices into CONFIGS (0..3), 'all' or 'none'")
    parser.add_argument("--lottery", action="store_true", help="also time one short lottery run per basis")
    parser.add_argument("--quick", action="store_true", help="lottery on digits instead of Fashion-MNIST")
    parser.add_argument("--lottery-epochs", type=int, default=1)
    parser.add_argument("--lottery-rounds", type=int, default=2)
    parser.add_argument("--lottery-reps", type=int, default=3, help="lottery runs per basis (median; interleaved)")
    parser.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "results.csv")
    parser.add_argument("--book", type=Path, default=ROOT / "book" / "benchmarks_latest.md",
                        help="Markdown snapshot included by the book's appendix")
    parser.add_argument("--no-book", action="store_true", help="do not write the book snapshot")
    args = parser.parse_args(argv)
    try:
        thread_counts = [int(t) for t in args.threads.split(",")]
    except ValueError:
        parser.error(f"--threads must be comma-separated positive integers such as 1,2, got {args.threads!r}")
    counts = (args.reps, args.conv_reps, args.steps, args.conv_steps, args.eval_examples, args.conv_eval_examples,
              args.lottery_epochs, args.lottery_rounds, args.lottery_reps)
    if min(*thread_counts, *counts) < 1:
        parser.error("--threads, --reps, --conv-reps, --steps, --conv-steps, the eval sizes and the --lottery-* "
                     "counts must be positive")
    if args.devices == "auto":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    elif args.devices in ("cpu", "cuda"):
        devices = [args.devices]
    else:
        parser.error(f"--devices must be auto, cpu or cuda, got {args.devices!r}")
    if "cuda" in devices and not torch.cuda.is_available():
        parser.error("--devices cuda: no CUDA device is available")
    if args.configs == "all":
        configs = CONFIGS
    elif args.configs == "none":
        configs = []
    else:
        try:
            configs = [CONFIGS[int(i)] for i in args.configs.split(",")]
        except (ValueError, IndexError):
            parser.error(f"--configs must be 'all', 'none' or indices in 0..{len(CONFIGS) - 1}, got {args.configs!r}")
    loops = args.loops.split(",")
    if not loops or any(loop not in LOOPS for loop in loops):
        parser.error(f"--loops must be a comma-separated list of {', '.join(LOOPS)}, got {args.loops!r}")
    torch.manual_seed(0)

    started = time.time()
    rows: list[dict] = []
    for device_name in devices:
        device = torch.device(device_name)
        # CUDA timings do not depend on the CPU threads: one pass; several counts label their rows
        counts = thread_counts if device.type == "cpu" else thread_counts[:1]
        for threads in counts:
            torch.set_num_threads(threads)
            suffix = f", {threads} thread{'s' if threads > 1 else ''}" if len(thread_counts) > 1 else ""
            for label, model_name, input_shape, batch in configs:
                for loop in loops:
                    rows += run_config(label + suffix, model_name, input_shape, batch, loop, device, args)
        torch.set_num_threads(thread_counts[0])
        if args.lottery:  # whole runs: at the first thread count only (they take a minute per basis)
            rows += run_lottery(args, device)
    frame = with_ratios(rows)
    header = (f"Benchmark of {time.strftime('%Y-%m-%d', time.gmtime())}: {machine(args.threads)}; "
              f"medians of {args.reps} (small CNN: {args.conv_reps}) interleaved repetitions; ran {time.time() - started:.0f} s.")
    table = markdown(frame, header)
    print()
    print(table)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.csv.with_name(args.csv.name + ".tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, args.csv)
    if not args.no_book:
        write_atomic(args.book, table)
    print(f"wrote {args.csv}" + ("" if args.no_book else f" and {args.book}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
