from superdiff.cli import main


def test_demo_command_writes_statistics_and_a_plot(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--num", "200", "--steps", "200"]) == 0
    import json

    stats = json.loads((tmp_path / "demo.json").read_text())
    assert abs(stats["AND"]["mean_x1"]) < 0.05 and stats["AND"]["std_x1"] < 0.05
    assert 0.3 < stats["OR"]["fraction_x1_positive"] < 0.7 and stats["OR"]["std_x1"] > 1.3
    assert stats["expert 1"]["fraction_x1_positive"] > 0.85
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert (tmp_path / "provenance.json").exists()


def test_atomic_writes_leave_no_temporary_files_and_readable_modes(tmp_path):
    import os

    import pytest

    from superdiff.files.atomic import atomic_path, write_text_atomic

    write_text_atomic(tmp_path / "a.txt", "done")
    assert (tmp_path / "a.txt").read_text() == "done"
    assert os.stat(tmp_path / "a.txt").st_mode & 0o044  # group/other may read, as with a plain open()
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "b.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-way")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
