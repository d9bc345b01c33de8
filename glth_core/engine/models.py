r"""Models by name, adapted to the input shape of a data set.

Registry (``MODELS``):

=============  ==============================================================
``lenet300``   LeNet-300-100 (LeCun et al. 1998; Frankle & Carbin 2019): the
               input is flattened, then Linear 300 - ReLU - Linear 100 - ReLU
               - Linear ``num_classes``. Fits any input shape.
``conv2``      Conv-2 / Conv-4 / Conv-6 (Frankle & Carbin 2019, figure 2):
``conv4``      blocks of two 3x3 convolutions (padding 1, ReLU) followed by a
``conv6``      2x2 max-pool, with 64, 64-128, 64-128-256 channels, then
               Linear 256 - ReLU - Linear 256 - ReLU - Linear ``num_classes``.
               Needs an image input ``(C, H, W)`` with ``H, W >= 2**blocks``
               (1x28x28, 3x32x32, 1x8x8 all fit).
``resnet20``   CIFAR ResNet-20 (He et al. 2016, section 4.2): a 3x3 conv with
               16 channels, three stages of three basic blocks (16, 32, 64
               channels; stride 2 at the start of stages 2 and 3), batch norm,
               global average pooling, Linear ``num_classes``. Shortcuts are
               option A (parameter-free: subsample by 2 and zero-pad the new
               channels), as in the paper's CIFAR experiments and OpenLTH.
               Needs an image input with ``H, W >= 4``.
``mlp1d``      A small MLP for MNIST-1D (Greydanus 2020): flatten, Linear 100 -
               ReLU - Linear 100 - ReLU - Linear ``num_classes`` (40-100-100-10
               on MNIST-1D). Fits any input shape.
=============  ==============================================================

Every model names its first layer (the one reading the data) and its output
layer: :func:`input_layer_name` and :func:`output_layer_name` return the
qualified module names, so the engine can generalise the first layer with an
image-aware basis and prune the output layer at its own rate.

Initialisation is PyTorch's default for each layer, drawn from a private RNG
seeded by ``seed`` (the global RNG is left untouched), so
``build_model(name, shape, k, seed)`` is a pure function of its arguments.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MODELS",
    "build_model",
    "register_model",
    "input_layer_name",
    "output_layer_name",
    "LeNet300",
    "ConvNet",
    "ResNet20",
    "MLP",
]


def _flat_size(input_shape: tuple[int, ...]) -> int:
    return int(math.prod(input_shape))


class MLP(nn.Module):
    """Flatten, then fully connected layers ``fc1 ... fcL`` with ReLU between.

    ``forward(x)``: ``x`` of shape ``(batch, *input_shape)`` -> logits
    ``(batch, num_classes)``.
    """

    def __init__(self, input_shape: tuple[int, ...], hidden: tuple[int, ...], num_classes: int):
        super().__init__()
        sizes = [_flat_size(input_shape), *hidden, num_classes]
        self.depth = len(sizes) - 1
        for i in range(self.depth):
            setattr(self, f"fc{i + 1}", nn.Linear(sizes[i], sizes[i + 1]))
        self.input_layer = "fc1"
        self.output_layer = f"fc{self.depth}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for i in range(1, self.depth):
            x = F.relu(getattr(self, f"fc{i}")(x))
        return getattr(self, f"fc{self.depth}")(x)


class LeNet300(MLP):
    """LeNet-300-100: flatten - 300 - 100 - ``num_classes``, ReLU."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int):
        super().__init__(input_shape, (300, 100), num_classes)


class ConvNet(nn.Module):
    """Conv-2/4/6 of Frankle & Carbin: ``blocks`` x (conv-conv-pool), FC 256-256-classes.

    Layers: ``conv1 ... conv{2*blocks}``, ``fc1``, ``fc2``, ``fc3`` (output).
    """

    CHANNELS = (64, 128, 256)

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, blocks: int):
        super().__init__()
        channels, height, width = input_shape
        self.blocks = blocks
        in_channels = channels
        for b in range(blocks):
            out_channels = self.CHANNELS[b]
            setattr(self, f"conv{2 * b + 1}", nn.Conv2d(in_channels, out_channels, 3, padding=1))
            setattr(self, f"conv{2 * b + 2}", nn.Conv2d(out_channels, out_channels, 3, padding=1))
            in_channels = out_channels
            height, width = height // 2, width // 2
        self.fc1 = nn.Linear(in_channels * height * width, 256)
        self.fc2 = nn.Linear(256, 256)
        self.fc3 = nn.Linear(256, num_classes)
        self.input_layer = "conv1"
        self.output_layer = "fc3"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clone(memory_format=torch.channels_last)  # see SmallCNN.forward
        for b in range(self.blocks):
            x = F.relu(getattr(self, f"conv{2 * b + 1}")(x))
            x = F.relu(F.max_pool2d(getattr(self, f"conv{2 * b + 2}")(x), 2))  # = pool(relu(.)), 4x fewer ReLUs
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class SmallCNN(nn.Module):
    """A small CNN for CPU runs: (conv 3x3 - ReLU - max-pool 2) x 2 with 16 and 32 channels, FC 128, classes.

    Layers: ``conv1``, ``conv2``, ``fc1``, ``fc2`` (output). About 1.2 M multiply-adds per
    28x28 image (Conv-2: 33 M); it reaches about 90.6% on Fashion-MNIST after
    3 epochs of SGD with momentum, so several seeds train to that accuracy on a CPU.
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        channels, height, width = input_shape
        self.conv1 = nn.Conv2d(channels, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * (height // 4) * (width // 4), 128)
        self.fc2 = nn.Linear(128, num_classes)
        self.input_layer = "conv1"
        self.output_layer = "fc2"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last: CPU max-pooling (with the indices its backward needs) is several times faster on
        # it than on the plain layout, and the convolutions follow the input's layout (generalized kernels
        # too, glth_core.core.fast_forward.kernel_in_layout); flatten() restores the (C, H, W) order for fc1.
        # clone(): explicit channels-last strides even for one input channel, where contiguous() keeps them.
        # relu(max_pool(z)) = max_pool(relu(z)), and the same gradient (both reach only a window's
        # positive maximum); pooling first runs the ReLU on a quarter of the pixels
        x = x.clone(memory_format=torch.channels_last)
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class _BasicBlock(nn.Module):
    """Two 3x3 convs with batch norm; option-A (zero-padding) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.stride = stride
        self.extra_channels = out_channels - in_channels

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra_channels:
            half = self.extra_channels // 2
            x = F.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """CIFAR ResNet-20 (He et al. 2016) with option-A shortcuts.

    Layers: ``conv`` (stem), ``stage{1,2,3}.{0,1,2}.conv{1,2}``, ``fc`` (output).
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, width: int = 16):
        super().__init__()
        channels = input_shape[0]
        self.conv = nn.Conv2d(channels, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        in_channels = width
        for s, out_channels in enumerate((width, 2 * width, 4 * width)):
            blocks = []
            for i in range(3):
                stride = 2 if (s > 0 and i == 0) else 1
                blocks.append(_BasicBlock(in_channels, out_channels, stride))
                in_channels = out_channels
            setattr(self, f"stage{s + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(in_channels, num_classes)
        self.input_layer = "conv"
        self.output_layer = "fc"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def _require_image(name: str, input_shape: tuple[int, ...], min_side: int) -> None:
    if len(input_shape) != 3:
        raise ValueError(
            f"model {name!r} needs an image input of shape (channels, height, width), "
            f"but the data set has input_shape={tuple(input_shape)}; use 'lenet300' or "
            f"'mlp1d' for flat inputs such as mnist1d"
        )
    if min(input_shape[1:]) < min_side:
        raise ValueError(
            f"model {name!r} pools its input down by {min_side}x, so height and width must be "
            f">= {min_side}, but input_shape={tuple(input_shape)}; choose a smaller model"
        )


def _lenet300(input_shape, num_classes):
    return LeNet300(input_shape, num_classes)


def _mlp1d(input_shape, num_classes):
    return MLP(input_shape, (100, 100), num_classes)


def _conv(blocks: int) -> Callable:
    def builder(input_shape, num_classes):
        _require_image(f"conv{2 * blocks}", input_shape, 2**blocks)
        return ConvNet(input_shape, num_classes, blocks)

    return builder


def _small_cnn(input_shape, num_classes):
    _require_image("small_cnn", input_shape, 4)
    return SmallCNN(input_shape, num_classes)


def _resnet20(input_shape, num_classes):
    _require_image("resnet20", input_shape, 4)
    return ResNet20(input_shape, num_classes)


#: name -> builder(input_shape, num_classes) -> nn.Module. Builders raise
#: ValueError when the model does not fit the input shape.
MODELS: dict[str, Callable[[tuple[int, ...], int], nn.Module]] = OrderedDict(
    lenet300=_lenet300,
    conv2=_conv(1),
    conv4=_conv(2),
    conv6=_conv(3),
    small_cnn=_small_cnn,
    resnet20=_resnet20,
    mlp1d=_mlp1d,
)


def register_model(name: str, builder: Callable[[tuple[int, ...], int], nn.Module]) -> None:
    """Add ``builder(input_shape, num_classes) -> nn.Module`` to the registry as ``name``.

    The module should set ``input_layer`` and ``output_layer`` attributes (qualified
    module names) so the engine can find them; otherwise the first and last
    Linear/Conv layers are used.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    if not callable(builder):
        raise TypeError(f"builder must be callable(input_shape, num_classes), got {builder!r}")
    MODELS[name] = builder


def check_model_name(name: str) -> None:
    """Raise ValueError listing the valid names when ``name`` is not registered."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int = 0) -> nn.Module:
    """Build model ``name`` for inputs of ``input_shape`` (no batch axis) and ``num_classes``.

    Weights are drawn from ``torch.manual_seed(seed)`` inside a forked RNG, so the
    result depends only on the arguments and the global RNG is unchanged.

    Args:
        name: one of :data:`MODELS` (e.g. ``"lenet300"``, ``"conv2"``).
        input_shape: one example's shape, e.g. ``(1, 28, 28)``; the model takes
            batches of shape ``(batch,) + input_shape``.
        num_classes: number of classes, ``>= 2``; the model returns logits of shape
            ``(batch, num_classes)``.
        seed: seed of the initial weights.

    Returns:
        A new ``nn.Module`` in training mode, on the CPU.

    Raises:
        ValueError: an unknown name, a bad ``input_shape`` or ``num_classes``, or a model
            that does not fit the input.
    """
    check_model_name(name)
    input_shape = tuple(int(s) for s in input_shape)
    if not input_shape or min(input_shape) < 1:
        raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got {input_shape}")
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = MODELS[name](input_shape, int(num_classes))
    return model


def _weight_layers(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]


def input_layer_name(model: nn.Module) -> str:
    """Qualified name of the layer that reads the data (``model.input_layer`` or the first Linear/Conv)."""
    name = getattr(model, "input_layer", None)
    if name is None:
        layers = _weight_layers(model)
        if not layers:
            raise ValueError("model has no Linear or Conv layer")
        name = layers[0]
    return name


def output_layer_name(model: nn.Module) -> str:
    """Qualified name of the output (classifier) layer (``model.output_layer`` or the last Linear/Conv)."""
    name = getattr(model, "output_layer", None)
    if name is None:
        layers = _weight_layers(model)
        if not layers:
            raise ValueError("model has no Linear or Conv layer")
        name = layers[-1]
    return name
