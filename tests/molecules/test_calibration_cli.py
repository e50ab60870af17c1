"""AND's calibration computed once (calibrate-molecules) and read by every shard (sample-molecules --typical-path):
the same molecules as shards that compute it themselves, and a file for other settings refused."""

import json

import pandas as pd
import pytest

from superdiff.cli import main

METHOD = ["--condition", "gsk3b", "--condition", "druglike", "--method", "and", "--seed", "3", "--guidance", "2"]
RUN = ["--calibration", "8", "--batch-size", "3"]


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    path = tmp_path_factory.mktemp("calibration") / "and.json"
    assert main(["calibrate-molecules", *METHOD, "--steps", "20", *RUN, "--out", str(path)]) == 0
    return path


def _sample(out, *extra, steps="20", first="2"):
    return main(["sample-molecules", *METHOD, "--steps", steps, *RUN, "--num", "3", "--first-index", first,
                 "--out", str(out), *extra])


def test_shards_with_the_cached_calibration_give_identical_molecules(calibration, tmp_path):
    record = json.loads(calibration.read_text())
    assert record["kind"] == "superdiff-molecule-and-calibration" and record["versions"]["torch"]
    assert record["settings"]["steps"] == 20 and record["settings"]["calibration"] == 8
    assert len(record["typical_path"]) == 20 and len(record["typical_path"][0]) == 2
    assert _sample(tmp_path / "own") == 0
    assert _sample(tmp_path / "cached", "--typical-path", str(calibration)) == 0
    own = pd.read_parquet(tmp_path / "own" / "molecules.parquet")
    cached = pd.read_parquet(tmp_path / "cached" / "molecules.parquet")
    pd.testing.assert_frame_equal(own, cached, check_exact=True)
    summary = json.loads((tmp_path / "cached" / "provenance.json").read_text())["settings"]["summary"]
    assert summary["typical_path"] == str(calibration)


def test_a_calibration_for_other_settings_is_refused(calibration, tmp_path, capsys):
    assert _sample(tmp_path / "x", "--typical-path", str(calibration), steps="21") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"{calibration}: calibration steps is 20, expected 21 (this run's setting)" in err
    assert not (tmp_path / "x" / "molecules.parquet").exists()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"settings": {}}))
    assert _sample(tmp_path / "y", "--typical-path", str(other)) == 2
    assert "not an AND calibration file" in capsys.readouterr().err


def test_only_typical_and_has_a_calibration(calibration, tmp_path, capsys):
    density = ["--and-target", "density"]
    assert _sample(tmp_path / "d", *density, "--typical-path", str(calibration)) == 2
    assert "only --method and with --and-target typical" in capsys.readouterr().err
    assert main(["calibrate-molecules", *METHOD, *density, "--steps", "5", "--out", str(tmp_path / "c.json")]) == 2
    assert "has no calibration" in capsys.readouterr().err
