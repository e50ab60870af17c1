"""The resolved methods file: every method setting of a campaign reaches its sampler, through
``--methods FILE --method-name NAME`` exactly as through the explicit flags; mixing both is refused."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pandas as pd
import pytest
import yaml

from superdiff.campaign.config import load_campaign, read_campaign
from superdiff.campaign.methods import method_json, resolve_methods, single_method
from superdiff.cli import build_parser, main
from superdiff.molecules.cli import sample_settings
from superdiff.proteins.cli import sampling_request
from superdiff.proteins.registry import weights_fingerprint
from superdiff.proteins.sampling import make_operator

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted([ROOT / "config" / "config.yaml", ROOT / ".test" / "config" / "config.yaml",
                  *(ROOT / "config" / "campaigns").glob("*.yaml")])

#: one campaign that sets every knob away from its default
EVERY_KNOB = {
    "campaign": "knobs", "device": "cpu", "seed": 7,
    "proteins": {"models": ["builtin:helix", "builtin:strand"], "lengths": [20], "steps": 4, "sharpen": 1.1,
                 "seeds": {"count": 2, "shard_size": 2},
                 "methods": {"strand": {"operator": "single", "index": 1, "sharpen": 1.2},
                             "or_t": {"operator": "or", "temperature": 0.5, "bias": [0.0, 1.0]},
                             "and_b": {"operator": "and", "bias": [0.25], "curvature_every": 8},
                             "anti": {"operator": "product", "weights": [1.0, -0.5], "resample": False}}},
    "molecules": {"conditions": ["gsk3b", "druglike"], "steps": 6, "guidance": 3.0,
                  "seeds": {"count": 4, "shard_size": 4},
                  "methods": {"druglike": {"operator": "single", "index": 1},
                              "and_d": {"operator": "and", "and_target": "density", "curvature_correction": False,
                                        "curvature_every": 4},
                              "prod": {"operator": "product", "exponents": [1.0, 0.5]}}},
}


def protein_flags(campaign, name: str) -> list[str]:
    """A method as explicit sample-backbones flags: the translation the workflow used to build in common.smk."""
    p, m = campaign.proteins, campaign.proteins.methods[name]
    args = [a for spec in p.models for a in ("--model", spec)] + ["--method", m.operator]
    args += ["--index", str(m.index)] if m.index is not None else []
    args += ["--temperature", str(m.temperature)] if m.temperature is not None else []
    args += [a for b in m.bias or [] for a in ("--bias", str(b))]
    args += [a for w in m.weights or [] for a in ("--exponent", str(w))]
    args += ["--no-resample"] if m.resample is False else []
    args += ["--curvature-every", str(m.curvature_every)] if m.curvature_every is not None else []
    args += ["--sharpen", str(p.sharpen if m.sharpen is None else m.sharpen)]
    return [*args, "--steps", str(p.steps), "--seed", str(campaign.seed), "--device", campaign.device]


def molecule_flags(campaign, name: str) -> list[str]:
    """A method as explicit sample-molecules flags (the old common.smk translation)."""
    mol, m = campaign.molecules, campaign.molecules.methods[name]
    args = [a for c in mol.conditions for a in ("--condition", c)] + ["--method", m.operator]
    args += ["--index", str(m.index)] if m.index is not None else []
    args += ["--no-curvature-correction"] if m.operator == "and" and not m.curvature_correction else []
    args += ["--curvature-every", str(m.curvature_every)] if m.curvature_every != 1 else []
    args += ["--and-target", m.and_target] if m.and_target is not None else []
    args += [a for e in m.exponents or [] for a in ("--exponent", str(e))]
    return [*args, "--guidance", str(mol.guidance), "--steps", str(mol.steps), "--device", campaign.device,
            "--seed", str(campaign.seed)]


def _write_methods(tmp_path, campaign) -> Path:
    path = tmp_path / "methods.json"
    path.write_text(json.dumps(resolve_methods(campaign)))
    return path


def _parse(argv: list[str]):
    return build_parser().parse_args(argv)


def _operator_state(request) -> tuple:
    op = make_operator(request)
    return type(op).__name__, sorted((k, repr(v)) for k, v in vars(op).items())


@pytest.mark.parametrize("path", [*CONFIGS, None], ids=lambda p: "every-knob" if p is None else p.name)
def test_protein_methods_file_gives_the_same_request_and_operator_as_the_flags(tmp_path, path):
    campaign = load_campaign(EVERY_KNOB) if path is None else read_campaign(path)
    if campaign.proteins is None:
        pytest.skip("no proteins in this campaign")
    methods = _write_methods(tmp_path, campaign)
    shard = ["--length", "50", "--first-index", "8", "--num", "4", "--out", str(tmp_path / "out")]
    for name in campaign.proteins.methods:
        by_file = sampling_request(_parse(["sample-backbones", "--methods", str(methods), "--method-name", name,
                                           *shard]))
        by_flags = sampling_request(_parse(["sample-backbones", *protein_flags(campaign, name), *shard]))
        assert by_file == by_flags, name
        assert _operator_state(by_file[0]) == _operator_state(by_flags[0]), name


@pytest.mark.parametrize("path", [*CONFIGS, None], ids=lambda p: "every-knob" if p is None else p.name)
def test_molecule_methods_file_gives_the_same_settings_as_the_flags(tmp_path, path):
    campaign = load_campaign(EVERY_KNOB) if path is None else read_campaign(path)
    if campaign.molecules is None:
        pytest.skip("no molecules in this campaign")
    methods = _write_methods(tmp_path, campaign)
    shard = ["--num", "100", "--first-index", "200", "--out", str(tmp_path / "out")]
    for name in campaign.molecules.methods:
        by_file = sample_settings(_parse(["sample-molecules", "--methods", str(methods), "--method-name", name,
                                          *shard]))
        by_flags = sample_settings(_parse(["sample-molecules", *molecule_flags(campaign, name), *shard]))
        assert by_file == by_flags, name


def test_every_knob_reaches_the_request(tmp_path):
    campaign = load_campaign(EVERY_KNOB)
    methods = _write_methods(tmp_path, campaign)

    def request(name):
        return sampling_request(_parse(["sample-backbones", "--methods", str(methods), "--method-name", name,
                                        "--length", "20", "--num", "1", "--out", str(tmp_path)]))[0]

    assert request("strand").index == 1 and request("strand").seed == 7 and request("strand").steps == 4
    assert request("or_t").temperature == 0.5 and request("or_t").bias == (0.0, 1.0)
    assert request("and_b").bias == (0.25,) and request("and_b").curvature_every == 8
    assert request("or_t").curvature_every == 1
    assert request("strand").sharpen == 1.2 and request("or_t").sharpen == 1.1  # per method, else the campaign's
    assert repr(make_operator(request("and_b"))) == "And(bias=0.25, curvature_correction=True, curvature_every=8)"
    assert request("anti").weights == (1.0, -0.5) and request("anti").resample is False
    mol = sample_settings(_parse(["sample-molecules", "--methods", str(methods), "--method-name", "and_d",
                                  "--num", "4", "--out", str(tmp_path)]))
    assert mol["and_target"] == "density" and mol["curvature_correction"] is False and mol["curvature_every"] == 4
    assert mol["guidance"] == 3.0 and mol["steps"] == 6 and mol["seed"] == 7
    prod = sample_settings(_parse(["sample-molecules", "--methods", str(methods), "--method-name", "prod",
                                   "--num", "4", "--out", str(tmp_path)]))
    assert prod["exponents"] == [1.0, 0.5] and prod["method"] == "product"


def test_entries_carry_the_weights_fingerprints():
    methods = resolve_methods(load_campaign(EVERY_KNOB))
    assert methods["proteins"]["and_b"]["model_fingerprints"] == [weights_fingerprint("builtin:helix"),
                                                                  weights_fingerprint("builtin:strand")]
    assert len(methods["molecules"]["prod"]["weights_fingerprint"]) == 64
    # params values: one method's entry, canonical; editing another method leaves it unchanged
    edited = json.loads(json.dumps(EVERY_KNOB))
    edited["proteins"]["methods"]["or_t"]["temperature"] = 2.0
    again = resolve_methods(load_campaign(edited))
    assert method_json(again, "proteins", "or_t") != method_json(methods, "proteins", "or_t")
    for name in ("strand", "and_b", "anti"):
        assert method_json(again, "proteins", name) == method_json(methods, "proteins", name)


def test_sampling_through_the_methods_file_equals_sampling_with_flags(tmp_path):
    """End to end: the same designs, bit for bit, whichever way the method is given."""
    campaign = load_campaign(EVERY_KNOB)
    methods = _write_methods(tmp_path, campaign)
    shard = ["--length", "20", "--first-index", "1", "--num", "2", "--threads", "1"]
    for name in ("or_t", "anti"):
        assert main(["sample-backbones", "--methods", str(methods), "--method-name", name, *shard,
                     "--out", str(tmp_path / f"{name}_file")]) == 0
        assert main(["sample-backbones", *protein_flags(campaign, name), *shard,
                     "--out", str(tmp_path / f"{name}_flags")]) == 0
        a = pd.read_parquet(tmp_path / f"{name}_file" / "designs.parquet")
        b = pd.read_parquet(tmp_path / f"{name}_flags" / "designs.parquet")
        pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.parametrize("extra, message", [
    (["--steps", "3"], "--methods gives every method setting; drop --steps"),
    (["--model", "builtin:helix", "--no-resample"], "drop --model, --no-resample"),
])
def test_mixing_the_methods_file_with_method_flags_is_refused(tmp_path, capsys, extra, message):
    methods = _write_methods(tmp_path, load_campaign(EVERY_KNOB))
    code = main(["sample-backbones", "--methods", str(methods), "--method-name", "and_b", *extra,
                 "--length", "20", "--num", "1", "--out", str(tmp_path / "out")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["sample-backbones", "sample-molecules"])
def test_methods_file_errors_name_the_problem(tmp_path, capsys, command):
    methods = _write_methods(tmp_path, load_campaign(EVERY_KNOB))
    shard = ["--num", "1", "--out", str(tmp_path / "out")] + (["--length", "20"] if command == "sample-backbones"
                                                               else [])
    assert main([command, "--methods", str(methods), "--method-name", "nope", *shard]) == 2
    err = capsys.readouterr().err
    assert "has no" in err and "'nope'" in err
    assert main([command, "--methods", str(methods), *shard]) == 2
    assert "--methods needs --method-name" in capsys.readouterr().err
    assert main([command, "--method-name", "and_d", *shard]) == 2
    assert "--method-name needs --methods" in capsys.readouterr().err
    mixed = ["--guidance", "1.5"] if command == "sample-molecules" else ["--temperature", "1.5"]
    assert main([command, "--methods", str(methods), "--method-name", "and_d" if command == "sample-molecules"
                 else "and_b", *mixed, *shard]) == 2
    assert "--methods gives every method setting" in capsys.readouterr().err


def test_write_campaign_config_writes_the_resolved_methods(tmp_path):
    campaign = read_campaign(ROOT / ".test" / "config" / "config.yaml")
    data = yaml.safe_load((ROOT / ".test" / "config" / "config.yaml").read_text())
    out = tmp_path / "methods.json"
    argv = shlex.split(f"write-campaign-config --config-out {tmp_path / 'c.yaml'} --provenance-out "
                       f"{tmp_path / 'p.json'} --methods-out {out}")
    assert main([*argv, "--json", json.dumps(data)]) == 0
    assert json.loads(out.read_text()) == json.loads(json.dumps(resolve_methods(campaign)))


def test_one_method_files_give_the_samplers_the_same_settings_as_the_campaign_file(tmp_path):
    """The per-method file the workflow's jobs read (single_method) equals the campaign's methods.json entry."""
    campaign = load_campaign(EVERY_KNOB)
    methods = resolve_methods(campaign)
    whole = _write_methods(tmp_path, campaign)
    one = tmp_path / "or_t.json"
    one.write_text(json.dumps(single_method("proteins", "or_t", methods["proteins"]["or_t"])))
    shard = ["--length", "20", "--num", "1", "--out", str(tmp_path / "out")]
    assert sampling_request(_parse(["sample-backbones", "--methods", str(one), "--method-name", "or_t", *shard])) \
        == sampling_request(_parse(["sample-backbones", "--methods", str(whole), "--method-name", "or_t", *shard]))
    mol = tmp_path / "prod.json"
    mol.write_text(json.dumps(single_method("molecules", "prod", methods["molecules"]["prod"])))
    shard = ["--num", "4", "--out", str(tmp_path / "out")]
    assert sample_settings(_parse(["sample-molecules", "--methods", str(mol), "--method-name", "prod", *shard])) \
        == sample_settings(_parse(["sample-molecules", "--methods", str(whole), "--method-name", "prod", *shard]))


def test_a_method_file_of_the_wrong_shape_is_refused():
    entry = resolve_methods(load_campaign(EVERY_KNOB))["molecules"]["prod"]
    with pytest.raises(ValueError, match="a proteins method has the keys"):
        single_method("proteins", "prod", entry)
    with pytest.raises(ValueError, match="domain must be one of"):
        single_method("ligands", "prod", entry)


def test_one_default_number_of_steps_per_domain(tmp_path):
    """The config and the sampling commands read the domain's DEFAULT_STEPS (none writes its own)."""
    from superdiff.campaign.config import Molecules, Proteins
    from superdiff.molecules.sampling import DEFAULT_STEPS as MOLECULE_STEPS
    from superdiff.proteins.sampling import DEFAULT_STEPS as PROTEIN_STEPS

    assert Proteins.model_fields["steps"].default == PROTEIN_STEPS
    assert Molecules.model_fields["steps"].default == MOLECULE_STEPS
    out = ["--out", str(tmp_path / "x")]
    assert sampling_request(_parse(["sample-backbones", "--model", "builtin:helix", "--length", "20", "--num", "1",
                                    *out]))[0].steps == PROTEIN_STEPS
    molecules = sample_settings(_parse(["sample-molecules", "--condition", "gsk3b", "--method", "single", "--seed", "0",
                                        "--num", "1", *out]))
    assert molecules["steps"] == MOLECULE_STEPS
