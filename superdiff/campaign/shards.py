"""Finished shards whose files were removed after the fact (Snakemake does not see them: a shard declares only its
designs table, since the number of its PDBs depends on its seed range)."""

from __future__ import annotations

from pathlib import Path

from superdiff.proteins.shard_files import design_id


def missing_design_files(shard: str | Path, length: int, first: int, stop: int) -> list[Path]:
    """PDBs of designs ``first .. stop − 1`` of ``length`` absent from a FINISHED shard (one with its
    ``designs.parquet``); ``[]`` for a shard not yet sampled."""
    shard = Path(shard)
    if not (shard / "designs.parquet").exists():
        return []
    return [shard / f"{design_id(length, i)}.pdb" for i in range(first, stop)
            if not (shard / f"{design_id(length, i)}.pdb").exists()]


def incomplete_shards_message(missing: dict[Path, list[Path]], commands: dict[Path, str]) -> str:
    """One line per finished shard that lost PDBs: which, and the command that samples only those again.

    ``commands[shard]`` is that shard's ``superdiff sample-backbones`` call: it keeps the designs table and every
    design whose PDB is there, and samples the lost ones with their own seeds (byte-identical PDBs)."""
    return "\n".join(
        f"{shard}: finished shard lost {len(pdbs)} design PDB(s) ({', '.join(p.name for p in pdbs[:3])}"
        f"{', ...' if len(pdbs) > 3 else ''}); expected every design's PDB: run `{commands[shard]}` (samples "
        "only the lost designs, with the same seeds), then the workflow again" for shard, pdbs in missing.items())
