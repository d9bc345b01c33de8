"""Chapter profiles: resolution of parameters, smoke overrides, shared runs, cost estimates."""
import pytest

from glth_core.book import chapter, profiles
from glth_core.engine.run_identity import run_key
from glth_core.runs.sweep import grid


def test_none_takes_the_profile_value_and_given_values_win():
    p = profiles.chapter_parameters("02_bases", "quick", seeds=None, epochs=7)
    assert p["seeds"] == profiles.CHAPTERS["02_bases"]["quick"]["seeds"]
    assert p["epochs"] == 7
    assert p["profile"] == "quick" and p["smoke"] is False


def test_paper_profile_is_larger_than_quick():
    for name in ("01_canonical", "02_bases", "03_subspace", "04_structured", "05_conv"):
        quick, paper = profiles.CHAPTERS[name]["quick"], profiles.CHAPTERS[name]["paper"]
        assert paper["seeds"] >= 5 and paper["epochs"] > quick["epochs"]
    assert profiles.CHAPTERS["01_canonical"]["quick"]["seeds"] >= 5
    assert profiles.CHAPTERS["02_bases"]["quick"]["seeds"] >= 5
    assert all(profiles.CHAPTERS[c]["quick"]["seeds"] >= 3 for c in ("03_subspace", "04_structured", "05_conv"))


def test_smoke_shrinks_only_profile_values():
    p = profiles.chapter_parameters("05_conv", "paper", smoke=True, epochs=3)
    assert p["dataset"] == "digits" and p["seeds"] == 2 and p["rounds"] <= 3
    assert p["epochs"] == 3  # given explicitly: kept
    assert p["models"] == profiles.CHAPTERS["05_conv"]["paper"]["models"][:1]


@pytest.mark.parametrize("kwargs, match", [
    (dict(chapter="07_nothing"), "unknown chapter"),
    (dict(chapter="02_bases", profile="huge"), "profile must be one of"),
    (dict(chapter="02_bases", bogus=1), "no profile setting"),
])
def test_bad_names_are_refused(kwargs, match):
    name = kwargs.pop("chapter")
    with pytest.raises(ValueError, match=match):
        profiles.chapter_parameters(name, **kwargs)


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_lenet_chapters_share_their_runs(profile):
    keys = {run_key("imp", profiles.imp_base(profiles.chapter_parameters(c, profile), basis="dct", seed=1))
            for c in ("01_canonical", "02_bases", "03_subspace", "04_structured")}
    assert len(keys) == 1


def test_imp_base_carries_the_schedule():
    hp = profiles.imp_base(profiles.chapter_parameters("01_canonical", "quick"), seed=3)
    lenet = profiles.LENET["quick"]
    assert hp.training.milestones == tuple(lenet["milestones"]) and hp.training.momentum == lenet["momentum"]
    assert hp.pruning.fraction == lenet["fraction"] and hp.seed == 3


def test_estimated_cost_counts_trained_rounds():
    base = profiles.imp_base(profiles.chapter_parameters("01_canonical", "quick"))
    runs = grid(base, seed=[0, 1], control=["ticket", "reinit"])
    per_epoch = profiles.SECONDS_PER_EPOCH[("lenet300", "fashion_mnist", "canonical")]["cpu"]
    rounds, epochs = base.pruning.rounds, base.training.epochs
    expected = 2 * ((rounds + 1) + rounds) * epochs * per_epoch / 3600
    assert profiles.estimated_cost_hours(runs) == pytest.approx(expected)
    assert profiles.estimated_cost_hours(runs, device="gpu") is None  # not measured


def test_settings_table_shows_both_profiles():
    table = profiles.settings_table("02_bases")
    assert list(table.columns) == list(profiles.PROFILES)
    assert table.loc["seeds", "paper"] >= 5


def test_verdicts_round_trip(tmp_path):
    row = dict(claim="3", chapter="02_bases", comparison="dct vs canonical", n=5, estimate=1.2, ci_low=0.9,
               ci_high=1.6, unit="x", null=1.0, verdict="holds", sentence="holds (n = 5, ...)")
    chapter.record_verdicts("02_bases", [row], profile="quick", smoke=True, results_dir=tmp_path)
    table = chapter.recorded_verdicts(profile="quick", smoke=True, results_dir=tmp_path)
    assert table.to_dict("records") == [row]
    assert chapter.recorded_verdicts(profile="paper", smoke=True, results_dir=tmp_path).empty
    with pytest.raises(ValueError, match="no column"):
        chapter.record_verdicts("02_bases", [{"claim": "3"}], profile="quick", smoke=True, results_dir=tmp_path)


def test_estimated_cost_counts_a_shared_dense_round_once():
    base = profiles.imp_base(profiles.chapter_parameters("02_bases", "quick"))
    key = ("lenet300", "fashion_mnist")
    canonical, rotated = (profiles.SECONDS_PER_EPOCH[(*key, k)]["cpu"] for k in ("canonical", "rotated"))
    rounds, epochs = base.pruning.rounds, base.training.epochs
    runs = grid(base, seed=[0, 1], basis=["canonical", "dct", "random"])
    # per seed: one dense training (canonical), then every basis' pruned rounds
    expected = 2 * (1 * canonical + rounds * (canonical + 2 * rotated)) * epochs / 3600
    assert profiles.estimated_cost_hours(runs) == pytest.approx(expected)
    own = [profiles.imp_base(profiles.chapter_parameters("02_bases", "quick"), basis="dct", share_dense=False)]
    assert profiles.estimated_cost_hours(own) == pytest.approx((rounds + 1) * epochs * rotated / 3600)
