"""results pack / unpack: a round trip reuses runs without training, stale runs are skipped,
finished runs are never overwritten, unsafe or altered archives are refused before anything is written."""
import hashlib
import io
import json
import tarfile

import pandas as pd
import pytest

from glth_core.runs import archive
from glth_core.engine import hparams as H, training
from glth_core.engine import run_identity
from glth_core.runs.archive import UnsafeArchiveError, pack, unpack
from glth_core.cli import main
from glth_core.engine.lottery import run_imp


def tiny(**flags):
    base = dict(model="mlp1d", dataset="digits", epochs=1, batch_size=64, rounds=1, fraction=0.2, seed=0)
    base.update(flags)
    return H.update(H.ImpHparams(), **base)


def no_training(*args, **kwargs):
    raise AssertionError("a packed run was trained again")


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """A results folder with one finished tiny run, and its archive."""
    root = tmp_path_factory.mktemp("packed")
    table = run_imp(tiny(), root / "a", progress=False)
    file = pack(root / "out" / "results.tar.gz", root / "a")
    return root / "a", file, table


def files_of(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_round_trip_reuses_runs_without_training(packed, tmp_path, monkeypatch):
    source, file, table = packed
    before = files_of(source)
    outcomes = unpack(file, tmp_path / "b", log=None)
    assert [(o.run_id, o.status) for o in outcomes] == [(table["run_id"][0], "installed")]
    assert files_of(source) == before  # packing only reads
    monkeypatch.setattr(training, "train", no_training)
    monkeypatch.setenv("GLTH_RESULTS_DIR", str(tmp_path / "b"))
    again = run_imp(tiny(), progress=False)
    pd.testing.assert_frame_equal(again, table)  # wall times too: read from the unpacked checkpoints
    run = tmp_path / "b" / table["run_id"][0]
    provenance = json.loads((run / "provenance.json").read_text())
    assert {"torch", "device", "torch_threads"} <= set(provenance["hardware"]) and provenance["packed"]
    with tarfile.open(file) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["runs"][table["run_id"][0]]["identity"]["source"] == H.source_hash()
    assert sorted(manifest["files"]) == sorted(f"results/{table['run_id'][0]}/{n}"
                                               for n in ("hparams.json", "round_0000.pt", "round_0001.pt", "rounds.csv"))


def test_stale_run_is_skipped(packed, tmp_path, monkeypatch, capsys):
    _, file, table = packed
    monkeypatch.setattr(run_identity, "source_hash", lambda: "0" * 64)  # the unpacking code differs from the packing code
    (outcome,) = unpack(file, tmp_path)
    assert outcome.status == "stale" and "not reused" in capsys.readouterr().out
    assert not (tmp_path / table["run_id"][0]).exists()
    assert not list(tmp_path.glob(".unpack-*"))  # staging removed


def test_finished_run_is_not_overwritten(packed, tmp_path):
    source, file, table = packed
    dest = tmp_path / "c"
    unpack(file, dest, log=None)
    run = dest / table["run_id"][0]
    (run / "rounds.csv").write_text("edited\n")  # a local state that must survive
    (outcome,) = unpack(file, dest, log=None)
    assert outcome.status == "exists"
    assert (run / "rounds.csv").read_text() == "edited\n"


def write_tar(path, members):
    """``members``: (TarInfo, bytes or None)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def regular(name, data=b"x"):
    return tarfile.TarInfo(name), data


def special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


RUN = "imp_0123456789ab"


@pytest.mark.parametrize("member, message", [
    (regular("/evil"), "absolute path"),
    (regular(f"results/{RUN}/../../evil"), r"'\.\.'"),
    (regular("../evil"), r"'\.\.'"),
    (special(f"results/{RUN}/round_0000.pt", tarfile.SYMTYPE, "/outside/target"), "symbolic link"),
    (special(f"results/{RUN}/round_0000.pt", tarfile.LNKTYPE, "manifest.json"), "hard link"),
    (special(f"results/{RUN}/null", tarfile.CHRTYPE), "device"),
    (regular("notes.txt"), "outside the results store"),
    (regular(f"results/{RUN}/deeper/file"), "outside the results store"),
])
def test_unsafe_members_are_refused(tmp_path, member, message):
    file = write_tar(tmp_path / "bad.tar.gz", [regular("manifest.json", b"{}"), member])
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError, match=message) as err:
        unpack(file, dest, log=None)
    assert repr(member[0].name) in str(err.value)
    assert not (tmp_path / "evil").exists() and list(dest.iterdir()) == []


def test_altered_archives_are_refused(packed, tmp_path):
    _, file, table = packed
    with tarfile.open(file) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    csv = f"results/{table['run_id'][0]}/rounds.csv"
    tampered = [(m, data + b"0,0\n" if m.name == csv else data) for m, data in members]
    with pytest.raises(UnsafeArchiveError, match=f"{csv}.*SHA-256"):
        unpack(write_tar(tmp_path / "t.tar.gz", tampered), tmp_path / "d", log=None)
    extra = members + [regular(f"results/{table['run_id'][0]}/round_0009.pt")]
    with pytest.raises(UnsafeArchiveError, match="not listed.*round_0009"):
        unpack(write_tar(tmp_path / "e.tar.gz", extra), tmp_path / "d", log=None)
    twice = members + [members[0]]
    with pytest.raises(UnsafeArchiveError, match="twice"):
        unpack(write_tar(tmp_path / "f.tar.gz", twice), tmp_path / "d", log=None)
    (tmp_path / "plain.txt").write_text("not an archive")
    with pytest.raises(UnsafeArchiveError, match="not a results archive"):
        unpack(tmp_path / "plain.txt", tmp_path / "d", log=None)
    assert not list((tmp_path / "d").glob("imp_*"))


def test_cli_pack_and_unpack(packed, tmp_path, capsys):
    source, _, table = packed
    file = tmp_path / "r.tar.gz"
    assert main(["results", "pack", str(file), "--results-dir", str(source)]) == 0
    assert main(["results", "unpack", str(file), "--results-dir", str(tmp_path / "b")]) == 0
    assert "1 installed, 0 stale, 0 exists" in capsys.readouterr().out
    assert (tmp_path / "b" / table["run_id"][0] / "round_0001.pt").is_file()
    write_tar(tmp_path / "bad.tgz", [regular("/etc/evil")])
    assert main(["results", "unpack", str(tmp_path / "bad.tgz"), "--results-dir", str(tmp_path / "b")]) == 2
    assert "'/etc/evil' has an absolute path" in capsys.readouterr().err
    assert main(["results", "pack", str(file), "--results-dir", str(tmp_path / "empty")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with tarfile.open(file) as tar:
        assert json.load(tar.extractfile("manifest.json"))["format"] == archive.FORMAT
