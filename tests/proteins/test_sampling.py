"""sample-backbones: per-design seeds, PDB validity, resumability, bad input, and a small quality bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from superdiff.proteins.ca_model import CADenoiser
from superdiff.proteins.quality import assess
from superdiff.proteins.sampling import SamplingRequest, design_seed, sample_backbones, sample_length

SPECS = ("builtin:helix", "builtin:strand")


def read_ca(path) -> np.ndarray:
    import biotite.structure.io as strucio

    return strucio.load_structure(str(path)).coord


def test_design_seed_depends_on_seed_length_index_only():
    assert design_seed(0, 64, 3) == design_seed(0, 64, 3)
    assert len({design_seed(0, 64, 3), design_seed(1, 64, 3), design_seed(0, 65, 3), design_seed(0, 64, 4)}) == 4


@pytest.mark.parametrize("method", ["single", "average", "or", "and"])
def test_design_is_bit_identical_alone_or_in_a_batch(experts, method):
    """Per-design seeds and fixed-shape network micro-batches: a design's bits do not depend on its batch (AND
    used to amplify float32 batch-kernel differences to ~1 Å)."""
    request = SamplingRequest(models=SPECS, method=method, seed=7, steps=12)
    together = sample_length(experts, request, 30, [0, 1, 2], torch.device("cpu"))
    alone = sample_length(experts, request, 30, [2], torch.device("cpu"))
    assert np.array_equal(together["ca"][2], alone["ca"][0])
    np.testing.assert_allclose(together["log_q"][2], alone["log_q"][0], rtol=0, atol=1e-6)
    assert not np.allclose(together["ca"][0], together["ca"][1])


def test_shards_of_any_size_give_the_same_designs(experts, tmp_path):
    """Designs 0..3 in one run equal designs 0..1 and 2..3 run as two shards (--first-index): ids, seeds, Cα."""
    base = dict(models=SPECS, method="single", seed=5, steps=8, lengths=(24,), batch_size=4)
    whole = sample_backbones(SamplingRequest(**base, num=4), tmp_path / "whole", models=experts, progress=False)
    parts = [sample_backbones(SamplingRequest(**base, num=2, first_index=first), tmp_path / f"from{first}",
                              models=experts, progress=False) for first in (0, 2)]
    split = pd.concat(parts, ignore_index=True)
    assert list(split["design_id"]) == list(whole["design_id"]) == [f"len024_{i:04d}" for i in range(4)]
    assert list(split["seed"]) == list(whole["seed"])
    for index, pdb in zip(whole["index"], whole["pdb"], strict=True):
        folder = tmp_path / ("from0" if index < 2 else "from2")
        assert (folder / pdb).read_bytes() == (tmp_path / "whole" / pdb).read_bytes()  # byte-identical PDBs


def test_network_is_rotation_equivariant(experts):
    from scipy.spatial.transform import Rotation

    net: CADenoiser = experts[0].denoiser
    R = torch.tensor(Rotation.random(random_state=1).as_matrix(), dtype=torch.float32)
    x = torch.randn(2, 40, 3, generator=torch.Generator().manual_seed(0))  # not the suite's global stream
    t = torch.tensor([0.7, 0.05])
    # float32 round-off through the layers reaches ~3e-4 on outputs of order 1; a net that is not equivariant is off
    # by order 0.1
    np.testing.assert_allclose(net(x @ R.T + 0.5, t).numpy(), (net(x, t) @ R.T).numpy(), atol=1e-3)


def test_outputs_valid_pdbs_table_and_resume(experts, tmp_path):
    import biotite.structure.io as strucio
    import tmtools

    request = SamplingRequest(models=SPECS, method="or", seed=3, steps=20, lengths=(24, 30), num=2, batch_size=2)
    frame = sample_backbones(request, tmp_path, models=experts, progress=False)
    assert len(frame) == 4 and set(frame["length"]) == {24, 30}
    for col in ("design_id", "method", "seed", "log_q_0", "log_q_1", "kappa_mean_0", "kappa_final_1"):
        assert col in frame.columns
    np.testing.assert_allclose(frame["kappa_mean_0"] + frame["kappa_mean_1"], 1.0, atol=1e-9)
    for row in frame.itertuples():
        atoms = strucio.load_structure(str(tmp_path / row.pdb))
        assert len(atoms) == row.length and set(atoms.atom_name) == {"CA"} and len(set(atoms.chain_id)) == 1
    a = strucio.load_structure(str(tmp_path / frame.pdb[0])).coord.astype(np.float64)
    tm = tmtools.tm_align(a, a, "G" * len(a), "G" * len(a))
    assert tm.tm_norm_chain1 == pytest.approx(1.0, abs=1e-6)
    assert (tmp_path / "provenance.json").exists()

    # resume: one PDB deleted is re-made (same coordinates, float tolerance); the others are not touched
    first = strucio.load_structure(str(tmp_path / "len030_0001.pdb")).coord
    (tmp_path / "len030_0001.pdb").unlink()
    mtime = (tmp_path / "len024_0000.pdb").stat().st_mtime_ns
    frame2 = sample_backbones(request, tmp_path, models=experts, progress=False)
    # a batch of 1 instead of 2: float32 kernels round differently, and 20 reverse steps amplify it to ~0.03 Å
    np.testing.assert_allclose(strucio.load_structure(str(tmp_path / "len030_0001.pdb")).coord, first, atol=0.1)
    assert (tmp_path / "len024_0000.pdb").stat().st_mtime_ns == mtime
    pd.testing.assert_frame_equal(frame, frame2, check_exact=False, rtol=1e-3, atol=1e-4)

    # different settings in the same folder are refused, nothing is lost
    with pytest.raises(ValueError, match="different settings"):
        sample_backbones(SamplingRequest(models=SPECS, method="and", seed=3, steps=20, lengths=(24,), num=1),
                         tmp_path, models=experts, progress=False)
    assert len(pd.read_parquet(tmp_path / "designs.parquet")) == 4


def test_unsupported_length_fails_before_sampling(experts, tmp_path):
    request = SamplingRequest(models=SPECS, method="single", steps=5, lengths=(30, 400), num=1)
    with pytest.raises(ValueError, match=r"--length 400: model builtin:helix: length 400 is outside"):
        sample_backbones(request, tmp_path, models=experts, progress=False)
    assert not (tmp_path / "designs.parquet").exists()


def test_bad_requests():
    with pytest.raises(ValueError, match="method 'and' needs at least 2 models"):
        SamplingRequest(models=("builtin:helix",), method="and").validate()
    with pytest.raises(ValueError, match="index 2 is out of range"):
        SamplingRequest(models=SPECS, index=2).validate()
    with pytest.raises(ValueError, match="num must be >= 1"):
        SamplingRequest(models=SPECS, num=0).validate()
    with pytest.raises(ValueError, match=r"sharpen must be a finite number > 0 \(1: no sharpening\), got 0.0"):
        SamplingRequest(models=SPECS, sharpen=0.0).validate()


@pytest.mark.parametrize("method", ["single", "and"])
def test_sharpening_is_the_engines_flat_guidance(experts, method):
    """``sharpen = w`` samples with the drift w × the composed score: the engine's guidance against a flat density,
    the same bits as calling the engine with it; the log densities are still the models' own."""
    import superdiff.engine as engine
    from superdiff.proteins.sampling import MODEL_BATCH, make_operator

    request = SamplingRequest(models=SPECS, method=method, seed=5, steps=10, sharpen=1.5, denoise=False)
    ours = sample_length(experts, request, 24, [0, 1], torch.device("cpu"))
    seeds = [design_seed(5, 24, i) for i in (0, 1)]
    ref = engine.sample(list(experts), engine.VPLinear(), make_operator(request), shape=(24, 3), steps=10,
                        t_min=request.t_min, seeds=seeds, space=engine.CentredCoordinates(), model_batch=MODEL_BATCH,
                        guidance=engine.Guidance(None, 1.5))
    np.testing.assert_allclose(ours["log_q"], ref.log_q.numpy(), rtol=0, atol=1e-9)
    plain = sample_length(experts, SamplingRequest(models=SPECS, method=method, seed=5, steps=10, denoise=False),
                          24, [0, 1], torch.device("cpu"))
    assert np.abs(plain["ca"] - ours["ca"]).max() > 0.1


def test_a_sharpened_product_raises_its_exponents():
    from superdiff.proteins.sampling import make_operator, sharpening

    request = SamplingRequest(models=SPECS, method="product", sharpen=1.5)
    assert make_operator(request).weights == [1.5, 1.5] and sharpening(request) is None
    weighted = SamplingRequest(models=SPECS, method="product", weights=(1.0, -0.5), sharpen=2.0)
    assert make_operator(weighted).weights == [2.0, -1.0]
    assert make_operator(SamplingRequest(models=SPECS, method="product")).weights is None


@pytest.mark.slow
def test_small_quality_bar(experts):
    """The issue's bar on a few samples (the full bar: scripts/quality_bar_backbones.py)."""
    traces = {}
    for k, name in enumerate(("helix", "strand")):
        request = SamplingRequest(models=(SPECS[k],), method="single", seed=11, steps=200)
        traces[name] = sample_length([experts[k]], request, 64, [0, 1, 2, 3], torch.device("cpu"))["ca"]
    h, s = assess(list(traces["helix"])), assess(list(traces["strand"]))
    for r in (h, s):
        assert r.bond_ok >= 0.95
        assert r.clash_free >= 0.75
    # both secondary-structure gaps of the bar hold on a few samples
    assert s.strand - h.strand >= 0.1
    assert h.helix - s.helix >= 0.2


def test_product_of_experts_records_importance_weights(experts, tmp_path):
    request = SamplingRequest(models=SPECS, method="product", weights=(1.0, 1.0), seed=3, steps=12, lengths=(30,),
                              num=3)
    frame = sample_backbones(request, tmp_path, models=experts, progress=False)
    assert "log_w" in frame.columns and np.isfinite(frame["log_w"]).all()
    assert (frame["kappa_final_0"] == 1.0).all() and (frame["kappa_final_1"] == 1.0).all()  # κ = c
    assert all((tmp_path / pdb).stat().st_size > 0 for pdb in frame["pdb"])
    ess = pd.read_parquet(tmp_path / "ess.parquet")  # one row per step of the population, t decreasing
    assert len(ess) == 12 and (ess["size"] == 3).all() and ess["t"].is_monotonic_decreasing
    assert (ess["ess_threshold"] == 0.5).all() and (ess["resample_until"] == request.resample_until).all()
    assert ((ess["ess"] >= 1.0) & (ess["ess"] <= 3.0 + 1e-9)).all()
    assert frame["ess_min"].iloc[0] == pytest.approx(ess["ess"].min())
    with pytest.raises(ValueError, match="Product weights has length 3"):
        sample_length(experts, SamplingRequest(models=SPECS, method="product", weights=(1.0, 1.0, 1.0), steps=2),
                      30, [0], torch.device("cpu"))


@pytest.mark.slow
def test_a_product_of_backbone_experts_keeps_its_designs_diverse(experts):
    """The default campaign's product (two populations of 8, length 50, 200 steps): late resampling used to leave
    2 clusters of 16; stopping it at t = 0.1 keeps ≥ 12 (measured 16), with the ESS recorded per step."""
    from superdiff.proteins.evaluation.diversity import cluster, pairwise_tm

    request = SamplingRequest(models=SPECS, method="product", weights=(1.0, 1.0), steps=200)
    traces, ess = [], []
    for first in (0, 8):
        result = sample_length(experts, request, 50, list(range(first, first + 8)), torch.device("cpu"))
        traces += list(result["ca"])
        ess.append(result["ess"])
    labels = cluster(pairwise_tm([(ca, None) for ca in traces]), 0.5)
    assert len(set(labels)) >= 12
    assert all(e.shape == (200,) and (e >= 1.0).all() and (e <= 8.0 + 1e-9).all() for e in ess)
