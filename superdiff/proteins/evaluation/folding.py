"""Refolding backends behind one interface: ``esmfold``, ``external`` (e.g. ColabFold) and ``none``.

A backend folds sequences into PDB files whose B-factors hold per-residue pLDDT on a 0–100 scale, and returns
:class:`FoldResult` records. ``none`` folds nothing: the self-consistency step then reports designability as NA
with the reason "refolding off".

Contract of the ``external`` backend (any predictor wrapped by a command line):

1. superdiff writes one FASTA file with records ``>{name}`` (names are ``[A-Za-z0-9_.-]+``) and one sequence each;
2. it runs ``command`` after substituting ``{fasta}`` (that file) and ``{out_dir}`` (an empty folder), through
   the shell, and requires exit status 0;
3. for every record it expects a PDB file in ``out_dir`` named ``{name}.pdb`` or, as ColabFold names them,
   ``{name}_*rank_001*.pdb`` (else the first ``{name}_*.pdb`` in sorted order);
4. pLDDT is read from the B-factor of each Cα, 0–100 (a file whose B-factors are all ≤ 1 is taken as 0–1
   and scaled by 100).

Example (ColabFold): ``colabfold_batch --num-recycle 3 {fasta} {out_dir}``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from superdiff.files.atomic import write_text_atomic
from superdiff.files.download import sha256_file

FOLDING_BACKENDS = ("esmfold", "external", "none")
_NAME_OK = re.compile(r"^[A-Za-z0-9_.-]+$")


class FoldingOff(RuntimeError):
    """Raised when sequences are sent to the ``none`` backend."""


@dataclass(frozen=True)
class FoldResult:
    """One refolded sequence.

    Attributes:
        name: the record name it was folded under.
        sequence: the folded sequence (length ``L``).
        pdb_path: the predicted structure (B-factors = pLDDT, 0–100).
        ca: predicted Cα coordinates ``[L, 3]`` (Å).
        plddt: per-residue pLDDT ``[L]`` (0–100).
    """

    name: str
    sequence: str
    pdb_path: str
    ca: np.ndarray
    plddt: np.ndarray

    @property
    def mean_plddt(self) -> float:
        return float(np.mean(self.plddt))


class Folder(Protocol):
    """What every refolding backend provides."""

    name: str

    def fold(self, named_sequences: dict[str, str], out_dir: str | os.PathLike) -> dict[str, FoldResult]:
        """Fold ``{name: sequence}``, write ``{out_dir}/{name}.pdb`` files and return their results by name."""

    def settings(self) -> dict[str, Any]:
        """The settings that define this backend's predictions (recorded in every output row)."""


def _check_names(named_sequences: dict[str, str]) -> None:
    for name, seq in named_sequences.items():
        if not _NAME_OK.match(name):
            raise ValueError(f"sequence name {name!r} must match [A-Za-z0-9_.-]+")
        if not seq or not seq.isalpha():
            raise ValueError(f"sequence {name!r} must be non-empty letters, got {seq!r}")


def read_prediction(path: str | os.PathLike, name: str, sequence: str) -> FoldResult:
    """Read a predicted PDB: Cα coordinates and pLDDT from the Cα B-factors (0–100; 0–1 files are scaled).

    Raises:
        ValueError: the number of residues differs from the sequence length.
    """
    import biotite.structure.io.pdb as pdb

    structure = pdb.PDBFile.read(str(path)).get_structure(model=1, extra_fields=["b_factor"])
    ca = structure[structure.atom_name == "CA"]
    if len(ca) != len(sequence):
        raise ValueError(f"{path}: {len(ca)} Cα atoms but the sequence {name!r} has {len(sequence)} residues")
    plddt = np.asarray(ca.b_factor, dtype=np.float64)
    if plddt.size and plddt.max() <= 1.0:
        plddt = plddt * 100.0
    return FoldResult(name, sequence, str(path), np.asarray(ca.coord, dtype=np.float32), plddt)


class NoFolding:
    """The ``none`` backend: refolding is off (no predictor available, e.g. the offline CPU campaign)."""

    name = "none"
    reason = "refolding off"

    def fold(self, named_sequences: dict[str, str], out_dir: str | os.PathLike) -> dict[str, FoldResult]:
        raise FoldingOff("refolding is off (folding backend 'none'); choose 'esmfold' or 'external'")

    def settings(self) -> dict[str, Any]:
        return {"folding": "none"}


@dataclass
class ExternalFolding:
    """Fold with any command line that follows the contract in this module's docstring."""

    command: str
    timeout: float | None = None
    name: str = field(default="external", init=False)

    def __post_init__(self) -> None:
        if "{fasta}" not in self.command or "{out_dir}" not in self.command:
            raise ValueError(f"external folding command must contain {{fasta}} and {{out_dir}}, got {self.command!r}")

    def settings(self) -> dict[str, Any]:
        return {"folding": "external", "folding_command": self.command}

    def fold(self, named_sequences: dict[str, str], out_dir: str | os.PathLike) -> dict[str, FoldResult]:
        _check_names(named_sequences)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".external-", dir=out_dir) as work:
            fasta = Path(work) / "input.fasta"
            write_text_atomic(fasta, "".join(f">{n}\n{s}\n" for n, s in named_sequences.items()))
            raw = Path(work) / "predictions"
            raw.mkdir()
            command = self.command.format(fasta=shlex.quote(str(fasta)), out_dir=shlex.quote(str(raw)))
            done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=self.timeout)
            if done.returncode != 0:
                raise RuntimeError(f"external folding command failed ({done.returncode}): {done.stderr[-2000:]}")
            results = {}
            for name, seq in named_sequences.items():
                found = _find_prediction(raw, name)
                if found is None:
                    raise FileNotFoundError(f"external folding produced no PDB for {name!r} in {raw}")
                target = out_dir / f"{name}.pdb"
                write_text_atomic(target, found.read_text())
                results[name] = read_prediction(target, name, seq)
        return results


def _find_prediction(folder: Path, name: str) -> Path | None:
    exact = folder / f"{name}.pdb"
    if exact.is_file():
        return exact
    candidates = sorted(folder.glob(f"{glob_escape(name)}_*.pdb"))
    ranked = [p for p in candidates if "rank_001" in p.name or "rank_1" in p.name]
    return (ranked or candidates or [None])[0]


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


class EsmFolding:
    """ESMFold through ``transformers``' ``EsmForProteinFolding``.

    Args:
        model: an ``EsmForProteinFolding`` (e.g. from :meth:`from_weights`, or a tiny random one in tests).
        weights: where its weights came from (recorded), e.g. the verified local copy of ``esmfold_v1``.
        chunk_size: axial-attention chunk size of the folding trunk (None = unchunked; smaller saves memory).
        num_recycles: trunk recycles, i.e. passes after the first (None = the model's default,
            ``max_recycles - 1``: 3 for ESMFold v1). Resolved to an int and recorded.
        device: torch device string.
    """

    name = "esmfold"

    def __init__(self, model: Any, *, weights: str = "", weights_sha256: str = "", chunk_size: int | None = 64,
                 num_recycles: int | None = None, device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        if str(device).startswith("cpu") and next(self.model.esm.parameters()).dtype != next(
                self.model.trunk.parameters()).dtype:
            self.model.esm.float()  # ESMFold keeps its language model in fp16 (fp16_esm); CPUs run it in fp32
        self.weights = weights
        self.weights_sha256 = weights_sha256
        self.chunk_size = chunk_size
        max_recycles = int(model.config.esmfold_config.trunk.max_recycles)
        self.num_recycles = max(max_recycles - 1, 0) if num_recycles is None else int(num_recycles)
        if self.num_recycles < 0:
            raise ValueError(f"num_recycles must be >= 0, got {num_recycles}")
        self.device = str(device)
        self.model.trunk.set_chunk_size(chunk_size)

    @classmethod
    def from_weights(cls, weights: str | os.PathLike, **kwargs: Any) -> EsmFolding:
        """Load ESMFold from a local Hugging Face-format folder (``config.json`` + ``model.safetensors``).

        Nothing is downloaded here: fetch and verify the weights first (the weights manifest) and pass their folder.

        Raises:
            FileNotFoundError: ``weights`` is not a folder with ``config.json``.
        """
        from transformers import EsmForProteinFolding

        folder = Path(weights)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"esmfold weights {str(folder)!r}: expected a folder with config.json and model weights "
                "(Hugging Face format of facebook/esmfold_v1), fetched and verified beforehand"
            )
        model = EsmForProteinFolding.from_pretrained(str(folder), local_files_only=True)
        files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
        digest = sha256_file(files[0].resolve()) if files else ""
        return cls(model, weights=str(folder), weights_sha256=digest, **kwargs)

    @classmethod
    def from_verified_download(
        cls, config_source: str, config_sha256: str, weights_source: str, weights_sha256: str,
        cache_dir: str | os.PathLike | None = None, **kwargs: Any,
    ) -> EsmFolding:
        """Fetch ESMFold's ``config.json`` and weights file through :func:`superdiff.files.download.fetch` (sha256
        verified, cached, atomic), assemble them into a Hugging Face folder and load it.

        ``weights_source`` ends in ``.safetensors`` or ``.bin`` (the file name ``transformers`` expects is derived
        from that suffix). Any URL scheme :func:`~superdiff.files.download.fetch` accepts works (``https``, ``file``).
        """
        from superdiff.files.download import fetch

        config = fetch(config_source, config_sha256, cache_dir)
        weights = fetch(weights_source, weights_sha256, cache_dir)
        name = "model.safetensors" if str(weights_source).endswith(".safetensors") else "pytorch_model.bin"
        folder = config.parent / f"esmfold-{weights_sha256[:16]}"
        folder.mkdir(parents=True, exist_ok=True)
        for link, target in ((folder / "config.json", config), (folder / name, weights)):
            if not link.exists():
                link.symlink_to(target.resolve())
        return cls.from_weights(folder, **kwargs)

    def settings(self) -> dict[str, Any]:
        return {
            "folding": "esmfold",
            "esmfold_weights": self.weights,
            "esmfold_weights_sha256": self.weights_sha256,
            "esmfold_chunk_size": self.chunk_size,
            "esmfold_num_recycles": self.num_recycles,
            "device": self.device,
        }

    def fold(self, named_sequences: dict[str, str], out_dir: str | os.PathLike) -> dict[str, FoldResult]:
        """Fold each sequence on its own (batch 1: a prediction never depends on its batch-mates)."""
        _check_names(named_sequences)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        results = {}
        for name, seq in named_sequences.items():
            path = out_dir / f"{name}.pdb"
            write_text_atomic(path, self.predict_pdb(seq))
            results[name] = read_prediction(path, name, seq)
        return results

    def predict_pdb(self, sequence: str) -> str:
        """PDB text of the prediction for one sequence; B-factors are pLDDT (0–100)."""
        import torch
        from transformers.models.esm.openfold_utils import residue_constants

        aatype = torch.tensor(
            [residue_constants.restype_order_with_x.get(c, residue_constants.restype_num) for c in sequence],
            device=self.device,
        )[None]
        mask = torch.ones_like(aatype)
        positions = torch.arange(aatype.shape[1], device=self.device)[None]
        with torch.no_grad():
            output = self.model(aatype, attention_mask=mask, position_ids=positions, num_recycles=self.num_recycles)
        keys = ("positions", "aatype", "atom14_atom_exists", "residx_atom14_to_atom37", "residx_atom37_to_atom14",
                "atom37_atom_exists", "residue_index", "plddt")
        fields = {k: output[k] for k in keys}
        fields["plddt"] = fields["plddt"] * 100.0  # the model's pLDDT is 0–1
        return self.model.output_to_pdb(fields)[0]


def make_folder(
    backend: str,
    *,
    esmfold_weights: str | None = None,
    chunk_size: int | None = 64,
    num_recycles: int | None = None,
    command: str | None = None,
    device: str = "cpu",
) -> Folder:
    """Build a refolding backend by name (``esmfold``, ``external`` or ``none``).

    Raises:
        ValueError: unknown backend, or the backend's required argument is missing.
    """
    if backend == "none":
        return NoFolding()
    if backend == "external":
        if not command:
            raise ValueError("folding 'external' needs command (a template with {fasta} and {out_dir})")
        return ExternalFolding(command)
    if backend == "esmfold":
        if not esmfold_weights:
            raise ValueError(
                "folding 'esmfold' needs esmfold_weights: the local folder of the verified facebook/esmfold_v1 "
                "weights (nothing is downloaded at run time)"
            )
        return EsmFolding.from_weights(esmfold_weights, chunk_size=chunk_size, num_recycles=num_recycles,
                                       device=device)
    raise ValueError(f"folding backend must be one of {FOLDING_BACKENDS}, got {backend!r}")
