"""Protein campaign aggregation: shard folders -> one folder per method -> one row per design -> one row per method.

A shard folder is ``<root>/shards/<method>/L<length>/seeds<first>-<stop>/`` (the layout of
``workflow/rules/proteins.smk``) holding the PDBs and ``designs.parquet`` of ``superdiff sample-backbones``.
:func:`gather_designs` copies one method's shards into its method folder ``<root>/methods/<method>/`` (``pdbs/``
and ``designs.parquet``, one row per design). Every evaluation runs once per method on that folder and writes its
table beside it, keyed by ``design_id``: ``sequences.parquet`` (inverse-fold), ``self_consistency.parquet``,
``novelty.parquet``, ``secondary_structure.parquet``, ``diversity.parquet``. Design ids are global within a method
(``len<L>_<index>``: designs are numbered across shards), so a design's id, seed and evaluation never depend on the
shard it ran in; ``design_key = s<first>_<design_id>`` also names the shard.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

SHARD_PATTERN = re.compile(r"(?P<method>[a-z][a-z0-9_]*)/L(?P<length>\d+)/seeds(?P<first>\d+)-(?P<stop>\d+)/?$")

#: columns taken from each evaluation table (those present are kept).
NOVELTY_COLUMNS = ("max_tm", "best_reference", "novel_tm_lt_0_5", "novel_tm_lt_0_3")
SSE_COLUMNS = ("helix_fraction", "strand_fraction", "coil_fraction", "ss_states", "ss_method")
#: backbone geometry checks, in the secondary-structure table (superdiff.proteins.quality.backbone_geometry)
GEOMETRY_COLUMNS = ("geom_n_ca_ok", "geom_ca_c_ok", "geom_c_n_ok", "geom_ca_ca_ok", "geom_n_clashes",
                    "geom_min_distance", "geom_clash_free", "geom_full_backbone")
SC_COLUMNS = ("min_sc_rmsd", "max_sc_tm", "plddt_at_min_rmsd", "max_plddt", "designable", "designable_reason",
              "n_unique_sequences", "best_native_recovery", "mpnn_model")
DIVERSITY_COLUMNS = ("cluster", "mean_tm_to_others")


def parse_shard(path: str | os.PathLike) -> dict[str, object]:
    """``.../and/L50/seeds0-4`` -> ``{"method": "and", "length": 50, "first": 0, "stop": 4}``."""
    match = SHARD_PATTERN.search(Path(path).as_posix())
    if match is None:
        raise ValueError(f"{path} is not a shard folder <method>/L<length>/seeds<first>-<stop>")
    d = match.groupdict()
    return {"method": d["method"], "length": int(d["length"]), "first": int(d["first"]), "stop": int(d["stop"])}


def design_key(first: int, design_id: str) -> str:
    return f"s{first:04d}_{design_id}"


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "ok"] if "status" in frame.columns else frame


def _read_optional(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.is_file() else None


def sequences_per_design(frame: pd.DataFrame) -> pd.DataFrame:
    """Inverse-fold rows (one per sequence) -> one row per design: counts, mean NLL, best recovery."""
    ok = _ok(frame)
    if ok.empty:
        return pd.DataFrame(columns=["design_id"])
    grouped = ok.groupby("design_id", sort=False)
    out = pd.DataFrame({
        "n_sequences": grouped["sequence"].size(),
        "n_unique_sequences": grouped["sequence"].nunique(),
        "mean_mpnn_nll": grouped["mpnn_nll"].mean(),
        "best_native_recovery": grouped["native_recovery"].max(),
        "first_sequence": grouped["sequence"].first(),
    })
    if "mpnn_model" in ok.columns:  # which ProteinMPNN designed them (CA-only or vanilla)
        out["mpnn_model"] = grouped["mpnn_model"].first()
    return out.reset_index()


def shard_frame(shard_dir: str | os.PathLike) -> pd.DataFrame:
    """One shard's designs: ``method, design_key, design_id, <sampler columns>, shard, pdb_path``."""
    shard_dir = Path(shard_dir)
    info = parse_shard(shard_dir)
    designs = pd.read_parquet(shard_dir / "designs.parquet")
    designs = designs.rename(columns={"method": "operator"})
    designs.insert(0, "design_key", [design_key(info["first"], d) for d in designs["design_id"]])
    designs.insert(0, "method", info["method"])
    designs["shard"] = f"seeds{info['first']}-{info['stop']}"
    designs["pdb_path"] = [str(shard_dir / p) for p in designs["pdb"]]
    return designs


def gather_designs(shard_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike) -> pd.DataFrame:
    """Copy the PDBs of one method's shards into ``out_dir`` and return its designs table (in shard order).

    The evaluation commands then read the method in one go (``--designs-dir out_dir --designs <table>``).

    Raises:
        ValueError: no shards, or two designs with one id (shards that overlap).
    """
    from superdiff.files.atomic import atomic_path

    if not shard_dirs:
        raise ValueError("no designs to gather")
    frame = pd.concat([shard_frame(s) for s in shard_dirs], ignore_index=True, sort=False)
    duplicated = frame["design_id"][frame["design_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"design ids {sorted(set(duplicated))[:5]} occur in more than one shard")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for source, pdb in zip(frame["pdb_path"], frame["pdb"], strict=True):
        with atomic_path(out_dir / pdb) as tmp:
            shutil.copyfile(source, tmp)
    return frame


def gather_traces(shard_dirs: Sequence[str | os.PathLike], method: str) -> pd.DataFrame:
    """The report's κ and log-density paths of one method: the traces the sampling shards kept (each shard's first
    designs, :data:`~superdiff.proteins.sampling.TRACED_DESIGNS`), of the shortest length's first designs, with a
    ``method`` column."""
    from superdiff.proteins.shard_files import TRACED_DESIGNS, TRACES

    traces = pd.concat([pd.read_parquet(Path(s) / TRACES) for s in shard_dirs], ignore_index=True)
    traces = traces[traces["length"] == traces["length"].min()]
    first = sorted(traces["design"].unique())[:TRACED_DESIGNS]
    traces = traces[traces["design"].isin(first)].reset_index(drop=True)
    traces.insert(0, "method", method)
    return traces


#: evaluation tables of a method folder, and the columns each contributes (those present are kept)
EVALUATIONS = (("self_consistency", SC_COLUMNS), ("novelty", NOVELTY_COLUMNS),
               ("secondary_structure", SSE_COLUMNS + GEOMETRY_COLUMNS))


def method_designs(method_dir: str | os.PathLike) -> pd.DataFrame:
    """One method's designs (``designs.parquet`` of its folder) joined with every evaluation table present there."""
    method_dir = Path(method_dir)
    designs = pd.read_parquet(method_dir / "designs.parquet")
    for name, columns in EVALUATIONS:
        table = _read_optional(method_dir / f"{name}.parquet")
        if table is None:
            continue
        keep = ["design_id", *[c for c in columns if c in table.columns and c not in designs.columns]]
        designs = designs.merge(_ok(table)[keep], on="design_id", how="left")
        designs = designs.merge(_status(table, name), on="design_id", how="left")
    sequences = _read_optional(method_dir / "sequences.parquet")
    if sequences is not None:
        per = sequences_per_design(sequences)
        keep = ["design_id", *[c for c in per.columns if c != "design_id" and c not in designs.columns]]
        designs = designs.merge(per[keep], on="design_id", how="left")
        designs = designs.merge(_status(sequences, "inverse_fold"), on="design_id", how="left")
    diversity = _read_optional(method_dir / "diversity.parquet")
    if diversity is not None:
        keep = ["design_id", *[c for c in DIVERSITY_COLUMNS if c in diversity.columns]]
        designs = designs.merge(_ok(diversity)[keep], on="design_id", how="left")
    return designs


def _status(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """``design_id, <name>_status, <name>_reason``: one row per design (a failure reason kept, if any)."""
    if "status" not in table.columns:
        return pd.DataFrame({"design_id": table["design_id"].unique(), f"{name}_status": "ok",
                             f"{name}_reason": ""})
    reason = table["reason"] if "reason" in table.columns else ""
    frame = pd.DataFrame({"design_id": table["design_id"], f"{name}_status": table["status"],
                          f"{name}_reason": reason})
    return frame.drop_duplicates("design_id")


def campaign_designs(method_dirs: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Every design of the campaign, one row each, with its evaluations (methods in the given order)."""
    if not method_dirs:
        raise ValueError("no method folders given")
    return pd.concat([method_designs(d) for d in method_dirs], ignore_index=True, sort=False)


def _mean(frame: pd.DataFrame, column: str) -> float:
    if column not in frame.columns:
        return math.nan
    values = pd.to_numeric(frame[column], errors="coerce").dropna()
    return float(values.mean()) if len(values) else math.nan


def _fraction_true(frame: pd.DataFrame, column: str) -> float:
    if column not in frame.columns:
        return math.nan
    values = frame[column].dropna()
    return float(values.astype(bool).mean()) if len(values) else math.nan


def method_summary(designs: pd.DataFrame, diversity_summaries: Mapping[str, str | os.PathLike] | None = None,
                   refold_note: str | None = None) -> pd.DataFrame:
    """One row per method: designability, novelty, diversity, secondary structure, sampler diagnostics.

    ``diversity_summaries`` maps a method to its ``diversity.summary.json`` (a missing file leaves NaN).
    Fractions are over the designs whose evaluation succeeded; ``<step>_failed`` counts the others.
    ``designable_fraction`` is NaN when nothing was refolded; ``designability_note`` then says why.
    """
    rows = []
    for method, group in designs.groupby("method", sort=False):
        row: dict[str, object] = {"method": method, "operator": group["operator"].iloc[0],
                                  "n_designs": len(group),
                                  "lengths": ",".join(str(v) for v in sorted(group["length"].unique()))}
        row["designable_fraction"] = _fraction_true(group, "designable")
        row["mean_min_sc_rmsd"] = _mean(group, "min_sc_rmsd")
        row["designability_note"] = (refold_note or "") if math.isnan(row["designable_fraction"]) else ""
        for name in ("self_consistency", "inverse_fold", "novelty", "secondary_structure"):
            col = f"{name}_status"
            if col in group.columns:
                row[f"{name}_failed"] = int((group[col].fillna("missing") != "ok").sum())
        row["novel_fraction_tm_lt_0_5"] = _fraction_true(group, "novel_tm_lt_0_5")
        row["novel_fraction_tm_lt_0_3"] = _fraction_true(group, "novel_tm_lt_0_3")
        row["mean_max_tm"] = _mean(group, "max_tm")
        for col in ("helix_fraction", "strand_fraction", "coil_fraction", "mean_mpnn_nll", "best_native_recovery"):
            row[f"mean_{col}" if not col.startswith("mean_") else col] = _mean(group, col)
        row.update(_geometry_summary(group))
        div_path = (diversity_summaries or {}).get(str(method))
        if div_path is not None and Path(div_path).is_file():
            div = json.loads(Path(div_path).read_text())
            row.update(n_clusters=div.get("n_clusters"), cluster_fraction=div.get("cluster_fraction"),
                       mean_pairwise_tm=div.get("mean_pairwise_tm"))
        else:
            row.update(n_clusters=np.nan, cluster_fraction=np.nan, mean_pairwise_tm=np.nan)
        for col in sorted(c for c in group.columns if c.startswith(("kappa_final_", "log_q_"))):
            row[f"mean_{col}"] = _mean(group, col)
        rows.append(row)
    return pd.DataFrame(rows)


def _counts(frame: pd.DataFrame, column: str) -> str:
    """``"dssp:3,psea:1"``: how many designs took each value of ``column`` ('' when absent)."""
    if column not in frame.columns:
        return ""
    counts = frame[column].dropna().astype(str).value_counts()
    return ",".join(f"{k}:{v}" for k, v in sorted(counts.items()))


def _geometry_summary(group: pd.DataFrame) -> dict[str, object]:
    """Per method: the mean of each geometry check, the clash-free fraction, and which SS method / MPNN ran."""
    row: dict[str, object] = {f"mean_{c}": _mean(group, c) for c in GEOMETRY_COLUMNS
                              if c.endswith("_ok") or c == "geom_n_clashes"}
    row["clash_free_fraction"] = _fraction_true(group, "geom_clash_free")
    row["full_backbone_fraction"] = _fraction_true(group, "geom_full_backbone")
    row["ss_methods"] = _counts(group, "ss_method")
    row["mpnn_models"] = _counts(group, "mpnn_model")
    return row
