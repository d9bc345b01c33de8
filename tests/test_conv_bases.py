"""The channel DCT of conv kernels through the experiment engine: a hyperparameter, its checks, its run key."""
import dataclasses

import numpy as np
import pytest
import scipy.fft

from glth_core.engine import hparams as H
from glth_core.engine.lottery import load_splits, run_imp
from glth_core.engine.models import build_model
from glth_core.storage.store import RunStore


def conv(**flags):
    base = dict(model="conv2", dataset="digits", epochs=1, batch_size=128, rounds=0, seed=0, basis="dct")
    base.update(flags)
    return H.update(H.ImpHparams(), **base)


def test_engine_runs_the_channel_dct(tmp_path):
    hp = conv(channel_dct=True)
    table = run_imp(hp, tmp_path, progress=False)
    rewind = RunStore(tmp_path, table["run_id"][0], H.identity("imp", hp)).load_round(0)["rewind"]
    splits = load_splits(hp.dataset)
    plain = build_model("conv2", splits.input_shape, splits.num_classes, seed=hp.seed)
    for layer in ("conv1", "conv2"):  # the initial coefficients: DCT over (in, kh, kw) of the initial kernels
        w = getattr(plain, layer).weight.detach().double().numpy()
        np.testing.assert_allclose(rewind[f"{layer}.parametrizations.weight.original"].double().numpy(),
                                   scipy.fft.dctn(w, type=2, norm="ortho", axes=(1, 2, 3)), atol=1e-5)


def test_channel_dct_is_its_own_run_and_checked():
    assert H.run_key("imp", conv(channel_dct=True)) != H.run_key("imp", conv())
    assert dataclasses.asdict(H.ImpHparams())["pruning"]["channel_dct"] is False  # default: spatial DCT only
    with pytest.raises(ValueError, match="--channel-dct applies to the dct basis only"):
        H.validate(conv(channel_dct=True, basis="canonical"))
