"""Offline molecule data: MOSES SMILES (PyPI ``molsets``) and ChEMBL activities (PyPI ``MoleculeACE``).

Both packages ship their data as files; we read them with ``importlib.resources`` and never import ``moses``
(its ``__init__`` is broken with current RDKit). Invalid SMILES in any input are counted, never fatal.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, RDLogger

RDLogger.DisableLog("rdApp.*")

#: Target name -> MoleculeACE file stem (ChEMBL target id and assay type).
TARGETS: dict[str, str] = {"gsk3b": "CHEMBL262_Ki", "jak2": "CHEMBL2971_Ki"}
MOSES_SPLITS = ("train", "test", "test_scaffolds")


def _package_file(package: str, *parts: str) -> Path:
    """Path of a data file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed (pip install --no-deps molsets MoleculeACE)")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{package} does not ship {'/'.join(parts)} (looked at {path})")
    return path


def moses_path(split: str) -> Path:
    """Location of the MOSES ``split`` CSV (``train`` 1,584,663 / ``test`` 176,074 SMILES)."""
    if split not in MOSES_SPLITS:
        raise ValueError(f"MOSES split must be one of {MOSES_SPLITS}, got {split!r}")
    return _package_file("moses", "dataset", "data", f"{split}.csv.gz")


def load_moses(split: str, n: int | None = None, seed: int = 0) -> list[str]:
    """MOSES SMILES of ``split``; with ``n``, a reproducible random subset of ``n`` molecules."""
    smiles = pd.read_csv(moses_path(split))["SMILES"].astype(str).tolist()
    if n is not None and n < len(smiles):
        idx = np.random.default_rng(seed).choice(len(smiles), size=n, replace=False)
        smiles = [smiles[i] for i in np.sort(idx)]
    return smiles


def load_activity(target: str) -> pd.DataFrame:
    """MoleculeACE measurements for ``target`` (``gsk3b`` or ``jak2``): columns smiles, ki_nm, pki, split."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {sorted(TARGETS)}")
    with importlib.resources.as_file(_package_file("MoleculeACE", "Data", "benchmark_data",
                                                   f"{TARGETS[target]}.csv")) as path:
        frame = pd.read_csv(path)
    # MoleculeACE stores y = -log10(Ki / nM), i.e. pKi - 9.
    return pd.DataFrame({"smiles": frame["smiles"].astype(str), "ki_nm": frame["exp_mean [nM]"],
                         "pki": frame["y"] + 9.0, "split": frame["split"]})


def load_all_activity_smiles() -> list[str]:
    """Every SMILES of the 30 MoleculeACE ChEMBL tables (48,714 rows, kinases, GPCRs, proteases...)."""
    folder = _package_file("MoleculeACE", "Data", "benchmark_data")
    out: list[str] = []
    for path in sorted(folder.glob("CHEMBL*.csv")):
        out += pd.read_csv(path)["smiles"].astype(str).tolist()
    return out


@dataclass(frozen=True)
class SmilesReport:
    """Result of parsing a SMILES list: canonical SMILES of the valid ones and what was dropped."""

    canonical: list[str]
    kept_index: np.ndarray
    n_input: int
    n_invalid: int
    invalid_examples: list[str]

    def summary(self) -> dict:
        return {"n_input": self.n_input, "n_valid": len(self.canonical), "n_invalid": self.n_invalid,
                "invalid_examples": self.invalid_examples}


def canonicalize(smiles: list[str] | pd.Series) -> SmilesReport:
    """Canonicalise SMILES with RDKit; invalid or empty strings are counted and skipped, never raised."""
    canonical: list[str] = []
    kept: list[int] = []
    invalid: list[str] = []
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s) if isinstance(s, str) and s.strip() else None
        if mol is None:
            invalid.append(str(s))
            continue
        canonical.append(Chem.MolToSmiles(mol))
        kept.append(i)
    return SmilesReport(canonical, np.asarray(kept, dtype=np.int64), len(smiles), len(invalid), invalid[:5])


def read_smiles_file(path: str | Path, column: str | None = None) -> tuple[list[str], SmilesReport]:
    """Read SMILES from a CSV/TSV/parquet/plain-text file; returns (raw strings, validity report).

    Plain text: one SMILES per line (anything after whitespace ignored). Tables: ``column`` or the first column
    named ``smiles`` (any case).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"SMILES file {path} does not exist")
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith(".parquet"):
        frame = pd.read_parquet(path)
    elif suffixes.endswith((".csv", ".csv.gz", ".tsv")):
        frame = pd.read_csv(path, sep="\t" if ".tsv" in suffixes else ",")
    else:
        lines = [ln.split()[0] if ln.split() else "" for ln in path.read_text().splitlines()]
        frame = pd.DataFrame({"smiles": [ln for ln in lines if ln and not ln.startswith("#")]})
    if column is None:
        matches = [c for c in frame.columns if str(c).lower() == "smiles"]
        if not matches:
            raise ValueError(f"{path}: no 'smiles' column (columns: {list(frame.columns)}); pass the column name")
        column = matches[0]
    if column not in frame.columns:
        raise ValueError(f"{path}: column {column!r} not found (columns: {list(frame.columns)})")
    raw = [s if isinstance(s, str) else "" for s in frame[column].tolist()]
    return raw, canonicalize(raw)
