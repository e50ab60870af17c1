"""Campaign config models: every shipped config validates, bad configs fail naming key, value and what is allowed,
and the JSON schema the Snakefile uses is the one the models export."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from superdiff.campaign.config import (
    SCHEMA_PATH,
    CampaignError,
    SeedRange,
    json_schema,
    load_campaign,
    read_campaign,
    resolved,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted([ROOT / "config" / "config.yaml", ROOT / ".test" / "config" / "config.yaml",
                  *(ROOT / "config" / "campaigns").glob("*.yaml")])


def _default() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def _error(data: dict) -> str:
    with pytest.raises(CampaignError) as info:
        load_campaign(data)
    return str(info.value)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_configs_validate_against_models_and_schema(path):
    campaign = read_campaign(path)
    jsonschema.validate(resolved(campaign), json_schema())
    jsonschema.validate(yaml.safe_load(path.read_text()), json_schema())


def test_schema_file_is_the_exported_schema():
    on_disk = json.loads((ROOT / SCHEMA_PATH).read_text())
    assert on_disk == json.loads(json.dumps(json_schema())), (
        "workflow/schemas/config.schema.json is stale: run `superdiff export-config-schema --out "
        "workflow/schemas/config.schema.json`")


def test_default_campaign_is_cpu_sized_with_refolding_off():
    c = read_campaign(ROOT / "config" / "config.yaml")
    assert c.device == "cpu"
    assert c.proteins.evaluation.refold.enabled is False
    assert "ESMFold" in c.proteins.evaluation.refold.reason_off
    assert {m.operator for m in c.proteins.methods.values()} == {"single", "average", "or", "and", "product"}
    assert {m.operator for m in c.molecules.methods.values()} >= {"and", "average", "joint", "single"}


def test_bad_value_names_key_path_value_and_what_is_allowed():
    data = _default()
    data["proteins"]["methods"]["or"]["temperature"] = -2.5
    data["proteins"]["methods"]["and"]["operator"] = "xor"
    msg = _error(data)
    assert "proteins.methods.or.temperature: got -2.5; Input should be greater than or equal to 0" in msg
    assert "proteins.methods.and.operator: got \"xor\"" in msg
    assert "'single', 'average', 'or', 'and' or 'product'" in msg
    assert "2 problems" in msg


def test_unknown_key_lists_the_allowed_keys():
    data = _default()
    data["proteins"]["stepz"] = 10
    data["proteins"]["methods"]["helix"]["temprature"] = 1.0
    msg = _error(data)
    assert "proteins.stepz: unknown key; allowed keys here: enabled, models, methods, lengths, seeds, steps" in msg
    assert "proteins.methods.helix.temprature: unknown key; allowed keys here: operator, index, temperature, bias" \
        in msg


def test_missing_key_is_named():
    data = _default()
    del data["proteins"]["seeds"]["shard_size"]
    assert "proteins.seeds.shard_size: required key is missing" in _error(data)


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["proteins"]["methods"]["helix"].update(index=2),
     "methods.helix.index = 2, but there are only 2 models (0..1)"),
    (lambda d: d["proteins"]["methods"]["or"].update(bias=[0.0]),
     "methods.or.bias has 1 values, expected one per model (2)"),
    (lambda d: d["proteins"]["methods"]["average"].update(index=0),
     "'index' is only allowed with operator 'single', not 'average'"),
    (lambda d: d["molecules"]["methods"]["average"].update(and_target="typical"),
     "'and_target' is only allowed with operator 'and', not 'average'"),
    (lambda d: d["proteins"]["methods"]["or"].update(curvature_every=8),
     "'curvature_every' is only allowed with operator 'and', not 'or'"),
    (lambda d: d["proteins"]["methods"]["and"].update(curvature_every=0),
     "proteins.methods.and.curvature_every: got 0"),
    (lambda d: d["molecules"]["methods"]["average"].update(curvature_every=4),
     "'curvature_every' is only allowed with operator 'and', not 'average'"),
    (lambda d: d["proteins"].update(lengths=[50, 50]), "lengths must be distinct, got [50, 50]"),
    (lambda d: d["proteins"].update(sharpen=0), "proteins.sharpen: got 0; Input should be greater than 0"),
    (lambda d: d["proteins"]["methods"]["and"].update(sharpen=-1.5), "proteins.methods.and.sharpen: got -1.5"),
    (lambda d: d["molecules"].update(conditions=["gsk3b", "egfr"]), "molecules.conditions.1: got \"egfr\""),
    (lambda d: d.update(device="gpu"), "device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got 'gpu'"),
    (lambda d: d.update(campaign="My Campaign"), "campaign: got \"My Campaign\""),
    (lambda d: (d["proteins"].update(enabled=False), d["molecules"].update(enabled=False)),
     "nothing to do: enable 'proteins' or 'molecules'"),
])
def test_cross_field_errors(edit, expected):
    data = _default()
    edit(data)
    assert expected in _error(data)


def test_json_schema_rejects_what_the_models_reject():
    schema = json_schema()
    for edit in (lambda d: d["proteins"].update(steps=1), lambda d: d.update(extra=1),
                 lambda d: d["proteins"]["methods"]["or"].update(operator="xor")):
        data = copy.deepcopy(_default())
        edit(data)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(data, schema)
        with pytest.raises(CampaignError):
            load_campaign(data)


def test_molecule_conditions_match_the_labels_the_sampler_knows():
    from superdiff.campaign.config import Molecules
    from superdiff.molecules.conditions import LABELS

    allowed = Molecules.model_json_schema()["properties"]["conditions"]["items"]["enum"]
    assert sorted(allowed) == sorted(LABELS)


@pytest.mark.parametrize(("start", "count", "size"), [(0, 8, 4), (3, 10, 4), (5, 1, 7), (0, 7, 1)])
def test_seed_shards_partition_the_range(start, count, size):
    shards = SeedRange(start=start, count=count, shard_size=size).shards()
    seeds = [s for a, b in shards for s in range(a, b)]
    assert seeds == list(range(start, start + count))
    assert all(0 < b - a <= size for a, b in shards)


def test_resolved_fills_defaults_and_round_trips():
    c = read_campaign(ROOT / ".test" / "config" / "config.yaml")
    r = resolved(c)
    assert r["proteins"]["evaluation"]["refold"]["enabled"] is False
    assert load_campaign(r) == c


def test_validate_config_command(tmp_path, capsys):
    from superdiff.campaign.cli import cmd_validate_config

    bad = tmp_path / "bad.yaml"
    data = _default()
    data["proteins"]["lengths"] = [50, -3]
    bad.write_text(yaml.safe_dump(data))

    import argparse

    args = argparse.Namespace(configs=[ROOT / "config" / "config.yaml", bad], print_resolved=False)
    assert cmd_validate_config(args) == 2
    out = capsys.readouterr()
    assert "config/config.yaml: ok (campaign 'default')" in out.out
    assert "proteins.lengths.1: got -3; Input should be greater than or equal to 8" in out.err
