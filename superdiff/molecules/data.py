"""Offline molecule data: MOSES SMILES (PyPI ``molsets``) and ChEMBL activities (PyPI ``MoleculeACE``).

Both packages ship their data as files; we read them with ``importlib.resources`` and never import ``moses``
(its ``__init__`` is broken with current RDKit). Invalid SMILES in any input are counted, never fatal; an input
file with no molecules at all (empty, or a header without rows) is an error naming the file. SMILES with several
fragments (salts such as ``CCN.Cl``, mixtures) are counted and reported (``n_multi_fragment``); the predictors
score their largest fragment (:meth:`superdiff.molecules.predictors.PropertyPredictor.score_smiles`).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import sys
from dataclasses import dataclass, field
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
    n_multi_fragment: int = 0
    multi_fragment_examples: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"n_input": self.n_input, "n_valid": len(self.canonical), "n_invalid": self.n_invalid,
                "invalid_examples": self.invalid_examples, "n_multi_fragment": self.n_multi_fragment,
                "multi_fragment_examples": self.multi_fragment_examples}


def largest_fragment(mol: Chem.Mol) -> tuple[Chem.Mol, int]:
    """``(largest fragment, number of fragments)`` of a molecule: most heavy atoms, ties broken by canonical SMILES
    (so the choice never depends on the order the fragments were written in)."""
    fragments = Chem.GetMolFrags(mol, asMols=True)
    if len(fragments) <= 1:
        return mol, len(fragments)
    best = max(fragments, key=lambda f: (f.GetNumHeavyAtoms(), f.GetNumAtoms(), Chem.MolToSmiles(f)))
    return best, len(fragments)


def canonicalize(smiles: list[str] | pd.Series) -> SmilesReport:
    """Canonicalise SMILES with RDKit; invalid or empty strings are counted and skipped, never raised."""
    canonical: list[str] = []
    kept: list[int] = []
    invalid: list[str] = []
    multi: list[str] = []
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s) if isinstance(s, str) and s.strip() else None
        if mol is None:
            invalid.append(str(s))
            continue
        if len(Chem.GetMolFrags(mol)) > 1:
            multi.append(s)
        canonical.append(Chem.MolToSmiles(mol))
        kept.append(i)
    return SmilesReport(canonical, np.asarray(kept, dtype=np.int64), len(smiles), len(invalid), invalid[:5],
                        len(multi), multi[:5])


def read_smiles_file(path: str | Path, column: str | None = None, warn: bool = True) -> tuple[list[str], SmilesReport]:
    """Read SMILES from a CSV/TSV/parquet/plain-text file; returns (raw strings, validity report).

    Plain text: one SMILES per line (anything after whitespace ignored). Tables: ``column`` or the first column
    named ``smiles`` (any case). With ``warn``, SMILES with several fragments are reported in one line on stderr.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an empty or unreadable file, no SMILES column, or no rows (a header alone is not an input).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"SMILES file {path} does not exist")
    expected = ("expected a CSV/TSV/parquet table with a 'smiles' column (or --column) and one molecule per row, "
                "or a text file with one SMILES per line")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file; {expected}")
    frame = _read_table(path, expected)
    if column is None:
        matches = [c for c in frame.columns if str(c).lower() == "smiles"]
        if not matches:
            raise ValueError(f"{path}: no 'smiles' column (columns: {list(frame.columns)}); pass the column name")
        column = matches[0]
    if column not in frame.columns:
        raise ValueError(f"{path}: column {column!r} not found (columns: {list(frame.columns)})")
    if len(frame) == 0:
        raise ValueError(f"{path}: no molecules (a header with columns {list(frame.columns)} and 0 rows); "
                         f"expected one SMILES per row in column {column!r}")
    raw = [s if isinstance(s, str) else "" for s in frame[column].tolist()]
    report = canonicalize(raw)
    if warn and report.n_multi_fragment:
        print(f"warning: {path}: {report.n_multi_fragment} of {report.n_input} SMILES have several fragments "
              f"(salts or mixtures, e.g. {report.multi_fragment_examples[:3]}); each is scored on its largest "
              "fragment (column n_fragments)", file=sys.stderr)
    return raw, report


def _read_table(path: Path, expected: str) -> pd.DataFrame:
    """The file as a frame (a ``smiles`` column for plain text); unreadable files become a ValueError naming it."""
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith(".parquet"):
            return pd.read_parquet(path)
        if suffixes.endswith((".csv", ".csv.gz", ".tsv")):
            return pd.read_csv(path, sep="\t" if ".tsv" in suffixes else ",")
        lines = [ln.split()[0] if ln.split() else "" for ln in path.read_text().splitlines()]
    except pd.errors.EmptyDataError as err:
        raise ValueError(f"{path}: empty file (no header, no rows); {expected}") from err
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{path}: cannot read ({type(err).__name__}: {reason}); {expected}") from err
    smiles = [ln for ln in lines if ln and not ln.startswith("#")]
    if not smiles:
        raise ValueError(f"{path}: no SMILES lines (only blank or # comment lines); {expected}")
    return pd.DataFrame({"smiles": smiles})
