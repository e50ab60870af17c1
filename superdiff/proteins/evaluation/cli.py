"""``superdiff`` subcommands of the evaluation area (parsing only; the work is in the package modules).

Each command reads a folder of PDB/mmCIF designs (optionally restricted to the ``design_id`` column of a designs
table) and writes one parquet table atomically, with a ``settings`` column in every row and a
``<table>.provenance.json`` beside it. A bad design becomes a ``status = "failed"`` row with a ``reason``.
Commands resume: rerun with the same settings and only missing or failed designs are computed.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from superdiff.proteins.evaluation.inputs import MAX_FILE_BYTES, MAX_RESIDUES, design_table, load_designs
from superdiff.proteins.evaluation.tables import finished_rows, write_table

CHECKPOINT_SECONDS = 60.0


def _add_design_args(parser: argparse.ArgumentParser, out_help: str) -> None:
    parser.add_argument("--designs-dir", required=True, help="folder of PDB/mmCIF design files")
    parser.add_argument("--designs", default=None,
                        help="optional designs table (parquet/CSV) whose design_id column selects files")
    parser.add_argument("--out", required=True, help=out_help)
    parser.add_argument("--allow-chain-breaks", action="store_true",
                        help="evaluate chains with Cα-Cα gaps > 4.2 Å instead of failing them")
    parser.add_argument("--max-residues", type=int, default=MAX_RESIDUES)
    parser.add_argument("--max-bytes", type=int, default=MAX_FILE_BYTES)
    parser.add_argument("--no-progress", action="store_true")


def _input_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {"designs_dir": str(Path(args.designs_dir).resolve()), "designs_table": args.designs,
            "allow_chain_breaks": args.allow_chain_breaks, "max_residues": args.max_residues,
            "max_bytes": args.max_bytes}


def _designs(args: argparse.Namespace):
    """The designs of ``--designs-dir`` (those of ``--designs`` when given, whose ``length`` each file must hold)."""
    ids, lengths = design_table(args.designs) if args.designs else (None, None)
    return load_designs(args.designs_dir, ids, lengths, allow_chain_breaks=args.allow_chain_breaks,
                        max_residues=args.max_residues, max_bytes=args.max_bytes)


def _failure(design, **extra: Any) -> dict[str, Any]:
    return {"design_id": design.design_id, "path": design.path, "status": "failed", "reason": design.reason, **extra}


def _split_done(args, settings, designs):
    done = finished_rows(args.out, settings)
    done_ids = set() if done is None else set(done["design_id"])
    todo = [d for d in designs if d.design_id not in done_ids]
    kept = [] if done is None else done[done["design_id"].isin({d.design_id for d in designs})].to_dict("records")
    return kept, todo


def _in_design_order(rows: list[dict[str, Any]], designs) -> list[dict[str, Any]]:
    """Rows sorted (stably) into the order of ``designs``, whatever order resumed and new rows came in."""
    position = {d.design_id: i for i, d in enumerate(designs)}
    return sorted(rows, key=lambda r: position.get(r["design_id"], len(position)))


class _Checkpointer:
    """Write the partial table at most every ``CHECKPOINT_SECONDS`` (so a killed job resumes)."""

    def __init__(self, path: str, settings: dict[str, Any]) -> None:
        self.path, self.settings, self.last = path, settings, time.monotonic()

    def maybe(self, rows: list[dict[str, Any]]) -> None:
        if time.monotonic() - self.last > CHECKPOINT_SECONDS:
            write_table(self.path, rows, self.settings)
            self.last = time.monotonic()


# ---------------------------------------------------------------------------------------------- inverse-fold
def _cmd_inverse_fold(args: argparse.Namespace) -> int:
    from superdiff.proteins.evaluation.inverse_folding import design_sequences, load_mpnn, resolve_variant
    from superdiff.proteins.evaluation.self_consistency import design_seed

    settings = {**_input_settings(args), "n_sequences": args.n_sequences, "temperature": args.temperature,
                "mpnn_variant": args.mpnn_variant, "mpnn_weights": args.mpnn_weights, "seed": args.seed,
                "device": args.device}
    designs = _designs(args)
    rows, todo = _split_done(args, settings, designs)
    check = _Checkpointer(args.out, settings)
    from tqdm.auto import tqdm

    for design in tqdm(todo, desc="inverse-fold", disable=args.no_progress):
        if not design.ok:
            rows.append(_failure(design))
            continue
        try:
            variant = resolve_variant(args.mpnn_variant, design.backbone)
            model = load_mpnn(variant, args.mpnn_weights, args.device)
            seed = design_seed(args.seed, design.design_id)
            designed = design_sequences(model, design.backbone, args.n_sequences, args.temperature, seed)
        except Exception as err:
            rows.append(_failure(design, reason=f"inverse folding failed ({type(err).__name__}: {err})"))
            continue
        first: dict[str, int] = {}
        for d in designed:
            first.setdefault(d.sequence, d.index)
            rows.append({"design_id": design.design_id, "path": design.path, "status": "ok", "reason": "",
                         "length": len(design.backbone), "seq_index": d.index, "sequence": d.sequence,
                         "duplicate_of": None if first[d.sequence] == d.index else first[d.sequence],
                         "mpnn_nll": d.nll, "native_recovery": d.recovery, "design_seed": seed,
                         "temperature": args.temperature, **model.describe()})
        check.maybe(rows)
    rows = _in_design_order(rows, designs)
    write_table(args.out, rows, settings)
    n_ok = sum(r["status"] == "ok" for r in rows)
    print(f"inverse-fold: {n_ok} sequences, {sum(r['status'] != 'ok' for r in rows)} failed designs -> {args.out}")
    return 0


# ---------------------------------------------------------------------------------------------- refold
def _folder(args: argparse.Namespace):
    from superdiff.proteins.evaluation.folding import make_folder

    return make_folder(args.folding, esmfold_weights=args.esmfold_weights, chunk_size=args.chunk_size,
                       num_recycles=args.num_recycles, command=args.fold_command, device=args.device)


def _add_folding_args(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--folding", choices=("esmfold", "external", "none"), default=default)
    parser.add_argument("--esmfold-weights", default=None,
                        help="local folder of the verified facebook/esmfold_v1 weights (HF format)")
    parser.add_argument("--chunk-size", type=int, default=64, help="ESMFold trunk chunk size (0 = unchunked)")
    parser.add_argument("--num-recycles", type=int, default=None, help="ESMFold recycles (default: model's)")
    # dest fold_command: a dest named "command" would overwrite the subcommand's name in the namespace
    parser.add_argument("--command", default=None, dest="fold_command",
                        help="external folding command template with {fasta} and {out_dir}")
    parser.add_argument("--fold-dir", required=True, help="folder for predicted PDB files")


def _cmd_refold(args: argparse.Namespace) -> int:
    import pandas as pd

    from superdiff.proteins.evaluation.folding import NoFolding
    from superdiff.proteins.evaluation.self_consistency import safe_name

    args.chunk_size = args.chunk_size or None
    folder = _folder(args)
    settings = {"sequences": str(Path(args.sequences).resolve()), **folder.settings()}
    if not Path(args.sequences).is_file():
        raise FileNotFoundError(f"sequences table {args.sequences} does not exist; expected the parquet table "
                                "written by superdiff inverse-fold")
    table = pd.read_parquet(args.sequences)
    for column in ("design_id", "seq_index", "sequence"):
        if column not in table.columns:
            raise KeyError(f"{args.sequences}: expected column {column!r}, found {list(table.columns)}")
    table = table[(table.get("status", "ok") == "ok") & table["sequence"].notna()]
    if "duplicate_of" in table.columns:
        table = table[table["duplicate_of"].isna()]
    done = finished_rows(args.out, settings, key="fold_name")
    rows = [] if done is None else done.to_dict("records")
    done_names = {r["fold_name"] for r in rows}
    from tqdm.auto import tqdm

    check = _Checkpointer(args.out, settings)
    for record in tqdm(table.to_dict("records"), desc="refold", disable=args.no_progress):
        name = f"{safe_name(str(record['design_id']))}_seq{int(record['seq_index'])}"
        if name in done_names:
            continue
        row = {"design_id": record["design_id"], "seq_index": int(record["seq_index"]), "fold_name": name,
               "sequence": record["sequence"], "fold_pdb": None, "plddt": math.nan, "status": "ok", "reason": ""}
        if isinstance(folder, NoFolding):
            row.update(status="skipped", reason=NoFolding.reason)
        else:
            try:
                result = folder.fold({name: record["sequence"]}, args.fold_dir)[name]
                row.update(fold_pdb=result.pdb_path, plddt=result.mean_plddt)
            except Exception as err:
                row.update(status="failed", reason=f"refolding failed ({type(err).__name__}: {err})")
        rows.append(row)
        check.maybe(rows)
    write_table(args.out, rows, settings)
    print(f"refold: {sum(r['status'] == 'ok' for r in rows)} predictions -> {args.out}")
    return 0


# ---------------------------------------------------------------------------------------------- self-consistency
def _cmd_self_consistency(args: argparse.Namespace) -> int:
    from superdiff.proteins.evaluation.presets import get_preset
    from superdiff.proteins.evaluation.self_consistency import designability_fraction, evaluate_design

    args.chunk_size = args.chunk_size or None
    preset = get_preset(args.preset, n_sequences=args.n_sequences, temperature=args.temperature,
                        mpnn_variant=args.mpnn_variant)
    folder = _folder(args)
    settings = {**_input_settings(args), "preset": preset.as_dict(), **folder.settings(), "seed": args.seed,
                "device": args.device, "fold_dir": str(Path(args.fold_dir).resolve())}
    sequences_out = args.out_sequences or str(Path(args.out).with_suffix("")) + ".sequences.parquet"
    designs = _designs(args)
    rows, todo = _split_done(args, settings, designs)
    seq_done = finished_rows(sequences_out, settings) if rows else None
    kept_ids = {r["design_id"] for r in rows}
    seq_rows = [] if seq_done is None else [r for r in seq_done.to_dict("records") if r["design_id"] in kept_ids]
    from tqdm.auto import tqdm

    check = _Checkpointer(args.out, settings)
    for design in tqdm(todo, desc="self-consistency", disable=args.no_progress):
        summary, per_seq = evaluate_design(design, preset, folder, args.fold_dir, args.seed, args.device)
        rows.append(summary)
        seq_rows.extend(per_seq)
        if time.monotonic() - check.last > CHECKPOINT_SECONDS:
            write_table(sequences_out, seq_rows, settings)
        check.maybe(rows)
    rows = _in_design_order(rows, designs)
    seq_rows = _in_design_order(seq_rows, designs)
    for row in rows:
        row["preset_json"] = json.dumps(preset.as_dict(), sort_keys=True)
    write_table(sequences_out, seq_rows, settings)
    write_table(args.out, rows, settings)
    fraction = designability_fraction(rows)
    shown = "NA (refolding off)" if math.isnan(fraction) else f"{fraction:.3f}"
    print(f"self-consistency [{preset.name}]: {len(rows)} designs, designable fraction {shown} -> {args.out}")
    return 0


# ---------------------------------------------------------------------------------------------- novelty
def _cmd_novelty(args: argparse.Namespace) -> int:
    from superdiff.files.atomic import write_json_atomic
    from superdiff.proteins.evaluation.novelty import (
        default_reference_set,
        load_reference_folder,
        novelty_rows,
        novelty_summary,
        resolve_method,
    )

    references = (load_reference_folder(args.reference, args.min_reference_length) if args.reference
                  else default_reference_set())
    method = resolve_method(args.method)
    settings = {**_input_settings(args), "reference": references.source, "n_reference_chains": len(references),
                "min_reference_length": args.min_reference_length, "method": method,
                "foldseek_top_k": args.foldseek_top_k if method == "foldseek" else None,
                "tm_normalisation": "design length"}
    designs = _designs(args)
    if args.refolded:
        settings["structures"] = f"refolded (best scRMSD sequence) from {Path(args.refolded).resolve()}"
        designs = _refolded_designs(designs, args.refolded)
    rows, todo = _split_done(args, settings, designs)
    good = [d for d in todo if d.ok]
    rows += [_failure(d) for d in todo if not d.ok]
    rows += novelty_rows([d.design_id for d in good], [(d.backbone.ca, d.backbone.sequence) for d in good],
                         references, method, args.workers, args.foldseek_top_k, not args.no_progress)
    paths = {d.design_id: d.path for d in designs}
    for row in rows:
        row["path"] = paths.get(row["design_id"], row.get("path", ""))
    rows = _in_design_order(rows, designs)
    write_table(args.out, rows, settings)
    summary = {**novelty_summary([r["max_tm"] for r in rows if r["status"] == "ok"]),
               "n_failed": sum(r["status"] != "ok" for r in rows), "settings": settings}
    write_json_atomic(str(Path(args.out).with_suffix("")) + ".summary.json", summary)
    print(f"novelty: {summary['n']} designs, fraction max TM < 0.5: {summary['fraction_tm_lt_0_5']:.3f}, "
          f"< 0.3: {summary['fraction_tm_lt_0_3']:.3f} -> {args.out}")
    return 0


def _refolded_designs(designs, table_path: str):
    """Replace each design by the prediction of its best-scRMSD sequence (a self-consistency sequences table)."""
    import pandas as pd

    from superdiff.proteins.evaluation.inputs import DesignInput, load_design

    table = pd.read_parquet(table_path)
    for column in ("design_id", "sc_rmsd", "fold_pdb"):
        if column not in table.columns:
            raise KeyError(f"{table_path}: expected column {column!r} (a self-consistency sequences table)")
    table = table[table["fold_pdb"].notna() & table["sc_rmsd"].notna()]
    best = table.sort_values("sc_rmsd").drop_duplicates("design_id").set_index("design_id")["fold_pdb"]
    out = []
    for design in designs:
        if not design.ok:
            out.append(design)
        elif design.design_id not in best.index:
            out.append(DesignInput(design.design_id, design.path, None, "no refolded structure for this design"))
        else:
            refolded = load_design(best[design.design_id], allow_chain_breaks=True,
                                   expected_length=len(design.backbone))
            out.append(DesignInput(design.design_id, refolded.path, refolded.backbone, refolded.reason))
    return out


# ---------------------------------------------------------------------------------------------- diversity
def _cmd_diversity(args: argparse.Namespace) -> int:
    import numpy as np

    from superdiff.files.atomic import atomic_path, write_json_atomic
    from superdiff.proteins.evaluation.diversity import cluster, diversity_summary, pairwise_tm

    settings = {**_input_settings(args), "tm_threshold": args.threshold, "linkage": args.linkage,
                "symmetrise": args.symmetrise}
    designs = _designs(args)
    good = [d for d in designs if d.ok]
    matrix = pairwise_tm([(d.backbone.ca, d.backbone.sequence) for d in good], args.symmetrise, args.workers,
                         not args.no_progress)
    labels = cluster(matrix, args.threshold, args.linkage)
    rows = [_failure(d) for d in designs if not d.ok]
    rows += [{"design_id": d.design_id, "path": d.path, "status": "ok", "reason": "", "cluster": int(c),
              "mean_tm_to_others": float((matrix[i].sum() - 1) / max(len(good) - 1, 1))}
             for i, (d, c) in enumerate(zip(good, labels, strict=True))]
    write_table(args.out, rows, settings)
    with atomic_path(str(Path(args.out).with_suffix("")) + ".tm_matrix.npy") as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, matrix)
    summary = {**diversity_summary(matrix, labels), "n_failed": len(designs) - len(good), "settings": settings}
    write_json_atomic(str(Path(args.out).with_suffix("")) + ".summary.json", summary)
    print(f"diversity: {summary['n_clusters']} clusters / {summary['n']} designs at TM >= {args.threshold}")
    return 0


# ---------------------------------------------------------------------------------------------- secondary structure
def _cmd_secondary_structure(args: argparse.Namespace) -> int:
    from superdiff.proteins.evaluation.secondary_structure import secondary_structure
    from superdiff.proteins.quality import backbone_geometry, geometry_settings

    settings = {**_input_settings(args), "method": args.method, "dssp": "pydssp", "geometry": geometry_settings()}
    designs = _designs(args)
    rows, todo = _split_done(args, settings, designs)
    for design in todo:
        if not design.ok:
            rows.append(_failure(design))
            continue
        try:
            ss = secondary_structure(design.backbone, args.method)
        except Exception as err:
            rows.append(_failure(design, reason=f"secondary structure failed ({type(err).__name__}: {err})"))
            continue
        geometry = backbone_geometry(design.backbone.ca, design.backbone.atoms)
        rows.append({"design_id": design.design_id, "path": design.path, "status": "ok", "reason": "",
                     "length": len(design.backbone), "ss_method": ss.method, "ss_states": ss.states,
                     **ss.fractions(), **geometry.to_row()})
    rows = _in_design_order(rows, designs)
    write_table(args.out, rows, settings)
    print(f"secondary-structure: {sum(r['status'] == 'ok' for r in rows)} designs -> {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the evaluation subcommands to the ``superdiff`` parser."""
    p = sub.add_parser("inverse-fold", help="ProteinMPNN sequences for each design backbone")
    _add_design_args(p, "sequences table (parquet), one row per sequence")
    p.add_argument("--n-sequences", type=int, default=8)
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--mpnn-variant", choices=("auto", "ca", "vanilla", "soluble"), default="auto")
    p.add_argument("--mpnn-weights", default="v_48_020")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_inverse_fold)

    p = sub.add_parser("refold", help="fold the unique sequences of an inverse-fold table")
    p.add_argument("--sequences", required=True, help="table written by inverse-fold")
    p.add_argument("--out", required=True, help="predictions table (parquet)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    _add_folding_args(p, default="esmfold")
    p.set_defaults(func=_cmd_refold)

    p = sub.add_parser("self-consistency", help="designability: ProteinMPNN + refolding + scRMSD / scTM / pLDDT")
    _add_design_args(p, "per-design table (parquet); per-sequence rows go to --out-sequences")
    p.add_argument("--out-sequences", default=None)
    p.add_argument("--preset", choices=("superdiff", "genie2"), default="superdiff")
    p.add_argument("--n-sequences", type=int, default=None, help="override the preset's count")
    p.add_argument("--temperature", type=float, default=None, help="override the preset's temperature")
    p.add_argument("--mpnn-variant", choices=("auto", "ca", "vanilla"), default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    _add_folding_args(p, default="none")
    p.set_defaults(func=_cmd_self_consistency)

    p = sub.add_parser("novelty", help="max TM-score of each design against a reference set")
    _add_design_args(p, "novelty table (parquet)")
    p.add_argument("--reference", default=None, help="folder of PDB/mmCIF files (default: the built-in set)")
    p.add_argument("--refolded", default=None,
                   help="self-consistency sequences table: score each design's best-scRMSD prediction instead")
    p.add_argument("--min-reference-length", type=int, default=20)
    p.add_argument("--method", choices=("tmalign", "foldseek", "auto"), default="tmalign")
    p.add_argument("--foldseek-top-k", type=int, default=50)
    p.add_argument("--workers", type=int, default=0, help="processes (0 = all cores)")
    p.set_defaults(func=_cmd_novelty)

    p = sub.add_parser("diversity", help="pairwise TM matrix and clusters of the designs")
    _add_design_args(p, "per-design cluster table (parquet)")
    p.add_argument("--threshold", type=float, default=0.5, help="TM-score linking two designs")
    p.add_argument("--linkage", choices=("single", "greedy"), default="single")
    p.add_argument("--symmetrise", choices=("mean", "max", "min"), default="mean")
    p.add_argument("--workers", type=int, default=0, help="processes (0 = all cores)")
    p.set_defaults(func=_cmd_diversity)

    p = sub.add_parser("secondary-structure",
                       help="helix / strand / coil fractions (DSSP or P-SEA) and backbone geometry checks")
    _add_design_args(p, "secondary-structure table (parquet)")
    p.add_argument("--method", choices=("auto", "psea", "dssp"), default="auto")
    p.set_defaults(func=_cmd_secondary_structure)
