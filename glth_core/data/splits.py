"""Raw arrays -> normalised tensors in train/validation/test splits (:class:`Splits`).

:func:`load` normalises each split with the registry's constants,
``x = (x / scale - mean) / std``, and carves the validation split out of
train with ``numpy.random.default_rng(split_seed)``; :func:`loaders` wraps the
splits in seeded ``DataLoader``s. No global random state is read or changed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .registry import REGISTRY, check_name
from .sources import raw_arrays

__all__ = ["Splits", "load", "loaders", "normalise", "validation_count"]


@dataclass(frozen=True, eq=False)
class Splits:
    """A data set's splits as tensors, ready for training.

    ``train``, ``test`` and (if requested) ``val`` are ``(x, y)`` pairs: ``x``
    float32 of shape ``(n, *input_shape)`` (NCHW for images), normalised with
    ``mean``/``std``; ``y`` int64 in ``[0, num_classes)``. ``source`` says
    where the raw data was read from. Compared by identity (tensors have no
    single truth value).
    """

    name: str
    train: tuple[Tensor, Tensor]
    val: tuple[Tensor, Tensor] | None
    test: tuple[Tensor, Tensor]
    input_shape: tuple[int, ...]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = ""

    def __repr__(self) -> str:  # short, with no memory addresses (nbval-friendly)
        def n(pair):
            return "None" if pair is None else str(len(pair[1]))
        return (f"Splits(name={self.name!r}, train={n(self.train)}, val={n(self.val)}, "
                f"test={n(self.test)}, input_shape={self.input_shape}, "
                f"num_classes={self.num_classes})")


def normalise(name: str, x: np.ndarray) -> np.ndarray:
    """Raw arrays of data set ``name`` -> float32 ``(n, *input_shape)``,
    ``(x / scale - mean) / std`` (uint8 images: scale 255; others already scaled)."""
    spec = REGISTRY[name]
    mean, std = (np.asarray(v, dtype=np.float64) for v in (spec.mean, spec.std))
    if x.dtype == np.uint8:  # images: one table lookup per channel, exact in float64
        if spec.channels_last:  # e.g. torchvision's CIFAR-10: (n, 32, 32, 3) -> NCHW
            x = x.transpose(0, 3, 1, 2)
        x = x.reshape((len(x),) + spec.input_shape)
        tables = ((np.arange(256)[None, :] / 255.0 - mean[:, None]) / std[:, None]).astype(np.float32)
        out = np.empty(x.shape, dtype=np.float32)
        for channel in range(x.shape[1]):
            np.take(tables[channel], x[:, channel], out=out[:, channel])
        return out
    x = x.reshape((len(x),) + spec.input_shape).astype(np.float64)  # digits, mnist1d
    return ((x - mean[0]) / std[0]).astype(np.float32)


def validation_count(validation_size: int | float, n_train: int) -> int:
    """The number of validation examples ``validation_size`` asks for out of ``n_train``:
    an int count in ``[0, n_train)`` or a float fraction in ``[0, 1)`` (rounded)."""
    if isinstance(validation_size, bool) or not isinstance(validation_size, (int, float, np.integer)):
        raise TypeError("validation_size must be an int (number of examples) or a float in "
                        f"[0, 1) (fraction of train), got {type(validation_size).__name__}")
    if isinstance(validation_size, float):
        if not 0.0 <= validation_size < 1.0:
            raise ValueError(f"validation_size as a fraction must be in [0, 1), got {validation_size}")
        return int(round(validation_size * n_train))
    if not 0 <= validation_size < n_train:
        raise ValueError(f"validation_size must be in [0, {n_train}) for this data set's "
                         f"{n_train} training examples, got {validation_size}")
    return int(validation_size)


def load(name: str, *, validation_size: int | float = 0, split_seed: int = 0,
         data_dir: str | os.PathLike | None = None, download: bool = True,
         verbose: bool = True) -> Splits:
    """Load data set ``name`` (one of :data:`~glth_core.data.DATASETS`) as normalised tensors.

    ``validation_size``: examples moved from train to a validation split, an
    int count or a float fraction of train (0: no validation split, ``val`` is
    None). ``split_seed`` picks them (``numpy.random.default_rng``); the same
    seed always gives the same split. ``data_dir``: the data cache (default
    :func:`~glth_core.data.default_data_dir`). ``download=False`` never fetches
    (steps 3-4). Raises ValueError for an unknown name,
    :class:`~glth_core.data.DatasetNotFoundError` if no step can provide the data.
    """
    name = check_name(name)
    if isinstance(split_seed, bool) or not isinstance(split_seed, (int, np.integer)) or split_seed < 0:
        raise ValueError(f"split_seed must be a non-negative int, got {split_seed!r}")
    arrays, source = raw_arrays(name, data_dir, bool(download), verbose)

    x_train, y_train = normalise(name, arrays["x_train"]), arrays["y_train"].astype(np.int64)
    x_test, y_test = normalise(name, arrays["x_test"]), arrays["y_test"].astype(np.int64)
    n_val = validation_count(validation_size, len(y_train))
    val = None
    if n_val:
        order = np.random.default_rng(int(split_seed)).permutation(len(y_train))
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        val = (torch.from_numpy(np.ascontiguousarray(x_train[val_idx])),
               torch.from_numpy(np.ascontiguousarray(y_train[val_idx])))
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    spec = REGISTRY[name]
    return Splits(
        name=name,
        train=(torch.from_numpy(np.ascontiguousarray(x_train)),
               torch.from_numpy(np.ascontiguousarray(y_train))),
        val=val,
        test=(torch.from_numpy(np.ascontiguousarray(x_test)),
              torch.from_numpy(np.ascontiguousarray(y_test))),
        input_shape=spec.input_shape, num_classes=spec.num_classes, mean=spec.mean, std=spec.std,
        source=str(source))


def loaders(splits: Splits, batch_size: int, *, seed: int = 0,
            eval_batch_size: int | None = None, drop_last: bool = False,
            num_workers: int = 0):
    """``(train_loader, test_loader)``, plus ``val_loader`` last if
    ``splits.val`` exists. The train loader reshuffles every epoch with a
    ``torch.Generator`` seeded by ``seed`` (reproducible, no global state);
    test/validation loaders keep their order, batches of ``eval_batch_size``
    (default ``batch_size``)."""
    from torch.utils.data import DataLoader, TensorDataset

    if not isinstance(splits, Splits):
        raise TypeError(f"splits must be a Splits from load(), got {type(splits).__name__}")
    for arg, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
        if value is None and arg == "eval_batch_size":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be a positive int, got {value!r}")
    eval_batch_size = eval_batch_size or batch_size
    generator = torch.Generator().manual_seed(int(seed))
    out = [DataLoader(TensorDataset(*splits.train), batch_size=batch_size, shuffle=True,
                      generator=generator, drop_last=drop_last, num_workers=num_workers),
           DataLoader(TensorDataset(*splits.test), batch_size=eval_batch_size, shuffle=False,
                      num_workers=num_workers)]
    if splits.val is not None:
        out.append(DataLoader(TensorDataset(*splits.val), batch_size=eval_batch_size,
                              shuffle=False, num_workers=num_workers))
    return tuple(out)
