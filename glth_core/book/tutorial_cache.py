r"""What the tutorial chapter (07, "Your own model") trains, kept by what determines it.

The tutorial trains its example models with its own loop, outside the engine's run store; a second
build with the same parameters must read them back instead of training again, and print the same
numbers. :class:`TrainedModels` does that for one model at a time: a trained *ticket* (a generalized
model, pruned and retrained) and the trained *dense* model it came from (plain torch).

Layout (the :class:`~glth_core.storage.store.RunStore` layout, one folder per model and identity)::

    <results>/tutorial/
        <model>_<hash>/          hash: first 12 hex digits of SHA-256 of the identity's canonical JSON
            hparams.json         the identity (below)
            ticket.glth          the trained ticket (glth_core.save_ticket: checksummed, atomic)
            round_0000.pt        {"dense": state dict}, checksummed and atomic, written last: the entry
                                 is finished if and only if it exists and loads
        .locks/<model>_<hash>.lock

The identity of an entry is everything that determines the trained numbers: the model's name, the
caller's ``parameters`` (steps, learning rate, data set, ...), ``glth_core.__version__``, the digest of
the package's numeric code (:func:`glth_core.storage.source_digest.source_hash`), torch's version, and
a digest of the caller's ``code``: for a function or module of a Python file, the code statements of
that file (:func:`glth_core.storage.source_digest.code_statements`: comments, docstrings and layout do
not count); for a function defined in a notebook, its compiled code (bytecode, names and constants).
Changing any of them gives a new entry, trained once; an entry that is corrupt or incomplete is
trained again (two processes on one entry take turns: the lock).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from .. import _version
from ..core.tickets import TicketError, load_ticket, save_ticket
from ..storage.source_digest import code_statements, source_hash
from ..storage.store import RunStore, StorageError, default_results_dir

__all__ = ["TrainedModels", "code_fingerprint"]


def _compiled(code: types.CodeType) -> str:
    """A stable text of a code object: bytecode, names, variables and constants (nested code included),
    without file names or line numbers (a notebook cell's file name changes with every kernel)."""
    def const(value):
        if isinstance(value, types.CodeType):
            return _compiled(value)
        if isinstance(value, frozenset):  # set literals: their order follows the string hash seed
            return repr(sorted(map(repr, value)))
        return repr(value)

    return "|".join([code.co_code.hex(), repr(code.co_names), repr(code.co_varnames),
                     *(const(c) for c in code.co_consts)])


def code_fingerprint(obj) -> str:
    """SHA-256 (hex) of the code of ``obj``, a module or a function (see the module docstring).

    Raises:
        TypeError: ``obj`` is neither a module nor a function.
    """
    if isinstance(obj, types.ModuleType):
        module = obj
    elif inspect.isfunction(obj):
        module = sys.modules.get(obj.__module__)
    else:
        raise TypeError(f"code must be functions or modules, got {obj!r}")
    path = getattr(module, "__file__", None)
    if path is not None and Path(path).suffix == ".py" and Path(path).is_file() and module.__name__ != "__main__":
        text = "\n".join(code_statements(path))
    else:  # defined in a notebook or an interactive session: its compiled code
        text = _compiled(obj.__code__) + repr(obj.__defaults__) + repr(obj.__kwdefaults__)
    return hashlib.sha256(text.encode()).hexdigest()


class TrainedModels:
    """Trained tickets and their dense models, read back when they were trained with the same identity.

    Args:
        results_dir: the results folder (None: ``$GLTH_RESULTS_DIR`` or ``./results``); entries go to
            its ``tutorial/`` folder.
        parameters: JSON-serialisable settings that determine the training (steps, lr, data set ...).
        code: the functions and modules whose code determines it (the training loop, the model builder).

    Example::

        models = TrainedModels(None, {"steps": 150, "lr": 1e-3}, code=[train, train_ticket, build])
        ticket, dense = models.fetch("lstm", lambda: train_ticket("lstm"), lambda: build("lstm", 28, 28))

    Attributes:
        trained: the names trained (not read back) by this object's :meth:`fetch` calls, in order.
    """

    def __init__(self, results_dir, parameters: Mapping, code: Sequence = ()):
        self.folder = default_results_dir(results_dir) / "tutorial"
        self._common = {"parameters": json.loads(json.dumps(dict(parameters), sort_keys=True)),
                        "version": _version.__version__, "source": source_hash(), "torch": torch.__version__,
                        "code": [code_fingerprint(c) for c in code]}
        self.trained: list[str] = []

    def identity(self, name: str) -> dict:
        """The identity of model ``name``'s entry (what its hash is taken of)."""
        return {"model": name, **self._common}

    def key(self, name: str) -> str:
        """``<name>_<first 12 hex digits of the SHA-256 of the identity's canonical JSON>``."""
        text = json.dumps(self.identity(name), sort_keys=True, separators=(",", ":"))
        return f"{name}_{hashlib.sha256(text.encode()).hexdigest()[:12]}"

    def fetch(self, name: str, train: Callable[[], tuple[nn.Module, nn.Module]],
              build: Callable[[], nn.Module]) -> tuple[nn.Module, nn.Module]:
        """``(ticket, dense)`` of model ``name``: read back if its entry is finished, else ``train()``, stored.

        Args:
            name: the model's name (part of the identity and of the folder name).
            train: trains and returns ``(ticket, dense)``: the generalized ticket and the plain trained
                dense model.
            build: a freshly built plain model of the same architecture (any weights), into which the
                stored ticket and dense weights are loaded.

        Returns:
            ``(ticket, dense)`` as read back from the entry (also right after training): they compute bit
            for bit what the trained ones computed.

        Raises:
            StorageError: the entry just written does not load back.
        """
        store = RunStore(self.folder, self.key(name), self.identity(name))
        with store.lock():
            stored = self._load(store, build)
            if stored is not None:
                return stored
            ticket, dense = train()
            save_ticket(ticket, store.path / "ticket.glth")
            store.save_round(0, {"dense": dense.state_dict()})  # last: it marks the entry finished
            self.trained.append(name)
            # returned as read back, trained or not, so that both paths give the same objects (torch.save of
            # a freshly loaded state dict and of an exported one can differ in bytes, not in values)
            stored = self._load(store, build)
            if stored is None:
                raise StorageError(f"the trained models of {name!r} were stored in {store.path} but do not load back")
            return stored

    @staticmethod
    def _load(store, build) -> tuple[nn.Module, nn.Module] | None:
        checkpoint = store.load_round(0)  # None: not finished (a corrupt one is moved aside with a warning)
        if checkpoint is None:
            return None
        try:
            ticket = load_ticket(build(), store.path / "ticket.glth")
        except (TicketError, FileNotFoundError):
            return None
        dense = build()
        dense.load_state_dict(checkpoint["dense"])
        return ticket, dense
