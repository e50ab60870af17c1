"""``superdiff`` subcommands of the workflow area: config validation, schema export, the resolved methods,
gathering, aggregation, traces and the report.

Parsing only; the work lives in :mod:`superdiff.campaign.config`, :mod:`~superdiff.campaign.methods` and
:mod:`superdiff.campaign.report`. These are the entry points the Snakemake rules of ``workflow/rules/*.smk`` call.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_validate_config(args) -> int:
    from superdiff.campaign.config import CampaignError, read_campaign, resolved

    status = 0
    for path in args.configs:
        try:
            campaign = read_campaign(path)
        except (CampaignError, OSError) as err:
            message = str(err)  # YAML errors already start with file:line:column
            print(message if message.startswith(str(path)) else f"{path}: {message}", file=sys.stderr)
            status = 2
            continue
        if args.print_resolved:
            print(json.dumps(resolved(campaign), indent=2))
        else:
            print(f"{path}: ok (campaign {campaign.campaign!r})")
    return status


def cmd_export_schema(args) -> int:
    from superdiff.campaign.config import json_schema
    from superdiff.files.atomic import write_text_atomic

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(args.out, text)
        print(f"wrote {args.out}")
    return 0


def cmd_write_campaign_config(args) -> int:
    import yaml

    from superdiff.campaign.config import load_campaign, resolved
    from superdiff.files.atomic import write_json_atomic, write_text_atomic
    from superdiff.files.provenance import provenance

    campaign = load_campaign(json.loads(args.json))
    settings = resolved(campaign)
    write_text_atomic(args.config_out, yaml.safe_dump(settings, sort_keys=False))
    write_json_atomic(args.provenance_out, provenance(settings))
    if args.methods_out is not None:
        from superdiff.campaign.methods import resolve_methods

        write_json_atomic(args.methods_out, resolve_methods(campaign))
    return 0


def cmd_concat_tables(args) -> int:
    from superdiff.campaign.report.tables import concat_tables, parse_assignments
    from superdiff.files.atomic import write_parquet_atomic

    frame = concat_tables(args.inputs, parse_assignments(args.column))
    write_parquet_atomic(args.out, frame)
    print(f"{len(args.inputs)} tables, {len(frame)} rows -> {args.out}")
    return 0


def cmd_verify_models(args) -> int:
    from superdiff.files.atomic import write_json_atomic
    from superdiff.files.provenance import provenance
    from superdiff.proteins.registry import load_model, parse_spec
    from superdiff.proteins.sampling import check_lengths

    entries = []
    for spec in args.model:
        model = load_model(spec, args.device)  # fetches (cached) and checks sha256; raises on a mismatch
        check_lengths([model], [spec], args.length or [])
        manifest = getattr(model, "manifest", {}) or {}
        entries.append({"spec": spec, "kind": parse_spec(spec)["kind"], "class": type(model).__name__,
                        "sha256": manifest.get("sha256"), "file": manifest.get("file"),
                        "min_length": getattr(model, "min_length", None),
                        "max_length": getattr(model, "max_length", None)})
        print(f"{spec}: ok ({entries[-1]['class']}, sha256 {entries[-1]['sha256']})")
    write_json_atomic(args.out, {"models": entries, "provenance": provenance({"models": list(args.model)})})
    return 0


def cmd_gather_designs(args) -> int:
    from superdiff.campaign.report.aggregate import gather_designs, gather_traces
    from superdiff.files.atomic import write_parquet_atomic

    shards = [Path(p).parent for p in args.inputs]
    frame = gather_designs(shards, args.pdb_dir)
    write_parquet_atomic(args.out, frame)
    print(f"{len(frame)} designs from {len(args.inputs)} shards -> {args.pdb_dir}")
    if args.trajectories_out:
        traces = gather_traces(shards, args.method_name or Path(args.out).parent.name)
        write_parquet_atomic(args.trajectories_out, traces)
        print(f"κ and log-density paths of {traces['design'].nunique()} designs -> {args.trajectories_out}")
    return 0


def cmd_gather_molecules(args) -> int:
    from superdiff.campaign.report.tables import gather_molecules
    from superdiff.files.atomic import write_parquet_atomic

    frame = gather_molecules(args.inputs)
    write_parquet_atomic(args.out, frame)
    print(f"{len(frame)} molecules of {frame['method'].nunique()} methods from {len(args.inputs)} shards -> {args.out}")
    return 0


def cmd_aggregate_proteins(args) -> int:
    from superdiff.campaign.report.aggregate import campaign_designs, method_summary
    from superdiff.files.atomic import write_parquet_atomic, write_text_atomic

    designs = campaign_designs(args.method_dir)
    summaries = {Path(d).name: Path(d) / "diversity.summary.json" for d in args.method_dir}
    summary = method_summary(designs, summaries, args.refold_note)
    write_parquet_atomic(args.out_designs, designs)
    write_text_atomic(args.out_summary, summary.to_csv(index=False))
    print(summary.to_string(index=False))
    return 0


def cmd_campaign_report(args) -> int:
    from superdiff.campaign.report.html import load_outputs, render
    from superdiff.files.atomic import write_text_atomic

    outputs = load_outputs(args.config, protein_designs=args.protein_designs, protein_summary=args.protein_summary,
                           trajectories=args.trajectories, molecules=args.molecules,
                           molecule_metrics=args.molecule_metrics, provenance=args.provenance)
    write_text_atomic(args.out, render(outputs))
    print(f"wrote {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the workflow subcommands."""
    for add in (_register_validate_config, _register_export_schema, _register_write_campaign_config,
                _register_concat_tables, _register_verify_models, _register_gather_designs,
                _register_gather_molecules, _register_aggregate_proteins,
                _register_campaign_report):
        add(sub)


def _register_validate_config(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate-config", help="validate campaign config files (errors name key, value, allowed)")
    p.add_argument("configs", nargs="+", type=Path, help="campaign YAML files")
    p.add_argument("--print-resolved", action="store_true", help="print the config with defaults filled in")
    p.set_defaults(func=cmd_validate_config)


def _register_export_schema(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-config-schema", help="write the campaign JSON schema the Snakefile validates against")
    p.add_argument("--out", type=Path, default=None, help="output file (default: stdout)")
    p.set_defaults(func=cmd_export_schema)


def _register_write_campaign_config(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("write-campaign-config",
                       help="write the resolved campaign config, its provenance and its resolved methods")
    p.add_argument("--json", required=True, help="the campaign config as JSON")
    p.add_argument("--config-out", type=Path, required=True, help="resolved config (YAML)")
    p.add_argument("--provenance-out", type=Path, required=True, help="provenance JSON (versions, platform)")
    p.add_argument("--methods-out", type=Path, default=None,
                   help="resolved methods JSON: per domain and method every setting its sampler takes "
                        "(sample-backbones / sample-molecules --methods FILE --method-name NAME)")
    p.set_defaults(func=cmd_write_campaign_config)


def _register_concat_tables(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("concat-tables", help="concatenate shard parquet tables (in the given order)")
    p.add_argument("inputs", nargs="+", type=Path, help="parquet tables")
    p.add_argument("--column", action="append", default=[], help="NAME=VALUE constant column to add (repeatable)")
    p.add_argument("--out", type=Path, required=True, help="output parquet")
    p.set_defaults(func=cmd_concat_tables)


def _register_verify_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify-models", help="load each model spec (download + sha256 check) and record them")
    p.add_argument("--model", action="extend", nargs="+", required=True,
                   help="model specs, e.g. builtin:helix (repeatable, or several after one flag)")
    p.add_argument("--length", type=int, action="extend", nargs="+", default=None,
                   help="campaign lengths each model must support (repeatable, or several after one flag)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, required=True, help="JSON record of the verified models")
    p.set_defaults(func=cmd_verify_models)


def _register_gather_designs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gather-designs", help="copy one method's shard PDBs into one folder, one table")
    p.add_argument("inputs", nargs="+", type=Path, help="designs.parquet of each shard folder")
    p.add_argument("--pdb-dir", type=Path, required=True, help="folder for the gathered PDB files")
    p.add_argument("--out", type=Path, required=True, help="gathered designs table (parquet)")
    p.add_argument("--trajectories-out", type=Path, default=None,
                   help="also write the κ and log-density paths the shards kept (shortest length, first designs)")
    p.add_argument("--method-name", default=None, help="the method column of the paths (default: --out's folder)")
    p.set_defaults(func=cmd_gather_designs)


def _register_gather_molecules(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gather-molecules", help="one table of a campaign's molecules, with each shard's method")
    p.add_argument("inputs", nargs="+", type=Path,
                   help="molecules.parquet of each shard folder <method>/seeds<first>-<stop> (in table order)")
    p.add_argument("--out", type=Path, required=True, help="campaign table (parquet)")
    p.set_defaults(func=cmd_gather_molecules)


def _register_aggregate_proteins(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("aggregate-proteins", help="one row per design and one per method, from the method folders")
    p.add_argument("--method-dir", action="extend", nargs="+", required=True, type=Path,
                   help="method folder methods/<method> with designs.parquet and its evaluation tables")
    p.add_argument("--refold-note", default=None, help="why designability is missing (refolding off)")
    p.add_argument("--out-designs", type=Path, required=True, help="per-design table (parquet)")
    p.add_argument("--out-summary", type=Path, required=True, help="per-method table (CSV)")
    p.set_defaults(func=cmd_aggregate_proteins)


def _register_campaign_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("campaign-report", help="the self-contained HTML summary of a campaign")
    p.add_argument("--config", type=Path, required=True, help="config.resolved.yaml of the campaign")
    p.add_argument("--protein-designs", type=Path, default=None)
    p.add_argument("--protein-summary", type=Path, default=None)
    p.add_argument("--trajectories", type=Path, nargs="*", default=())
    p.add_argument("--molecules", type=Path, default=None)
    p.add_argument("--molecule-metrics", type=Path, default=None)
    p.add_argument("--provenance", type=Path, default=None)
    p.add_argument("--out", type=Path, required=True, help="HTML file")
    p.set_defaults(func=cmd_campaign_report)
