"""Models: shapes, parameter counts against closed forms, seeding, errors."""
import pytest
import torch
from torch import nn

from glth_core.engine.models import MODELS, build_model, input_layer_name, output_layer_name, register_model


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def linear(i, o):
    return i * o + o


def conv(i, o, k=3, bias=True):
    return i * o * k * k + (o if bias else 0)


def test_registry_names():
    assert set(MODELS) >= {"lenet300", "conv2", "conv4", "conv6", "resnet20", "mlp1d"}


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
@pytest.mark.parametrize("name", ["lenet300", "conv2", "conv4", "conv6", "resnet20", "mlp1d"])
def test_forward_shape_on_images(name, shape):
    model = build_model(name, shape, 10, seed=0)
    out = model(torch.randn(3, *shape))
    assert out.shape == (3, 10)
    head = model.get_submodule(output_layer_name(model))
    assert isinstance(head, nn.Linear) and head.out_features == 10
    first = model.get_submodule(input_layer_name(model))
    assert isinstance(first, (nn.Linear, nn.Conv2d))


def test_lenet300_parameter_count_closed_form():
    model = build_model("lenet300", (1, 28, 28), 10)
    assert n_params(model) == linear(784, 300) + linear(300, 100) + linear(100, 10) == 266_610
    assert output_layer_name(model) == "fc3" and input_layer_name(model) == "fc1"


def test_mlp1d_is_40_100_100_10():
    model = build_model("mlp1d", (40,), 10)
    assert n_params(model) == linear(40, 100) + linear(100, 100) + linear(100, 10)
    assert model(torch.randn(2, 40)).shape == (2, 10)


@pytest.mark.parametrize(
    "name,expected",
    [
        # Frankle & Carbin 2019, figure 2: Conv-2 4.3M, Conv-4 2.4M, Conv-6 1.7M weights on CIFAR-10.
        ("conv2", conv(3, 64) + conv(64, 64) + linear(64 * 16 * 16, 256) + linear(256, 256) + linear(256, 10)),
        ("conv4", conv(3, 64) + conv(64, 64) + conv(64, 128) + conv(128, 128)
         + linear(128 * 8 * 8, 256) + linear(256, 256) + linear(256, 10)),
        ("conv6", conv(3, 64) + conv(64, 64) + conv(64, 128) + conv(128, 128) + conv(128, 256) + conv(256, 256)
         + linear(256 * 4 * 4, 256) + linear(256, 256) + linear(256, 10)),
    ],
)
def test_conv_parameter_counts_cifar(name, expected):
    assert n_params(build_model(name, (3, 32, 32), 10)) == expected


def test_resnet20_parameter_count_option_a():
    # He et al. 2016: 0.27M parameters; option-A shortcuts add none.
    c = lambda i, o: conv(i, o, bias=False)  # noqa: E731
    bn = lambda ch: 2 * ch  # noqa: E731
    expected = c(3, 16) + bn(16)
    expected += 6 * c(16, 16) + 6 * bn(16)
    expected += c(16, 32) + 5 * c(32, 32) + 6 * bn(32)
    expected += c(32, 64) + 5 * c(64, 64) + 6 * bn(64)
    expected += linear(64, 10)
    model = build_model("resnet20", (3, 32, 32), 10)
    assert n_params(model) == expected == 269_722
    assert output_layer_name(model) == "fc"


def test_resnet_shortcut_zero_pads_channels():
    model = build_model("resnet20", (3, 32, 32), 10)
    block = model.stage2[0]
    x = torch.randn(2, 16, 32, 32)
    short = block.shortcut(x)
    assert short.shape == (2, 32, 16, 16)
    assert torch.equal(short[:, 8:24], x[:, :, ::2, ::2])
    assert short[:, :8].abs().sum() == 0 and short[:, 24:].abs().sum() == 0


def test_seeded_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = build_model("lenet300", (1, 8, 8), 10, seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = build_model("lenet300", (1, 8, 8), 10, seed=7)
    c = build_model("lenet300", (1, 8, 8), 10, seed=8)
    for (ka, va), (_, vb), (_, vc) in zip(a.state_dict().items(), b.state_dict().items(), c.state_dict().items()):
        assert torch.equal(va, vb), ka
    assert not torch.equal(a.fc1.weight, c.fc1.weight)


def test_unknown_model_lists_names():
    with pytest.raises(ValueError) as e:
        build_model("vgg16", (1, 28, 28), 10)
    for name in MODELS:
        assert name in str(e.value)


@pytest.mark.parametrize("name", ["conv2", "conv4", "conv6", "resnet20"])
def test_image_model_on_flat_input_fails_clearly(name):
    with pytest.raises(ValueError, match=r"needs an image input.*\(40,\)"):
        build_model(name, (40,), 10)


def test_too_small_image_fails_clearly():
    with pytest.raises(ValueError, match="height and width must be >= 8"):
        build_model("conv6", (1, 4, 4), 10)


def test_register_model():
    register_model("tiny_test_model", lambda shape, k: nn.Sequential(nn.Flatten(), nn.Linear(64, k)))
    try:
        model = build_model("tiny_test_model", (1, 8, 8), 10)
        assert output_layer_name(model) == "1" and input_layer_name(model) == "1"
    finally:
        del MODELS["tiny_test_model"]
    with pytest.raises(TypeError):
        register_model("x", 3)
