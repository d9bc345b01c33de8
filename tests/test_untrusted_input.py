"""Issue 21: archives that cannot smuggle, sweeps that drop nothing, every parameter bounded.

The two unpack attacks run on real archives written by ``results pack`` from tiny digits runs.
"""
import logging
import hashlib
import io
import json
import tarfile

import pandas as pd
import pytest

from glth_core.runs import archive
from glth_core.engine import hparams as H
from glth_core.runs.archive import UnsafeArchiveError, pack, unpack
from glth_core.cli import main
from glth_core.engine.lottery import run_imp
from glth_core.storage.store import CHECKPOINT_HEADER, read_checkpoint

KEY = b"0123456789abcdef-test-key"
TINY = dict(model="mlp1d", dataset="digits", epochs=1, batch_size=64, rounds=1, fraction=0.2, seed=0)
TINY_CLI = ["imp", "--model", "mlp1d", "--dataset", "digits", "--epochs", "1", "--batch-size", "64", "--quiet"]


def tiny(**flags):
    return H.update(H.ImpHparams(), **{**TINY, **flags})


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A results folder with one finished tiny run (rounds 0-1), and its table."""
    root = tmp_path_factory.mktemp("source")
    table = run_imp(tiny(), root, progress=False)
    return root, table


def members_of(file):
    with tarfile.open(file) as tar:
        return [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]


def rewrite(path, members, manifest_edit=None):
    """Write ``members`` to ``path``, the manifest passed through ``manifest_edit(manifest, files)`` first."""
    files = {m.name: data for m, data in members}
    manifest = json.loads(files["manifest.json"])
    if manifest_edit is not None:
        manifest_edit(manifest, files)
    files["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def list_file(manifest, files, name, data):
    files[name] = data
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def forge_accuracy(manifest, files, run_id, accuracy=0.999):
    """Change round 1's test accuracy and recompute the checkpoint header and the manifest entry."""
    import torch

    name = f"results/{run_id}/round_0001.pt"
    checkpoint = read_checkpoint(files[name])
    checkpoint["row"]["test_accuracy"] = accuracy
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    payload = buffer.getvalue()
    list_file(manifest, files, name, CHECKPOINT_HEADER + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)


# ---------------------------------------------------------------- 1. a listed extra member

def test_an_extra_listed_member_is_refused_and_nothing_installed(source, tmp_path):
    root, table = source
    run_id = table["run_id"][0]
    file = pack(tmp_path / "genuine.tar.gz", root)
    bomb = b"\0" * 2**20  # 1 MiB of zeros (the issue's had 2 GiB): refused by its name before a byte is read
    forged = rewrite(tmp_path / "bomb.tar.gz", members_of(file),
                     lambda m, f: list_file(m, f, f"results/{run_id}/bomb.bin", bomb))
    with pytest.raises(UnsafeArchiveError, match=r"bomb.bin.*holds only hparams.json, round_NNNN.pt and rounds.csv"):
        unpack(forged, tmp_path / "dest", log=None)
    assert not list((tmp_path / "dest").iterdir())


def test_a_listed_member_over_its_size_cap_is_refused_from_its_header(source, tmp_path, monkeypatch):
    root, table = source
    run_id = table["run_id"][0]
    file = pack(tmp_path / "genuine.tar.gz", root)
    big = b"\0" * 3_000_000  # a genuine tiny checkpoint has about 0.36 MB
    forged = rewrite(tmp_path / "big.tar.gz", members_of(file),
                     lambda m, f: list_file(m, f, f"results/{run_id}/round_0002.pt", big))
    monkeypatch.setattr(archive, "_RUN_FILES", [(p, 2_000_000 if "round" in p.pattern else c)
                                                for p, c in archive._RUN_FILES])
    with pytest.raises(UnsafeArchiveError, match=r"round_0002.pt' has 3000000 bytes, more than a round_0002.pt can "
                                                 r"hold \(2000000 bytes\)"):
        unpack(forged, tmp_path / "dest", log=None)
    assert not list((tmp_path / "dest").iterdir())


def test_pack_carries_only_the_files_of_a_run(source, tmp_path):
    import shutil

    root, table = source
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    (copy / table["run_id"][0] / "bomb.bin").write_bytes(b"\0" * 1000)
    names = [m.name for m, _ in members_of(pack(tmp_path / "a.tar.gz", copy))]
    assert not [n for n in names if "bomb" in n] and f"results/{table['run_id'][0]}/round_0001.pt" in names


# ---------------------------------------------------------------- 2. a forged checkpoint

def test_a_forged_accuracy_is_refused_with_a_key_and_reported_as_trusted_without(source, tmp_path, capsys,
                                                                              monkeypatch):
    root, table = source
    run_id = table["run_id"][0]
    genuine = table["test_accuracy"][1]
    assert genuine != 0.999
    signed = pack(tmp_path / "signed.tar.gz", root, key=KEY)
    forged = rewrite(tmp_path / "forged.tar.gz", members_of(signed), lambda m, f: forge_accuracy(m, f, run_id))

    with pytest.raises(UnsafeArchiveError, match="altered after it was signed"):
        unpack(forged, tmp_path / "keyed", log=None, key=KEY)
    assert not list((tmp_path / "keyed").iterdir())
    with pytest.raises(UnsafeArchiveError, match="signed with another key"):
        unpack(signed, tmp_path / "keyed", log=None, key=b"another key of 16+ bytes")
    with pytest.raises(UnsafeArchiveError, match="is not signed"):
        unpack(pack(tmp_path / "unsigned.tar.gz", root), tmp_path / "keyed", log=None, key=KEY)
    (outcome,) = unpack(signed, tmp_path / "keyed", key=KEY)
    assert outcome.status == "installed" and "signature verified" in capsys.readouterr().out

    # without a key a checksum proves nothing about the source, and unpack says so
    (outcome,) = unpack(forged, tmp_path / "trusting")
    assert outcome.status == "installed"
    assert "trusted as far as the archive's source" in capsys.readouterr().out
    monkeypatch.setenv("GLTH_RESULTS_DIR", str(tmp_path / "trusting"))
    assert run_imp(tiny(), progress=False)["test_accuracy"][1] == 0.999

    # the same through the command line, the key from $GLTH_ARCHIVE_KEY
    monkeypatch.setenv("GLTH_ARCHIVE_KEY", KEY.decode())
    assert main(["results", "unpack", str(forged), "--results-dir", str(tmp_path / "cli")]) == 2
    assert "altered after it was signed" in capsys.readouterr().err
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY + b"\n")
    monkeypatch.delenv("GLTH_ARCHIVE_KEY")
    assert main(["results", "unpack", str(signed), "--results-dir", str(tmp_path / "cli"), "--key-file",
                 str(key_file)]) == 0
    assert "1 installed" in capsys.readouterr().out
    key_file.write_bytes(b"short")
    assert main(["results", "pack", str(tmp_path / "x.tar.gz"), "--results-dir", str(root), "--key-file",
                 str(key_file)]) == 2
    err = capsys.readouterr().err
    assert f"--key-file {key_file}: the signing key must have at least 16 bytes" in err


def test_the_table_is_derived_from_the_checkpoints_not_from_the_archive(source, tmp_path, monkeypatch):
    root, table = source
    run_id = table["run_id"][0]
    file = pack(tmp_path / "genuine.tar.gz", root)
    name = f"results/{run_id}/rounds.csv"
    forged = rewrite(tmp_path / "csv.tar.gz", members_of(file), lambda m, f: list_file(
        m, f, name, f[name].replace(str(table["test_accuracy"][0]).encode(), b"0.999") + f[name].splitlines()[-1]
        + b"\n"))
    unpack(forged, tmp_path / "dest", log=None)
    installed = pd.read_csv(tmp_path / "dest" / run_id / "rounds.csv")
    pd.testing.assert_frame_equal(installed, pd.read_csv(root / run_id / "rounds.csv"))


# ---------------------------------------------------------------- 6. no half install; malformed archives

def test_a_bad_second_run_installs_nothing(source, tmp_path):
    root, table = source
    file = pack(tmp_path / "genuine.tar.gz", root)
    forged = rewrite(tmp_path / "two.tar.gz", members_of(file), lambda m, f: m["runs"].update(
        {"imp_ffffffffffff": {"identity": {}, "provenance": {}}}))
    with pytest.raises(UnsafeArchiveError, match=r"runs of manifest.json \['imp_ffffffffffff'\] have no files"):
        unpack(forged, tmp_path / "dest", log=None)
    assert not list((tmp_path / "dest").iterdir())  # the first, genuine run was not installed either


@pytest.mark.parametrize("edit, message", [
    (lambda m, f: m.update(runs=list(m["runs"])), "no 'runs' mapping"),
    (lambda m, f: m.update(files=list(m["files"])), "no 'files' mapping"),
    (lambda m, f: m.update(deep=json.loads("[" * 100000 + "]" * 100000)), "nested too deeply"),
])
def test_malformed_manifests_are_messages(source, tmp_path, edit, message):
    root, _ = source
    file = pack(tmp_path / "genuine.tar.gz", root)
    if "deep" in message:  # json.dumps cannot write it either: write the text directly
        members = [(m, d.replace(b'"format"', b'"deep": ' + b"[" * 100000 + b"]" * 100000 + b', "format"', 1)
                    if m.name == "manifest.json" else d) for m, d in members_of(file)]
        with tarfile.open(tmp_path / "bad.tar.gz", "w:gz") as tar:
            for info, data in members:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        bad = tmp_path / "bad.tar.gz"
    else:
        bad = rewrite(tmp_path / "bad.tar.gz", members_of(file), edit)
    with pytest.raises(UnsafeArchiveError, match=message):
        unpack(bad, tmp_path / "dest", log=None)
    assert not list((tmp_path / "dest").iterdir())


def test_a_truncated_archive_is_a_message(source, tmp_path, capsys):
    root, _ = source
    file = pack(tmp_path / "genuine.tar.gz", root)
    data = file.read_bytes()
    for cut in (len(data) // 2, len(data) - 40):
        (tmp_path / "cut.tar.gz").write_bytes(data[:cut])
        assert main(["results", "unpack", str(tmp_path / "cut.tar.gz"), "--results-dir", str(tmp_path / "d")]) == 2
        assert "truncated or corrupt" in capsys.readouterr().err
    assert not list((tmp_path / "d").glob("imp_*"))


def test_dot_slash_names_are_the_same_member(source, tmp_path):
    root, table = source
    members = members_of(pack(tmp_path / "genuine.tar.gz", root))
    first = next((m, d) for m, d in members if m.name.endswith("round_0000.pt"))
    twin = tarfile.TarInfo("./" + first[0].name)
    twin.size = len(first[1])
    with tarfile.open(tmp_path / "twice.tar.gz", "w:gz") as tar:
        for info, data in members + [(twin, first[1])]:
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(UnsafeArchiveError, match="appears twice"):
        unpack(tmp_path / "twice.tar.gz", tmp_path / "dest", log=None)


# ---------------------------------------------------------------- 3. sweeps drop nothing

@pytest.mark.parametrize("order", ["1,3", "3,1"])
def test_grid_over_rounds_keeps_every_round(tmp_path, order):
    out = tmp_path / "out.csv"
    argv = TINY_CLI + ["--grid", f"rounds={order}", "--scheduler", "serial", "--results-dir", str(tmp_path / "r"),
                       "--out", str(out)]
    assert main(argv) == 0
    table = pd.read_csv(out)
    assert list(table["round"]) == [0, 1, 2, 3] and table["run_id"].nunique() == 1


def test_fewer_rounds_report_only_theirs_and_more_continue(tmp_path, monkeypatch):
    from glth_core.engine import training

    full = run_imp(tiny(rounds=2), tmp_path, progress=False)
    monkeypatch.setattr(training, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    fewer = run_imp(tiny(rounds=1), tmp_path, progress=False)
    pd.testing.assert_frame_equal(fewer, full.iloc[:2])
    assert list(pd.read_csv(tmp_path / full["run_id"][0] / "rounds.csv")["round"]) == [0, 1, 2]
    monkeypatch.undo()
    more = run_imp(tiny(rounds=3), tmp_path, progress=False)
    pd.testing.assert_frame_equal(more.iloc[:3], full)  # continued from the stored checkpoints
    assert list(more["round"]) == [0, 1, 2, 3]


# ---------------------------------------------------------------- 4, 5 and the CLI's messages

@pytest.mark.parametrize("flags, message", [
    (["--gamma", "-1"], "--gamma must be in (0, 1]"),
    (["--gamma", "0"], "--gamma must be in (0, 1]"),
    (["--lr", "nan"], "--lr must be > 0 and finite"),
    (["--momentum", "1"], "--momentum must be in [0, 1)"),
    (["--seed", str(2**64)], "--seed must be in [0, 2**63 - 1]"),
    (["--basis-seed", "-1"], "--basis-seed must be in [0, 2**63 - 1]"),
    (["--rounds", "1000000"], "--rounds must be in [0, 92] at --fraction 0.2"),
    (["--milestones", "3,1"], "--milestones must be increasing"),
    (["--grid", "seed=0,18446744073709551616"], "--seed must be in"),
    (["--grid", "gamma=0.1,-1"], "--gamma must be in (0, 1]"),
])
def test_bad_hyperparameters_are_exit_2_naming_the_flag(tmp_path, capsys, flags, message):
    assert main(TINY_CLI + ["--results-dir", str(tmp_path)] + flags) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("imp_*"))
    with pytest.raises(ValueError, match="gamma must be in"):
        H.validate(tiny(gamma=-1.0))


def test_a_subspace_larger_than_the_model_is_exit_2_naming_the_flag(tmp_path, capsys):
    argv = ["subspace", "--model", "mlp1d", "--dataset", "digits", "--quiet", "--results-dir", str(tmp_path)]
    available = H.prunable_coefficients("mlp1d", "digits")
    assert main(argv + ["--dimensions", f"10,{available + 1}"]) == 2
    assert (f"--dimension must be in [1, {available}] (the prunable coefficients of mlp1d on digits), got "
            f"{available + 1}") in capsys.readouterr().err
    assert not list(tmp_path.glob("subspace_*"))


def test_a_data_set_missing_offline_is_exit_2_naming_the_flag(tmp_path, capsys, monkeypatch):
    from glth_core import data

    def missing(name, **kwargs):
        raise data.DatasetNotFoundError(f"data set {name!r} not found; fix: make data")

    monkeypatch.setattr(data, "fetch", missing)
    assert main(TINY_CLI + ["--results-dir", str(tmp_path)]) == 2
    assert "--dataset digits: data set 'digits' not found; fix: make data" in capsys.readouterr().err


def test_an_unreachable_scheduler_is_exit_2_in_seconds(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(TINY_CLI + ["--results-dir", str(tmp_path), "--scheduler", "tcp://127.0.0.1:1"])
    assert exit_info.value.code == 2 and "--scheduler tcp://127.0.0.1:1: no Dask scheduler" in capsys.readouterr().err


def test_scheduler_address_works_with_the_default_device(tmp_path):
    from distributed import LocalCluster

    out = tmp_path / "out.csv"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        assert main(TINY_CLI + ["--rounds", "0", "--results-dir", str(tmp_path / "r"), "--scheduler",
                                cluster.scheduler_address, "--out", str(out)]) == 0
    assert list(pd.read_csv(out)["round"]) == [0]


# ---------------------------------------------------------------- minor items

def test_forged_rows_in_rounds_csv_are_rewritten(tmp_path):
    table = run_imp(tiny(), tmp_path, progress=False)
    csv = tmp_path / table["run_id"][0] / "rounds.csv"
    genuine = csv.read_text()
    csv.write_text(genuine + genuine.splitlines()[-1].replace(",1,", ",2,", 1) + "\n")
    run_imp(tiny(), tmp_path, progress=False)
    assert csv.read_text() == genuine


def test_reading_a_finished_run_needs_no_free_space(tmp_path, monkeypatch):
    import collections

    from glth_core.storage import atomic

    table = run_imp(tiny(), tmp_path, progress=False)
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda path: usage(10**9, 10**9, 2**20))  # 1 MiB free
    pd.testing.assert_frame_equal(run_imp(tiny(), tmp_path, progress=False), table)
    with pytest.raises(atomic.StorageError, match="MiB free"):
        run_imp(tiny(rounds=2), tmp_path, progress=False)  # round 2 would be computed


def test_a_run_that_fails_before_its_first_round_leaves_no_folder(tmp_path):
    from glth_core.engine.training import TrainingDiverged

    with pytest.raises(TrainingDiverged):
        run_imp(tiny(lr=1e6), tmp_path, progress=False)  # diverges in round 0
    assert not list(tmp_path.glob("imp_*"))
    table = run_imp(tiny(), tmp_path, progress=False)  # a run that finishes keeps its folder
    assert sorted(p.name for p in (tmp_path / table["run_id"][0]).iterdir()) == [
        "hparams.json", "round_0000.pt", "round_0001.pt", "rounds.csv"]
