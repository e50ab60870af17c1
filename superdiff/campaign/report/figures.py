"""Static matplotlib figures of a campaign (Agg backend; each function returns a Figure or None if no data).

Everything is drawn from the aggregated tables, so the report never recomputes science: per-method protein
metrics, secondary structure, the helix-versus-strand scatters (marked by the secondary-structure method), the
effective sample size of product runs, kappa and log-density trajectories, Cα traces of sample designs, and
molecule property distributions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def _has(frame: pd.DataFrame | None, *columns: str) -> bool:
    return frame is not None and len(frame) > 0 and all(
        c in frame.columns and frame[c].notna().any() for c in columns)


def protein_metrics(summary: pd.DataFrame, refold_note: str | None = None) -> Figure | None:
    """Grouped bars per method: designable fraction (if refolded), novelty (< 0.5), cluster fraction."""
    metrics = [("designable_fraction", "designable"), ("novel_fraction_tm_lt_0_5", "novel (max TM < 0.5)"),
               ("cluster_fraction", "clusters / designs")]
    metrics = [(c, label) for c, label in metrics if _has(summary, c)]
    if not metrics:
        return None
    methods = list(summary["method"])
    x = np.arange(len(methods))
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(1.2 * len(methods) + 3, 3.6))
    for k, (col, label) in enumerate(metrics):
        values = pd.to_numeric(summary[col], errors="coerce").to_numpy()
        ax.bar(x + (k - (len(metrics) - 1) / 2) * width, values, width, label=label, color=_color(k))
    ax.set_xticks(x, methods)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction of designs")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    if refold_note and "designable_fraction" not in [c for c, _ in metrics]:
        ax.set_title("designability not computed (refolding off)", fontsize=9)
    fig.tight_layout()
    return fig


def secondary_structure_bars(designs: pd.DataFrame) -> Figure | None:
    """Stacked mean helix / strand / coil fractions per method."""
    if not _has(designs, "helix_fraction", "strand_fraction"):
        return None
    means = designs.groupby("method", sort=False)[["helix_fraction", "strand_fraction", "coil_fraction"]].mean()
    fig, ax = plt.subplots(figsize=(1.1 * len(means) + 2.5, 3.4))
    bottom = np.zeros(len(means))
    for k, col in enumerate(means.columns):
        ax.bar(means.index, means[col].to_numpy(), bottom=bottom, label=col.removesuffix("_fraction"),
               color=_color(k))
        bottom += np.nan_to_num(means[col].to_numpy())
    used = sorted(designs["ss_method"].dropna().astype(str).unique()) if "ss_method" in designs.columns else []
    ax.set_ylabel(f"mean fraction of residues ({' / '.join(SS_METHOD_NAMES.get(m, m) for m in used) or 'P-SEA'})")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig


def helix_strand_scatter(designs: pd.DataFrame) -> Figure | None:
    """Per design: helix vs strand fraction (left) and log density under expert 0 vs expert 1 (right)."""
    panels = []
    if _has(designs, "helix_fraction", "strand_fraction"):
        panels.append(("helix_fraction", "strand_fraction", "helix fraction", "strand fraction"))
    if _has(designs, "log_q_0", "log_q_1"):
        panels.append(("log_q_0", "log_q_1", "log q (expert 0) [nats]", "log q (expert 1) [nats]"))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels) + 1.2, 3.8), squeeze=False)
    for ax, (xc, yc, xl, yl) in zip(axes[0], panels, strict=True):
        for k, (method, group) in enumerate(designs.groupby("method", sort=False)):
            for ss_method, sub in _by_ss_method(group, xc):
                label = method if ss_method is None else f"{method} ({SS_METHOD_NAMES.get(ss_method, ss_method)})"
                ax.scatter(sub[xc], sub[yc], s=14, alpha=0.75, label=label, color=_color(k),
                           marker=SS_MARKERS.get(ss_method, "o"))
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        if xc.startswith("log_q"):
            lo = np.nanmin(designs[[xc, yc]].to_numpy())
            hi = np.nanmax(designs[[xc, yc]].to_numpy())
            ax.plot([lo, hi], [lo, hi], color="0.6", lw=0.8, ls="--")
    axes[0][-1].legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig


SS_METHOD_NAMES = {"dssp": "DSSP", "psea": "P-SEA"}
SS_MARKERS = {"dssp": "o", "psea": "^"}


def _by_ss_method(group: pd.DataFrame, column: str):
    """``(ss_method, rows)`` pairs for the secondary-structure panel (one pair of None and all rows otherwise)."""
    if column != "helix_fraction" or "ss_method" not in group.columns or group["ss_method"].isna().all():
        return [(None, group)]
    return [(str(m), sub) for m, sub in group.groupby("ss_method", sort=True)]


def effective_sample_size(ess: pd.DataFrame | None, threshold: float | None = None,
                          until: float | None = None) -> Figure | None:
    """ESS / population size against time for product runs: one panel per method, one line per shard and batch.

    ``ess`` has the columns of the samplers' ``ess.parquet`` (``t``, ``ess``, ``size``, ``length``,
    ``population``) plus ``method`` and ``shard``. ``threshold`` (a fraction of the population) is drawn as a
    horizontal line: a population is resampled when its ESS falls below it; ``until`` marks the time below which
    it is no longer resampled.
    """
    if not _has(ess, "t", "ess", "size"):
        return None
    methods = list(dict.fromkeys(ess["method"]))
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods) + 1.4, 3.4), squeeze=False, sharey=True)
    for ax, method in zip(axes[0], methods, strict=True):
        sub = ess[ess["method"] == method]
        columns = [c for c in ("shard", "length", "population") if c in sub.columns]
        runs = list(sub.groupby(columns, sort=True))
        for k, (key, run) in enumerate(runs):
            run = run.sort_values("t", ascending=False)
            names = dict(zip(columns, key if isinstance(key, tuple) else (key,), strict=True))
            label = " ".join([str(names.get("shard", "")), *([f"L{names['length']}"] if "length" in names else []),
                              *([f"batch from design {names['population']}"] if "population" in names else [])]).strip()
            if len(runs) > 8:  # too many for a legend: one entry says what the lines are
                label = f"{len(runs)} batches (one line each)" if k == 0 else None
            ax.plot(run["t"], run["ess"] / run["size"], lw=1.0, alpha=0.8, color=_color(k), label=label)
        if threshold is not None:
            ax.axhline(threshold, color="0.3", ls="--", lw=0.9, label=f"resampling threshold ({threshold:g} B)")
        if until:
            ax.axvline(until, color="0.6", ls=":", lw=0.9, label=f"no resampling below t = {until:g}")
        ax.set_title(str(method), fontsize=10)
        ax.set_xlabel("t (forward time)")
        ax.set_xlim(float(sub["t"].max()), float(sub["t"].min()))  # sampling runs from t = 1 to t_min
    axes[0][0].set_ylabel("ESS / population size")
    axes[0][0].set_ylim(0, 1.05)
    axes[0][-1].legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig


def novelty_histogram(designs: pd.DataFrame) -> Figure | None:
    if not _has(designs, "max_tm"):
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    bins = np.linspace(0, 1, 21)
    for k, (method, group) in enumerate(designs.groupby("method", sort=False)):
        ax.hist(group["max_tm"].dropna(), bins=bins, histtype="step", lw=1.5, label=method, color=_color(k))
    ax.axvline(0.5, color="0.5", ls="--", lw=0.8)
    ax.set_xlabel("max TM-score to the reference set")
    ax.set_ylabel("designs")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def trajectories(traj: pd.DataFrame, model_names: Sequence[str]) -> Figure | None:
    """kappa of each expert (top) and log densities (bottom) against time, mean over traced designs per method."""
    if traj is None or traj.empty:
        return None
    methods = list(dict.fromkeys(traj["method"]))
    fig, axes = plt.subplots(2, len(methods), figsize=(3.0 * len(methods) + 1, 5.2), squeeze=False, sharex=True)
    for j, method in enumerate(methods):
        sub = traj[traj["method"] == method]
        for m, name in enumerate(model_names):
            s = sub[sub["model"] == m].groupby("t")[["kappa", "log_q"]].mean().sort_index(ascending=False)
            axes[0][j].plot(s.index, s["kappa"], color=_color(m), label=name)
            axes[1][j].plot(s.index, s["log_q"], color=_color(m), label=name)
        axes[0][j].set_title(method, fontsize=10)
        k = sub["kappa"].dropna()
        if len(k) and k.min() >= 0 and k.max() <= 1:  # AND's kappa may leave [0, 1]: then scale to the data
            axes[0][j].set_ylim(-0.05, 1.05)
        axes[1][j].set_xlabel("t (forward time)")
    axes[0][0].invert_xaxis()  # shared x: sampling runs from t = 1 (left) to t_min (right)
    axes[0][0].set_ylabel("kappa")
    axes[1][0].set_ylabel("log q [nats]")
    axes[0][-1].legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig


def _read_ca(path: str) -> np.ndarray | None:
    from superdiff.proteins.structure import read_backbone

    try:
        return np.asarray(read_backbone(path).ca, dtype=float)
    except Exception:
        return None


def structure_gallery(designs: pd.DataFrame, per_method: int) -> Figure | None:
    """Cα traces of the first ``per_method`` designs of each method, coloured N (blue) to C (red)."""
    if per_method <= 0 or not _has(designs, "pdb_path"):
        return None
    methods = list(dict.fromkeys(designs["method"]))
    fig = plt.figure(figsize=(2.2 * per_method + 0.5, 2.3 * len(methods)))
    for i, method in enumerate(methods):
        rows = designs[designs["method"] == method].head(per_method)
        for j, (_, row) in enumerate(rows.iterrows()):
            ax = fig.add_subplot(len(methods), per_method, i * per_method + j + 1, projection="3d")
            ca = _read_ca(row["pdb_path"])
            if ca is not None:
                ca = ca - ca.mean(0)
                colors = plt.cm.coolwarm(np.linspace(0, 1, len(ca)))
                for k in range(len(ca) - 1):
                    ax.plot(*ca[k:k + 2].T, color=colors[k], lw=1.6)
                span = float(np.abs(ca).max()) or 1.0
                ax.set_xlim(-span, span), ax.set_ylim(-span, span), ax.set_zlim(-span, span)
            label = f"{method}\n{row['design_key']}"
            if "helix_fraction" in row and not _isnan(row.get("helix_fraction")):
                label += f"\nH {row['helix_fraction']:.2f} E {row['strand_fraction']:.2f}"
            ax.set_title(label, fontsize=7)
            ax.set_axis_off()
    fig.tight_layout()
    return fig


def _isnan(v) -> bool:
    try:
        return v is None or math.isnan(float(v))
    except (TypeError, ValueError):
        return True


MOLECULE_PROPERTIES = ("qed", "sa", "p_gsk3b", "p_jak2", "logp", "mw")


def molecule_properties(molecules: pd.DataFrame) -> Figure | None:
    """Histograms of molecule properties per method (valid molecules only)."""
    if molecules is None or molecules.empty:
        return None
    props = [p for p in MOLECULE_PROPERTIES if _has(molecules, p)]
    if not props:
        return None
    valid = molecules[molecules["valid"]] if "valid" in molecules.columns else molecules
    cols = min(3, len(props))
    rows = math.ceil(len(props) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols + 1.2, 2.8 * rows), squeeze=False)
    for ax, prop in zip(axes.ravel(), props, strict=False):
        values = valid[prop].dropna()
        bins = np.linspace(values.min(), values.max(), 25) if len(values) else 10
        for k, (method, group) in enumerate(valid.groupby("method", sort=False)):
            ax.hist(group[prop].dropna(), bins=bins, histtype="step", lw=1.4, density=True, label=method,
                    color=_color(k))
        ax.set_xlabel(prop)
    for ax in axes.ravel()[len(props):]:
        ax.set_axis_off()
    axes[0][-1].legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig
