"""The latent-model contract: a tiny random model from a test module (``module:factory``) samples end to end
through sample-molecules; a factory that breaks the contract is refused with the missing attribute named; the
built-in autoencoder + latent diffusion is one implementation of the same contract."""

import json

import pandas as pd
import pytest
import torch

from superdiff.cli import main
from superdiff.molecules.latent_model import BUILTIN, check_latent_model, check_latent_spec
from superdiff.molecules.loading import BuiltinLatentModel

TINY = "tests.molecules.tiny_latent_model:make"
CONDITIONS = ["--condition", "gsk3b", "--condition", "druglike"]


def _sample(out, spec, method, *extra):
    return main(["sample-molecules", "--latent-model", spec, *CONDITIONS, "--method", method, "--seed", "0",
                 "--num", "5", "--steps", "12", "--calibration", "4", "--out", str(out), *extra])


@pytest.mark.parametrize("method", ["single", "and", "or", "product"])
def test_a_tiny_factory_model_samples_end_to_end(tmp_path, method):
    assert _sample(tmp_path / method, TINY, method) == 0
    frame = pd.read_parquet(tmp_path / method / "molecules.parquet")
    assert len(frame) == 5 and frame["valid"].all()
    assert {"qed", "p_gsk3b", "log_q_gsk3b", "log_q_druglike"} <= set(frame.columns)
    settings = json.loads((tmp_path / method / "provenance.json").read_text())["settings"]
    assert settings["latent_model"] == TINY


def test_an_epsilon_factory_model_and_its_cached_calibration(tmp_path):
    spec = "tests.molecules.tiny_latent_model:make_epsilon"
    calibration = tmp_path / "and.json"
    assert main(["calibrate-molecules", "--latent-model", spec, *CONDITIONS, "--method", "and", "--seed", "0",
                 "--steps", "12", "--calibration", "4", "--out", str(calibration)]) == 0
    assert json.loads(calibration.read_text())["settings"]["model_fingerprint"] == "tiny-epsilon-0"
    assert _sample(tmp_path / "own", spec, "and") == 0
    assert _sample(tmp_path / "cached", spec, "and", "--typical-path", str(calibration)) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "own" / "molecules.parquet"),
                                  pd.read_parquet(tmp_path / "cached" / "molecules.parquet"), check_exact=True)
    # a calibration of another model is refused
    assert _sample(tmp_path / "other", TINY, "and", "--typical-path", str(calibration)) == 2


def test_a_factory_breaking_the_contract_is_named(tmp_path, capsys):
    assert _sample(tmp_path / "broken", "tests.molecules.tiny_latent_model:make_broken", "single") == 2
    err = capsys.readouterr().err
    assert "has no attribute 'decode'" in err and err.count("\n") == 1
    assert _sample(tmp_path / "missing", "tests.molecules.no_such_module:make", "single") == 2
    assert "cannot import module 'tests.molecules.no_such_module'" in capsys.readouterr().err
    assert _sample(tmp_path / "nofactory", "tests.molecules.tiny_latent_model:nothing", "single") == 2
    assert "has no callable 'nothing'" in capsys.readouterr().err
    assert not any((tmp_path / name / "molecules.parquet").exists() for name in ("broken", "missing", "nofactory"))
    with pytest.raises(ValueError, match="expected 'builtin' or 'module:factory'"):
        check_latent_spec("just_a_name")


def test_unknown_conditions_of_a_factory_model_are_refused(tmp_path, capsys):
    assert main(["sample-molecules", "--latent-model", TINY, "--condition", "egfr", "--method", "single",
                 "--seed", "0", "--num", "2", "--out", str(tmp_path / "x")]) == 2
    assert "unknown condition 'egfr'" in capsys.readouterr().err


def test_the_builtin_model_satisfies_the_contract():
    model = check_latent_model(BuiltinLatentModel.load(), BUILTIN)
    assert model.latent_shape == (32,) and model.prediction == "epsilon"
    assert {"gsk3b", "jak2", "druglike"} <= set(model.conditions)
    z = model.encode(["CCO", "c1ccccc1O"])
    assert z.shape == (2, 32)
    assert len(model.decode(z)) == 2
    assert model.denoise(z, torch.full((2,), 0.5), ()).shape == z.shape
    with pytest.raises(ValueError, match="cannot encode"):
        model.encode(["[Xe+12]"])
