"""A campaign's molecule generator (``molecules.latent_model``): checked when the config is read, carried into
every molecule method's settings, and used by sample-molecules and calibrate-molecules through ``--methods``."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from superdiff.campaign.config import CampaignError, load_campaign
from superdiff.campaign.methods import resolve_methods
from superdiff.cli import main

TINY = "tests.molecules.tiny_latent_model:make"
CAMPAIGN = {"campaign": "tiny", "device": "cpu",
            "molecules": {"conditions": ["gsk3b", "druglike"], "steps": 8, "latent_model": TINY,
                          "seeds": {"count": 4, "shard_size": 4},
                          "methods": {"and": {"operator": "and"}, "gsk3b": {"operator": "single", "index": 0}}}}


def test_the_default_is_the_builtin_model():
    without = {k: v for k, v in CAMPAIGN["molecules"].items() if k != "latent_model"}
    campaign = load_campaign({**CAMPAIGN, "molecules": without})
    assert campaign.molecules.latent_model == "builtin"
    assert resolve_methods(campaign)["molecules"]["and"]["latent_model"] == "builtin"


def test_an_unimportable_factory_is_refused_when_the_config_is_read():
    bad = {**CAMPAIGN, "molecules": {**CAMPAIGN["molecules"], "latent_model": "no_such_pkg.models:make"}}
    with pytest.raises(CampaignError, match=r"molecules\.latent_model.*cannot import module 'no_such_pkg\.models'"):
        load_campaign(bad)


def test_a_campaign_samples_and_calibrates_with_its_factory_model(tmp_path):
    methods = tmp_path / "methods.json"
    methods.write_text(json.dumps(resolve_methods(load_campaign(CAMPAIGN))))
    calibration = tmp_path / "and.json"
    run = ["--methods", str(methods), "--method-name", "and", "--calibration", "4"]
    assert main(["calibrate-molecules", *run, "--out", str(calibration)]) == 0
    settings = json.loads(calibration.read_text())["settings"]
    assert settings["latent_model"] == TINY and settings["model_fingerprint"] == "tiny-velocity-0"
    out = tmp_path / "and_shard"
    assert main(["sample-molecules", *run, "--num", "4", "--typical-path", str(calibration), "--out", str(out)]) == 0
    frame = pd.read_parquet(out / "molecules.parquet")
    assert len(frame) == 4 and frame["valid"].all()
    assert json.loads((out / "provenance.json").read_text())["settings"]["latent_model"] == TINY
