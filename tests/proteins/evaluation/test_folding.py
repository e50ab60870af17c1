import hashlib
import sys
import textwrap

import numpy as np
import pytest

from superdiff.proteins.evaluation.folding import (
    EsmFolding,
    ExternalFolding,
    FoldingOff,
    NoFolding,
    make_folder,
    read_prediction,
)
from superdiff.proteins.structure import read_backbone

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQ"


def tiny_esmfold(fp16_esm: bool = False):
    """A randomly initialised ESMFold small enough to run in a second, through the real transformers code."""
    import torch
    from transformers import EsmConfig, EsmForProteinFolding
    from transformers.models.esm.configuration_esm import get_default_vocab_list

    trunk = dict(num_blocks=1, sequence_state_dim=32, pairwise_state_dim=16, sequence_head_width=16,
                 pairwise_head_width=8, max_recycles=2, chunk_size=None,
                 structure_module=dict(sequence_dim=32, pairwise_dim=16, ipa_dim=8, resnet_dim=8, num_heads_ipa=2,
                                       num_qk_points=2, num_v_points=2, num_blocks=1))
    config = EsmConfig(vocab_size=33, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=32, pad_token_id=1, mask_token_id=32, is_folding_model=True,
                       position_embedding_type="rotary", token_dropout=True, vocab_list=get_default_vocab_list(),
                       esmfold_config=dict(fp16_esm=fp16_esm, lddt_head_hid_dim=8, trunk=trunk))
    with torch.random.fork_rng():  # reproducible random weights without touching the caller's RNG
        torch.manual_seed(0)
        return EsmForProteinFolding(config)


@pytest.fixture(scope="module")
def tiny():
    return tiny_esmfold()


def test_esmfold_path_writes_a_pdb_with_plddt(tiny, tmp_path):
    folder = EsmFolding(tiny, chunk_size=8, num_recycles=1)
    results = folder.fold({"d1_seq0": SEQUENCE, "d1_seq1": SEQUENCE[:12]}, tmp_path)
    first = results["d1_seq0"]
    assert (tmp_path / "d1_seq0.pdb").is_file()
    assert first.ca.shape == (len(SEQUENCE), 3) and np.isfinite(first.ca).all()
    assert first.plddt.shape == (len(SEQUENCE),)
    assert 0.0 < first.mean_plddt <= 100.0
    assert first.plddt.max() > 1.0  # written on the 0-100 scale
    assert read_backbone(tmp_path / "d1_seq0.pdb").sequence == SEQUENCE
    assert results["d1_seq1"].ca.shape == (12, 3)
    settings = folder.settings()
    assert settings["esmfold_chunk_size"] == 8 and settings["esmfold_num_recycles"] == 1
    assert EsmFolding(tiny, chunk_size=None).settings()["esmfold_num_recycles"] == 1  # max_recycles - 1


def test_fp16_language_model_runs_in_fp32_on_cpu(tmp_path):
    import torch

    model = tiny_esmfold(fp16_esm=True)
    assert next(model.esm.parameters()).dtype == torch.float16  # as ESMFold v1 ships
    folder = EsmFolding(model, chunk_size=None, num_recycles=0)
    assert next(folder.model.esm.parameters()).dtype == torch.float32
    assert np.isfinite(folder.fold({"x": SEQUENCE}, tmp_path)["x"].ca).all()


def test_esmfold_from_local_weights_records_the_file(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "weights")
    folder = make_folder("esmfold", esmfold_weights=str(tmp_path / "weights"), chunk_size=None, num_recycles=0)
    weights = next((tmp_path / "weights").glob("*.safetensors"))
    assert folder.settings()["esmfold_weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    a = folder.fold({"x": SEQUENCE}, tmp_path / "a")["x"]
    b = EsmFolding(tiny, chunk_size=None, num_recycles=0).fold({"x": SEQUENCE}, tmp_path / "b")["x"]
    np.testing.assert_allclose(a.ca, b.ca, atol=1e-3)
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        make_folder("esmfold", esmfold_weights=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="esmfold_weights"):
        make_folder("esmfold")


ORACLE = textwrap.dedent('''
    """Test predictor: answers every FASTA record with a fixed structure, ColabFold-style file names."""
    import sys
    from pathlib import Path
    fasta, out_dir, structure, plddt = sys.argv[1], Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    lines = [l for l in Path(structure).read_text().splitlines() if l.startswith("ATOM")]
    body = "\\n".join(l[:60] + f"{plddt:6.2f}" + l[66:] for l in lines) + "\\nEND\\n"
    for name in [l[1:].strip() for l in Path(fasta).read_text().splitlines() if l.startswith(">")]:
        (out_dir / f"{name}_unrelaxed_rank_002_model_1.pdb").write_text(body.replace(f"{plddt:6.2f}", "  0.00"))
        (out_dir / f"{name}_unrelaxed_rank_001_model_3.pdb").write_text(body)
''')


def oracle_command(tmp_path, structure, plddt: float) -> str:
    script = tmp_path / "oracle.py"
    script.write_text(ORACLE)
    return f"{sys.executable} {script} {{fasta}} {{out_dir}} {structure} {plddt}"


def test_external_contract(tmp_path, real_chain):
    chain = read_backbone(real_chain)
    folder = ExternalFolding(oracle_command(tmp_path, real_chain, 87.5))
    result = folder.fold({"a_seq0": chain.sequence}, tmp_path / "out")["a_seq0"]
    assert result.mean_plddt == pytest.approx(87.5)  # the rank_001 file was chosen
    np.testing.assert_allclose(result.ca, chain.ca, atol=1e-3)
    assert (tmp_path / "out" / "a_seq0.pdb").is_file()
    assert folder.settings() == {"folding": "external", "folding_command": folder.command}


def test_external_errors(tmp_path, real_chain):
    with pytest.raises(ValueError, match="fasta"):
        ExternalFolding("colabfold_batch input output")
    with pytest.raises(RuntimeError, match="failed"):
        ExternalFolding("false {fasta} {out_dir}").fold({"a": "ACD"}, tmp_path)
    with pytest.raises(FileNotFoundError, match="no PDB"):
        ExternalFolding("true {fasta} {out_dir}").fold({"a": "ACD"}, tmp_path)
    with pytest.raises(ValueError, match="name"):
        ExternalFolding("true {fasta} {out_dir}").fold({"a b": "ACD"}, tmp_path)
    with pytest.raises(ValueError, match="Cα atoms"):
        read_prediction(real_chain, "x", "ACD")


def test_none_backend_refuses():
    folder = make_folder("none")
    assert isinstance(folder, NoFolding) and folder.settings() == {"folding": "none"}
    with pytest.raises(FoldingOff):
        folder.fold({"a": "ACD"}, "/tmp")
    with pytest.raises(ValueError, match="one of"):
        make_folder("alphafold3")


def test_esmfold_through_the_verified_download(tiny, tmp_path):
    from superdiff.files.download import ChecksumError

    tiny.save_pretrained(tmp_path / "published")
    config = tmp_path / "published" / "config.json"
    weights = tmp_path / "published" / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    config_digest = hashlib.sha256(config.read_bytes()).hexdigest()
    folder = EsmFolding.from_verified_download(config.as_uri(), config_digest, weights.as_uri(), digest,
                                               cache_dir=tmp_path / "cache", chunk_size=None)
    assert folder.settings()["esmfold_weights_sha256"] == digest
    assert folder.fold({"x": SEQUENCE[:8]}, tmp_path / "out")["x"].ca.shape == (8, 3)
    with pytest.raises(ChecksumError):
        EsmFolding.from_verified_download(config.as_uri(), config_digest, weights.as_uri(), "0" * 64,
                                          cache_dir=tmp_path / "cache2")
