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
