"""Seconds per training epoch, canonical against rotated bases: how to measure the entries of
``glth_core.book.profiles.SECONDS_PER_EPOCH`` (run it on an otherwise idle machine).

Trains one epoch (``glth_core.engine.training.train``, evaluation on the test set included, batch 128,
the quick profile's SGD settings) of each ``--models`` entry in the canonical basis and in each of
``--bases``, built as the engine builds them, ``--reps`` times with the order alternated, and prints
the median seconds and the ratio to the canonical basis of the same model.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from glth_core.engine.hparams import ImpHparams, update
from glth_core.engine.lottery import generalized_model, load_splits
from glth_core.engine.training import train


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="lenet300,small_cnn")
    parser.add_argument("--dataset", default="fashion_mnist", help="data set (digits: a quick check)")
    parser.add_argument("--bases", default="dct,random")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (profiles.py: 2)")
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args(argv)
    if args.threads < 1 or args.reps < 1:
        parser.error("--threads and --reps must be positive")
    torch.set_num_threads(args.threads)
    hp = update(ImpHparams(), dataset=args.dataset, epochs=1, batch_size=128, lr=0.05, momentum=0.9,
                milestones=())
    splits = load_splits(hp.dataset)
    train_data, test_data, shape = splits.train, splits.test, splits.input_shape
    for model_name in args.models.split(","):
        bases = ["canonical"] + args.bases.split(",")
        times = {b: [] for b in bases}
        for rep in range(args.reps):
            for basis in bases if rep % 2 == 0 else bases[::-1]:
                model = generalized_model(update(hp, model=model_name, basis=basis), shape, splits.num_classes)
                start = time.perf_counter()
                train(model, train_data, test_data, hp.training, seed=0, device="cpu", progress=False)
                times[basis].append(time.perf_counter() - start)
        base = statistics.median(times["canonical"])
        for basis, t in times.items():
            print(f"{model_name:10s} {basis:9s} {statistics.median(t):7.2f} s per epoch  {statistics.median(t) / base:.2f}x",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
