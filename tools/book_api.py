"""Sphinx extension of the companion book: the API reference lists each hyperparameter field.

The fields of the frozen hyperparameter dataclasses (``glth_core.engine.hparams``)
carry their documentation in ``field(metadata={"help": ...})``, where the
command line reads it. For the API reference (``book/api.md``), autodoc's
docstring of such a dataclass gets one line per field: name, type, default,
command-line flag and help, so the page and ``--help`` say the same.

The page lists each function under the module that defines it
(``glth_core.core.pruning.prune``); a reference to its re-export
(``:func:`glth_core.prune```, as the docstrings write it, or a name a module gathers
from another) resolves to it.

Loaded through ``sphinx: local_extensions`` in ``_config.yml``; tools/book.py
copies this file into the staged book.
"""
from __future__ import annotations

import dataclasses


def field_lines(cls) -> list[str]:
    """reStructuredText lines describing the fields of dataclass ``cls`` (empty for other classes)."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        return []
    lines = ["", "Fields:", ""]
    for field in dataclasses.fields(cls):
        kind = getattr(field.type, "__name__", None) or str(field.type)
        if field.default is not dataclasses.MISSING:
            default = f"``{field.default!r}``"
        elif field.default_factory is not dataclasses.MISSING:
            default = f"``{field.default_factory()!r}``"
        else:
            default = "required"
        flag = field.metadata.get("flag", field.name)
        text = field.metadata.get("help", "")
        detail = f" (flag ``--{flag.replace('_', '-')}``): {text}" if text else ""
        lines.append(f"- ``{field.name}`` ({kind.replace('*', '')}, default {default}){detail}")
    return lines + [""]


def add_fields(app, what, name, obj, options, lines) -> None:
    """autodoc-process-docstring: append the field list to a dataclass' docstring."""
    if what == "class":
        lines.extend(field_lines(obj))


def resolve_reexport(app, env, node, contnode):
    """missing-reference: ``glth_core[.<module>].<name>`` -> the object's defining module.

    ``glth_core.prune`` resolves to ``glth_core.core.pruning.prune``; a name a module gathers from
    another (``glth_core.analysis.stats.verdict``) resolves to where it is defined
    (``glth_core.analysis.verdicts.verdict``).
    """
    import importlib

    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("glth_core."):
        return None
    module_name, _, attribute = target.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attribute, None)
    except ImportError:
        return None
    module, name = getattr(obj, "__module__", None), getattr(obj, "__name__", None)
    if not (module and name) or f"{module}.{name}" == target:
        return None
    return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                             f"{module}.{name}", node, contnode)


def setup(app):
    app.connect("autodoc-process-docstring", add_fields)
    app.connect("missing-reference", resolve_reexport)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
