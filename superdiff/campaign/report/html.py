"""The campaign's one-page HTML summary: tables and static figures embedded as base64 PNG (works offline).

:func:`build_summary` reads the aggregated outputs of a campaign (any of them may be absent: a molecule-only
campaign has no protein tables) and :func:`render` turns them into one self-contained HTML document.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from superdiff.campaign.report import figures


@dataclass
class CampaignOutputs:
    """What the report draws from (paths or None)."""

    config: dict[str, Any]
    protein_designs: pd.DataFrame | None = None
    protein_summary: pd.DataFrame | None = None
    trajectories: pd.DataFrame | None = None
    molecules: pd.DataFrame | None = None
    molecule_metrics: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    ess: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def load_outputs(config_path: str | os.PathLike, *, protein_designs=None, protein_summary=None, trajectories=(),
                 molecules=None, molecule_metrics=None, provenance=None) -> CampaignOutputs:
    """Read whichever campaign outputs exist."""
    import yaml

    out = CampaignOutputs(config=yaml.safe_load(Path(config_path).read_text()))
    if protein_designs:
        out.protein_designs = pd.read_parquet(protein_designs)
        out.ess = shard_ess(out.protein_designs)
    if protein_summary:
        out.protein_summary = pd.read_csv(protein_summary)
    if trajectories:
        out.trajectories = pd.concat([pd.read_parquet(p) for p in trajectories], ignore_index=True)
    if molecules:
        out.molecules = pd.read_parquet(molecules)
    if molecule_metrics:
        out.molecule_metrics = json.loads(Path(molecule_metrics).read_text())
    if provenance:
        out.provenance = json.loads(Path(provenance).read_text())
    return out


def shard_ess(designs: pd.DataFrame) -> pd.DataFrame | None:
    """The ``ess.parquet`` files of the shard folders the designs came from (product runs), with ``method`` and
    ``shard`` columns; None when there are none. A shard folder is the folder of a design's ``pdb_path``."""
    if "pdb_path" not in designs.columns:
        return None
    folders = designs[["method", "pdb_path"]].dropna().assign(folder=lambda f: f["pdb_path"].map(
        lambda p: str(Path(p).parent)))
    frames = []
    for (method, folder), _ in folders.groupby(["method", "folder"], sort=False):
        path = Path(folder) / "ess.parquet"
        if path.is_file():
            frame = pd.read_parquet(path)
            frames.append(frame.assign(method=method, shard=Path(folder).name))
    return pd.concat(frames, ignore_index=True) if frames else None


def _resampling_settings(ess: pd.DataFrame) -> tuple[float | None, float | None]:
    """The product resampling the shards ran under, from their ESS records: ESS threshold (fraction of the
    population) and ``resample_until``; ``None`` where the records disagree or predate the columns."""
    def one(column: str) -> float | None:
        values = ess[column].dropna().unique() if column in ess else []
        return float(values[0]) if len(values) == 1 else None

    return one("ess_threshold"), one("resample_until")


def figure_png(fig) -> str:
    """A matplotlib figure as a base64 PNG data URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.3f}"
    return html.escape(str(v))


def table_html(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r[c])}</td>" for c in cols) + "</tr>" for _, r in frame.iterrows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def molecule_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """The paper-style table: one row per method with the composition scores and generation metrics."""
    rows = []
    for name, run in metrics.get("runs", {}).items():
        row = {"method": name, **run.get("composition", {})}
        for key in ("validity", "uniqueness", "novelty", "internal_diversity", "fcd_vs_moses_test", "snn_vs_moses_test",
                    "frag_vs_moses_test", "scaf_vs_moses_test"):
            if key in run:
                row[key] = run[key]
        rows.append(row)
    return pd.DataFrame(rows)


PROTEIN_COLUMNS = ["method", "operator", "n_designs", "lengths", "designable_fraction", "mean_min_sc_rmsd",
                   "novel_fraction_tm_lt_0_5", "novel_fraction_tm_lt_0_3", "mean_max_tm", "n_clusters",
                   "cluster_fraction", "mean_pairwise_tm", "mean_helix_fraction", "mean_strand_fraction",
                   "mean_coil_fraction", "ss_methods", "mpnn_models", "mean_mpnn_nll", "mean_geom_n_ca_ok",
                   "mean_geom_ca_c_ok", "mean_geom_c_n_ok", "mean_geom_ca_ca_ok", "clash_free_fraction",
                   "mean_kappa_final_0", "mean_kappa_final_1"]

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 7px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.note{background:#fff6dd;border-left:4px solid #e0a800;padding:.5em .8em;margin:.8em 0}
img{max-width:100%;display:block;margin:.5em 0}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
code{background:#f4f4f4;padding:0 3px}
"""


def _figure(fig, caption: str) -> str:
    if fig is None:
        return ""
    return f'<figure><img src="{figure_png(fig)}" alt="{html.escape(caption)}"><figcaption>' \
           f"{html.escape(caption)}</figcaption></figure>"


def render(outputs: CampaignOutputs) -> str:
    """The self-contained HTML page."""
    cfg = outputs.config
    title = (cfg.get("report") or {}).get("title") or f"superdiff campaign: {cfg.get('campaign')}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    if cfg.get("description"):
        parts.append(f"<p>{html.escape(cfg['description'])}</p>")
    parts.append(f"<p>Device: <code>{html.escape(str(cfg.get('device')))}</code>. Resolved config: "
                 "<code>config.resolved.yaml</code>; package versions: <code>provenance.json</code> "
                 "(both beside this page).</p>")
    prot = cfg.get("proteins") or {}
    if prot.get("enabled") and outputs.protein_summary is not None:
        parts.append("<h2>Proteins</h2>")
        models = prot.get("models", [])
        experts = ", ".join(f"<code>{html.escape(m)}</code> (expert {i})" for i, m in enumerate(models))
        n_seeds = prot.get("seeds", {}).get("count")
        parts.append(f"<p>Experts: {experts}; lengths {prot.get('lengths')}; {n_seeds} seeds per method and "
                     f"length; {prot.get('steps')} steps; sharpening w = {prot.get('sharpen', 1.0)} (the drift "
                     "follows w × the composed score; 1 samples the compositions exactly; methods may override "
                     "it: <code>methods.json</code>).</p>")
        refold = (prot.get("evaluation") or {}).get("refold") or {}
        if not refold.get("enabled"):
            parts.append(f"<div class='note'><b>Refolding is off.</b> {html.escape(refold.get('reason_off', ''))} "
                         "Designability columns are therefore empty; ProteinMPNN sequences, novelty, diversity and "
                         "secondary structure are computed on the sampled backbones themselves.</div>")
        parts.append(table_html(outputs.protein_summary, PROTEIN_COLUMNS))
        failed = [c for c in outputs.protein_summary.columns if c.endswith("_failed")]
        if failed and outputs.protein_summary[failed].to_numpy().sum() > 0:
            parts.append("<div class='note'>Some evaluations failed for some designs (e.g. chain breaks); counts "
                         "per method:" + table_html(outputs.protein_summary, ["method", *failed]) + "</div>")
        note = refold.get("reason_off") if not refold.get("enabled") else None
        parts.append(_figure(figures.protein_metrics(outputs.protein_summary, note),
                             "Per method: designable fraction (when refolded), fraction novel (max TM < 0.5 to the "
                             "reference set) and diversity (clusters per design at TM 0.5)."))
        d = outputs.protein_designs
        parts.append(_figure(figures.secondary_structure_bars(d), "Mean secondary structure per method (DSSP for "
                             "full N-CA-C-O backbones, P-SEA for Cα-only designs)."))
        parts.append(_figure(figures.helix_strand_scatter(d),
                             "Helix versus strand: per design, helix vs strand fraction coloured by method, marked by "
                             "the secondary-structure method (left), and the log density under each expert (right; "
                             "AND designs should sit near the diagonal)."))
        if outputs.ess is not None:
            threshold, until = _resampling_settings(outputs.ess)
            parts.append(_figure(figures.effective_sample_size(outputs.ess, threshold, until),
                                 "Effective sample size of the product runs' SMC populations per step (one line per "
                                 "shard and batch), as a fraction of the population; a population is resampled "
                                 "when it falls below the dashed threshold."))
        parts.append(_figure(figures.novelty_histogram(d), "Novelty: max TM-score of each design to the "
                             "reference set."))
        if outputs.trajectories is not None:
            parts.append(_figure(figures.trajectories(outputs.trajectories, models),
                                 "Kappa (weight of each expert in the combined score) and each expert's log density "
                                 "along the reverse path, mean over the traced designs of each method."))
        pics = int((cfg.get("report") or {}).get("structure_pictures", 4))
        parts.append(_figure(figures.structure_gallery(d, pics), "Cα traces of sample designs (N blue to C red)."))
    mol = cfg.get("molecules") or {}
    if mol.get("enabled") and outputs.molecule_metrics is not None:
        parts.append("<h2>Molecules</h2>")
        parts.append(f"<p>Conditions: {', '.join(html.escape(c) for c in mol.get('conditions', []))}; "
                     f"{mol.get('seeds', {}).get('count')} molecules per method; guidance w = {mol.get('guidance')}; "
                     f"{mol.get('steps')} steps. Scores: activity-forest probabilities and QED (invalid = 0); "
                     "<i>mean_product</i> and <i>fraction_satisfying_all</i> are the paper's AND measures.</p>")
        parts.append(table_html(molecule_table(outputs.molecule_metrics)))
        parts.append(_figure(figures.molecule_properties(outputs.molecules),
                             "Property distributions of the valid molecules per method."))
    if outputs.provenance:
        versions = outputs.provenance.get("versions", {})
        parts.append("<h2>Provenance</h2><p>" + ", ".join(
            f"{html.escape(k)} {html.escape(str(v))}" for k, v in versions.items() if v) + "</p>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)
