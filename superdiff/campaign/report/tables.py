"""Gathering shard tables into campaign tables (pure pandas; no Snakemake)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """``["method=and", "length=50"]`` -> ``{"method": "and", "length": "50"}``; a bad item names itself."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--column expects NAME=VALUE, got {item!r}")
        out[key] = value
    return out


def concat_tables(paths: Sequence[str | os.PathLike], columns: Mapping[str, object] | None = None) -> pd.DataFrame:
    """Concatenate parquet tables in the given order, adding constant ``columns`` in front.

    Missing columns of one table become NA in the result; an empty input list is an error (a campaign table
    with no shards is a wiring mistake, not an empty result).
    """
    if not paths:
        raise ValueError("no input tables to concatenate")
    frames = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"shard table {path} does not exist")
        frames.append(pd.read_parquet(path))
    frame = pd.concat(frames, ignore_index=True, sort=False)
    for i, (name, value) in enumerate((columns or {}).items()):
        if name in frame.columns:
            frame = frame.drop(columns=[name])
        frame.insert(i, name, value)
    return frame


def gather_molecules(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """The molecules of every shard ``.../<method>/seeds<first>-<stop>/molecules.parquet``, in the given order,
    with the method (from the shard's folder) as the first column."""
    frames = []
    for path in paths:
        method = Path(path).parent.parent.name
        if not method or not Path(path).parent.name.startswith("seeds"):
            raise ValueError(f"{path} is not a shard table <method>/seeds<first>-<stop>/molecules.parquet")
        frames.append(concat_tables([path], {"method": method}))
    if not frames:
        raise ValueError("no shard tables to gather")
    return pd.concat(frames, ignore_index=True, sort=False)
