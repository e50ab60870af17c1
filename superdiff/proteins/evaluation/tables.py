"""Result tables: every row carries the settings that produced it; writes are atomic; steps resume.

A table is written as parquet with a ``settings`` column (the JSON of the resolved settings, identical in every
row) and a ``{name}.provenance.json`` file beside it (settings + package versions). A rerun with the same settings
keeps the finished rows of an existing table and computes only the missing designs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from superdiff.files.atomic import write_json_atomic, write_parquet_atomic
from superdiff.files.provenance import provenance


def settings_json(settings: dict[str, Any]) -> str:
    """Canonical JSON of a settings dict (sorted keys), the value of every row's ``settings`` column."""
    return json.dumps(settings, sort_keys=True, default=str)


def provenance_path(table: str | os.PathLike) -> Path:
    table = Path(table)
    return table.with_name(table.name + ".provenance.json")


def write_table(path: str | os.PathLike, rows: list[dict[str, Any]] | pd.DataFrame, settings: dict[str, Any],
                columns: list[str] | None = None) -> pd.DataFrame:
    """Write rows (plus the ``settings`` column) to parquet atomically and the provenance beside it."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=columns)
    frame = frame.copy()
    frame["settings"] = settings_json(settings)
    write_parquet_atomic(path, frame)
    write_json_atomic(provenance_path(path), provenance(settings))
    return frame


def finished_rows(path: str | os.PathLike, settings: dict[str, Any], key: str = "design_id") -> pd.DataFrame | None:
    """Rows of an existing table produced with the same settings (None when absent or made differently).

    Failed rows are dropped so that a rerun retries them.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        frame = pd.read_parquet(path)
    except Exception:
        return None
    if frame.empty or "settings" not in frame.columns or key not in frame.columns:
        return None
    if set(frame["settings"]) != {settings_json(settings)}:
        return None
    if "status" in frame.columns:
        frame = frame[frame["status"] == "ok"]
    return frame.drop(columns=["settings"])
