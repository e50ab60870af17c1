"""What a sampling shard's folder holds, by name: a PDB per design (:func:`design_id`) and the κ and log-density
paths of its first designs (:data:`TRACES`).

Torch-free, so the steps that only read shards (gathering a method's designs, the report, the workflow's checks of
finished shards) start without importing torch; :mod:`superdiff.proteins.sampling` writes these files.
"""

#: the first designs of every run (shard) whose κ and log-density paths are kept, in :data:`TRACES`
TRACED_DESIGNS = 2
TRACES = "trajectories.parquet"


def design_id(length: int, index: int) -> str:
    return f"len{length:03d}_{index:04d}"
