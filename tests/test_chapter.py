"""The chapters' parameter checks fail with messages that name the parameter."""
import pytest

from glth_core.book.chapter import (check_common, require_bool, require_fraction, require_int, require_names,
                               require_nonnegative)

COMMON = dict(smoke=False, dataset="fashion_mnist", model="lenet300", device="auto", scheduler="local",
              results_dir=None)


def test_valid_parameters_pass(tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("GLTH_RESULTS_DIR", str(tmp_path))
    check_common(**COMMON, seeds=(2, 1), rounds=(10, 1))
    with socket.create_server(("127.0.0.1", 0)) as server:  # something listening, as a scheduler would
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        check_common(**{**COMMON, "scheduler": address, "device": "cuda:0"}, epochs=(1, 1))
    require_names("bases", ["dct", "canonical"], ["canonical", "dct", "hadamard"])
    require_names("controls", [], ["reinit"], allow_empty=True)


@pytest.mark.parametrize("override, message", [
    ({"dataset": "imagenet"}, "parameter dataset must be one of"),
    ({"model": "vgg"}, "parameter model must be one of"),
    ({"smoke": "yes"}, "parameter smoke must be True or False"),
    ({"device": "tpu"}, "parameter device"),
    ({"scheduler": "slurm"}, "parameter scheduler"),
    ({"results_dir": 3}, "parameter results_dir"),
])
def test_common_parameters_are_checked(override, message):
    with pytest.raises(ValueError, match=message):
        check_common(**{**COMMON, **override})


def test_integer_fraction_and_name_checks():
    with pytest.raises(ValueError, match=r"parameter epochs must be an integer in \[1, 100\], got -1"):
        check_common(**COMMON, epochs=(-1, 1))
    with pytest.raises(ValueError, match="seeds"):
        require_int("seeds", True, 1)
    for bad in (0, 1, 1.5, "0.2", True):
        with pytest.raises(ValueError, match="parameter fraction must be a number in"):
            require_fraction("fraction", bad)
    with pytest.raises(ValueError, match="percentage points"):
        require_nonnegative("tolerance", -1, unit="percentage points")
    with pytest.raises(ValueError, match=r"bases must be a list of distinct names from \['canonical', 'dct'\]"):
        require_names("bases", ["nonsense"], ["canonical", "dct"])
    with pytest.raises(ValueError, match="at least one"):
        require_names("bases", [], ["canonical"])
    with pytest.raises(ValueError, match="distinct"):
        require_names("bases", ["dct", "dct"], ["dct"])
    with pytest.raises(ValueError, match="image_aware"):
        require_bool("image_aware", 1)


def test_models_can_be_narrowed():
    with pytest.raises(ValueError, match=r"model must be one of \['lenet300'\]"):
        check_common(**{**COMMON, "model": "conv2"}, models=["lenet300"])


def test_a_models_subset_must_be_registered():
    with pytest.raises(ValueError, match=r"\['vgg'\] not registered in glth_core.engine.models.MODELS"):
        check_common(**COMMON, models=["lenet300", "vgg"])
