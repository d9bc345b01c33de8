"""Pins the private torch and argparse behaviour that glth_core.core.internals and glth_core.cli.internals rely on."""
import argparse

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from glth_core.core import internals
from glth_core.cli import build_parser
from glth_core.cli import internals as cli_internals


class Double(nn.Module):
    def forward(self, w):
        return 2 * w


def test_parametrize_cache_counter_follows_cached_blocks():
    assert hasattr(parametrize, "_cache_enabled")
    assert internals.parametrize_caching() is False
    with parametrize.cached():
        assert internals.parametrize_caching() is True
        with parametrize.cached():
            assert internals.parametrize_caching() is True
        assert internals.parametrize_caching() is True
    assert internals.parametrize_caching() is False


def test_install_class_forward_touches_only_the_parametrized_module():
    torch.manual_seed(0)
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    with pytest.raises(ValueError, match="register a parametrization first"):
        internals.install_class_forward(a, lambda self, x: x)
    parametrize.register_parametrization(a, "weight", Double())
    assert type(a) is not nn.Linear and parametrize.type_before_parametrizations(a) is nn.Linear
    internals.install_class_forward(a, lambda self, x: torch.zeros(len(x), 7))
    x = torch.randn(4, 3)
    assert a(x).shape == (4, 7)
    assert b(x).shape == (4, 2) and nn.Linear.forward is not type(a).forward
    parametrize.remove_parametrizations(a, "weight")
    assert type(a) is nn.Linear and a(x).shape == (4, 2)


def test_conv_with_weight_uses_the_given_weight():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x, w = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3)
    expected = torch.nn.functional.conv2d(x, w, conv.bias, padding=1)
    torch.testing.assert_close(internals.conv_with_weight(conv, x, w), expected)


def test_tensor_version_counts_in_place_changes():
    t = torch.zeros(3)
    v = internals.tensor_version(t)
    t.add_(1)
    assert internals.tensor_version(t) == v + 1
    t + 1  # out of place: no change
    assert internals.tensor_version(t) == v + 1


def test_parser_actions_and_subparser():
    parser = build_parser()
    imp = cli_internals.subparser(parser, "imp")
    assert isinstance(imp, argparse.ArgumentParser) and imp.prog.endswith("imp")
    actions = cli_internals.parser_actions(imp)
    assert actions["basis"].choices and "dct" in actions["basis"].choices
    assert "dimensions" in cli_internals.parser_actions(cli_internals.subparser(parser, "subspace"))
