"""The private APIs of argparse that the command line relies on, all in one place.

``tests/test_internals.py`` pins every behaviour relied on here, so a Python upgrade that
changes one fails there, by name.
"""
from __future__ import annotations

import argparse

__all__ = ["parser_actions", "subparser"]


def parser_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The parser's actions by ``dest`` (``parser._actions``: argparse has no public list)."""
    return {a.dest: a for a in parser._actions}


def subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The sub-parser of ``command`` (argparse keeps sub-parsers only in private state)."""
    return parser._subparsers._group_actions[0].choices[command]
