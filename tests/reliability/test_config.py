"""Probes: a campaign file is refused before any work when it cannot mean what it says (issue 22, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from superdiff.campaign.config import CampaignError, read_campaign

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "config.yaml"

#: (probe, edit of the default campaign, what the one-line message must say)
#: the default campaign's models line, which the model-spec probes replace
MODELS = "models: [builtin:helix_frames, builtin:strand_frames]"

BAD = [
    ("duplicate key", ("device: cpu", "device: cpu\ndevice: cuda"),
     ["duplicate key 'device'", "expected each key once"]),
    ("tab indentation", ("  enabled: true", "\tenabled: true"), [":1: not valid YAML", "expected spaces, not tabs"]),
    ("infinite temperature", ("or: {operator: or, temperature: 1.0}", "or: {operator: or, temperature: .inf}"),
     ["proteins.methods.or.temperature", "Infinity", "finite number"]),
    ("NaN bias", ("or: {operator: or, temperature: 1.0}", "or: {operator: or, bias: [.nan, 0.0]}"),
     ["proteins.methods.or.bias.0", "NaN", "finite number"]),
    ("all-zero product exponents", ("weights: [1.0, 1.0]", "weights: [0, 0]"),
     ["proteins.methods.product", "every exponent is 0", "at least one non-zero"]),
    ("NaN product exponent", ("weights: [1.0, 1.0]", "weights: [.nan, 1]"),
     ["proteins.methods.product.weights.0", "finite number"]),
    ("guidance 0", ("guidance: 2.0", "guidance: 0"), ["molecules.guidance", "got 0", "greater than 0"]),
    ("unknown built-in", (MODELS, "models: [builtin:sheet, builtin:strand_frames]"),
     ["proteins.models", "unknown built-in model 'sheet'", "builtin:helix, builtin:strand"]),
    ("unimportable factory", (MODELS, "models: [nosuchmod:factory, builtin:strand_frames]"),
     ["cannot import module 'nosuchmod'", "importable module"]),
    ("factory not in its module", (MODELS, "models: [json:no_such, builtin:strand_frames]"),
     ["module 'json' has no callable 'no_such'"]),
    ("unparsable spec", (MODELS, 'models: ["???", builtin:strand_frames]'),
     ["unrecognised model spec '???'", "expected 'builtin:NAME'"]),
    ("path as manifest name", (MODELS, "models: [manifest:../../x, builtin:strand_frames]"),
     ["manifest"]),
]


@pytest.mark.parametrize(("edit", "needles"), [(b[1], b[2]) for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_campaign_is_one_clear_line_before_any_work(capsys, tmp_path, edit, needles):
    from .conftest import run_cli

    text = DEFAULT.read_text()
    assert edit[0] in text
    path = tmp_path / "campaign.yaml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    rc, _, err = run_cli(capsys, "validate-config", path)
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    message = " ".join(lines)
    for needle in needles:
        assert needle in message, (needle, message)


def test_the_default_campaigns_still_validate():
    for path in [DEFAULT, *sorted((DEFAULT.parent / "campaigns").glob("*.yaml"))]:
        read_campaign(path)


def test_or_temperature_zero_is_the_average_in_the_config_as_on_the_command_line(tmp_path):
    path = tmp_path / "campaign.yaml"
    path.write_text(DEFAULT.read_text().replace("temperature: 1.0", "temperature: 0", 1))
    assert read_campaign(path).proteins.methods["or"].temperature == 0
    path.write_text(DEFAULT.read_text().replace("temperature: 1.0", "temperature: -1", 1))
    with pytest.raises(CampaignError, match="temperature"):
        read_campaign(path)


def test_the_snakefile_refuses_a_duplicate_key_before_any_job(tmp_path):
    import subprocess
    import sys

    root = DEFAULT.parents[1]
    path = tmp_path / "campaign.yaml"
    path.write_text(DEFAULT.read_text().replace("device: cpu", "device: cpu\ndevice: cuda", 1))
    snakemake = Path(sys.executable).parent / "snakemake"
    done = subprocess.run([str(snakemake), "-n", "-s", str(root / "Snakefile"), "--directory", str(tmp_path),
                           "--configfile", str(path), "--cores", "1"], capture_output=True, text=True, timeout=300)
    line = DEFAULT.read_text().splitlines().index("device: cpu") + 1
    assert done.returncode != 0
    assert (f"{path}:{line + 1}:1: duplicate key 'device' (first at line {line}); expected each key once"
            in done.stdout + done.stderr)
    assert not (tmp_path / "results").exists()


TAB_CAMPAIGN = "campaign: tabs\nproteins:\n\tlengths: [40]\n"


def test_make_campaign_names_the_line_of_a_tab_before_snakemake_parses_it(tmp_path):
    """Snakemake parses --configfile before any workflow code and says only "not valid JSON or YAML"."""
    import subprocess

    path = tmp_path / "tabs.yaml"
    path.write_text(TAB_CAMPAIGN)
    root = DEFAULT.parents[1]
    res = subprocess.run(["make", "-s", "-C", str(root), "campaign", f"CONFIG={path}"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode != 0
    assert f"{path}:3:1: not valid YAML" in res.stderr, res.stderr
    assert "Snakemake" not in res.stdout + res.stderr and "Traceback" not in res.stderr


def test_the_default_campaign_file_is_read_strictly_by_the_snakefile(tmp_path):
    import subprocess

    from tests.workflow.helpers import command, env

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(TAB_CAMPAIGN)
    res = subprocess.run(command(tmp_path, None, "-n"), env=env(), capture_output=True, text=True, cwd=tmp_path,
                         timeout=120)
    assert res.returncode != 0
    assert "config/config.yaml:3:1: not valid YAML" in res.stdout + res.stderr, res.stdout[-2000:]
