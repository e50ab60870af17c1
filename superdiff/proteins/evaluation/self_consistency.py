"""Self-consistency (designability): ProteinMPNN sequences for a backbone, refolded, compared with the backbone.

For design backbone ``x`` (``[L, 3]`` Cα, Å) and refolded structure ``y_j`` of sequence ``j``:

- scRMSD_j = Cα RMSD after optimal superposition (Kabsch), Å;
- scTM_j = TM-align score of ``x`` against ``y_j`` normalised by ``L``;
- pLDDT_j = mean predicted pLDDT (0–100).

A design is designable when some sequence passes its preset's rule (:mod:`superdiff.proteins.evaluation.presets`). With
folding off, designability is NA and the row says why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from superdiff.engine.seeds import derive_seed, name_entropy
from superdiff.proteins.evaluation.folding import Folder, FoldResult, NoFolding
from superdiff.proteins.evaluation.inputs import DesignInput
from superdiff.proteins.evaluation.inverse_folding import (
    DesignedSequence,
    design_sequences,
    load_mpnn,
    resolve_variant,
    unique_sequences,
)
from superdiff.proteins.evaluation.presets import DesignabilityPreset
from superdiff.proteins.evaluation.superposition import superposed_rmsd
from superdiff.proteins.evaluation.tmalign import tm_align

NAN = float("nan")


def design_seed(base_seed: int, design_id: str) -> int:
    """A design's own seed from the job seed and its id: independent of the batch or the order of designs."""
    return derive_seed(base_seed, name_entropy(design_id))


def safe_name(text: str) -> str:
    """``text`` with every character outside ``[A-Za-z0-9_.-]`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text) or "_"


@dataclass(frozen=True)
class Consistency:
    """scRMSD (Å), scTM and pLDDT (0–100) of one refolded sequence."""

    sc_rmsd: float
    sc_tm: float
    plddt: float


def consistency(design_ca: np.ndarray, predicted: FoldResult) -> Consistency:
    """Compare a design's Cα trace ``[L, 3]`` with the prediction for one of its sequences.

    Raises:
        ValueError: lengths differ.
    """
    design_ca = np.asarray(design_ca, dtype=np.float64)
    if len(design_ca) != len(predicted.ca):
        raise ValueError(f"design has {len(design_ca)} residues but the prediction has {len(predicted.ca)}")
    rmsd = superposed_rmsd(predicted.ca, design_ca)
    tm = tm_align(design_ca, predicted.ca, None, predicted.sequence).tm_1
    return Consistency(rmsd, tm, predicted.mean_plddt)


def design_failure_row(design: DesignInput, reason: str, preset: DesignabilityPreset) -> dict[str, Any]:
    return {
        "design_id": design.design_id, "path": design.path, "length": len(design.backbone) if design.ok else 0,
        "status": "failed", "reason": reason, "preset": preset.name, "designable": None,
        "designable_reason": f"evaluation failed: {reason}",
    }


def inverse_fold(
    design: DesignInput, preset: DesignabilityPreset, base_seed: int = 0, device: str = "cpu"
) -> tuple[list[DesignedSequence], dict[str, Any]]:
    """ProteinMPNN sequences for one design under ``preset``; returns them and the model's description."""
    assert design.backbone is not None
    variant = resolve_variant(preset.mpnn_variant, design.backbone)
    model = load_mpnn(variant, preset.mpnn_weights, device)
    seed = design_seed(base_seed, design.design_id)
    designed = design_sequences(model, design.backbone, preset.n_sequences, preset.temperature, seed)
    return designed, {**model.describe(), "mpnn_variant": variant, "seed": seed}


def evaluate_design(
    design: DesignInput,
    preset: DesignabilityPreset,
    folder: Folder,
    fold_dir: str | Path,
    base_seed: int = 0,
    device: str = "cpu",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Self-consistency of one design: its summary row and one row per ProteinMPNN sequence.

    Never raises for a bad design: problems become a ``status = "failed"`` row with a ``reason``.
    """
    if not design.ok:
        return design_failure_row(design, design.reason, preset), []
    backbone = design.backbone
    try:
        designed, model_info = inverse_fold(design, preset, base_seed, device)
    except Exception as err:
        return design_failure_row(design, f"inverse folding failed ({type(err).__name__}: {err})", preset), []
    first = unique_sequences(designed)
    names = {seq: f"{safe_name(design.design_id)}_seq{index}" for seq, index in first.items()}
    folded: dict[str, FoldResult] = {}
    fold_error = ""
    refolding = not isinstance(folder, NoFolding)
    if refolding:
        try:
            folded = folder.fold({name: seq for seq, name in names.items()}, fold_dir)
        except Exception as err:
            fold_error = f"refolding failed ({type(err).__name__}: {err})"
    seq_rows = []
    for d in designed:
        name = names[d.sequence]
        row = {
            "design_id": design.design_id, "preset": preset.name, "seq_index": d.index, "sequence": d.sequence,
            "duplicate_of": first[d.sequence] if first[d.sequence] != d.index else None,
            "mpnn_nll": d.nll, "native_recovery": d.recovery, "fold_name": name if refolding else None,
            "fold_pdb": None, "sc_rmsd": NAN, "sc_tm": NAN, "plddt": NAN, "passes": None,
        }
        if name in folded and not fold_error:
            try:
                score = consistency(backbone.ca, folded[name])
                row.update(fold_pdb=folded[name].pdb_path, sc_rmsd=score.sc_rmsd, sc_tm=score.sc_tm,
                           plddt=score.plddt, passes=preset.passes(score.sc_rmsd, score.plddt))
            except Exception as err:
                fold_error = f"scoring the prediction failed ({type(err).__name__}: {err})"
        seq_rows.append(row)

    rmsd = np.array([r["sc_rmsd"] for r in seq_rows])
    tms = np.array([r["sc_tm"] for r in seq_rows])
    summary: dict[str, Any] = {
        "design_id": design.design_id, "path": design.path, "length": len(backbone), "status": "ok", "reason": "",
        "preset": preset.name, "n_sequences": len(designed), "n_unique_sequences": len(first), **model_info,
        "min_sc_rmsd": NAN, "max_sc_tm": NAN, "plddt_at_min_rmsd": NAN, "max_plddt": NAN,
        "best_native_recovery": _nanmax([d.recovery for d in designed]), "designable": None, "designable_reason": "",
    }
    if refolding and not fold_error and np.isnan(rmsd).all():
        fold_error = "refolding returned no prediction for this design's sequences"
    if not refolding:
        summary["designable_reason"] = NoFolding.reason
    elif fold_error:
        summary.update(status="failed", reason=fold_error, designable_reason=fold_error)
    else:
        best = int(np.nanargmin(rmsd))
        summary.update(
            min_sc_rmsd=float(rmsd[best]), max_sc_tm=float(np.nanmax(tms)),
            plddt_at_min_rmsd=float(seq_rows[best]["plddt"]),
            max_plddt=float(np.nanmax([r["plddt"] for r in seq_rows])),
            designable=any(bool(r["passes"]) for r in seq_rows), designable_reason=preset.rule(),
        )
    return summary, seq_rows


def self_consistency(
    designs: list[DesignInput],
    preset: DesignabilityPreset,
    folder: Folder,
    fold_dir: str | Path,
    base_seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
    on_design: Callable[[dict[str, Any], list[dict[str, Any]]], None] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Evaluate many designs; returns (design rows, sequence rows). ``on_design`` is called after each design."""
    from tqdm.auto import tqdm

    design_rows, sequence_rows = [], []
    for design in tqdm(designs, desc="self-consistency", disable=not progress):
        summary, rows = evaluate_design(design, preset, folder, fold_dir, base_seed, device)
        design_rows.append(summary)
        sequence_rows.extend(rows)
        if on_design is not None:
            on_design(summary, rows)
    return design_rows, sequence_rows


def _nanmax(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return max(finite) if finite else NAN


def designability_fraction(design_rows: list[dict[str, Any]]) -> float:
    """Fraction of evaluated designs that are designable (NaN when designability is NA for all)."""
    values = [r["designable"] for r in design_rows if r.get("designable") is not None]
    return float(np.mean(values)) if values else math.nan
