"""Protein design evaluation: the self-consistency (designability) pipeline, novelty, diversity and secondary
structure of generated backbones (SCIENCE.md section 7).

Modules, one concept each:

- :mod:`~superdiff.evaluation.inputs`: reading a folder of designs into backbones or per-design failures.
- :mod:`~superdiff.evaluation.superposition`: Kabsch superposition and Cα RMSD (Å).
- :mod:`~superdiff.evaluation.tmalign`: TM-align through ``tmtools``.
- :mod:`~superdiff.evaluation.inverse_folding`: ProteinMPNN sequence design (in-process, batched).
- :mod:`~superdiff.evaluation.folding`: refolding backends (``esmfold``, ``external``, ``none``).
- :mod:`~superdiff.evaluation.presets`: named designability protocols (``superdiff``, ``genie2``).
- :mod:`~superdiff.evaluation.self_consistency`: scRMSD, scTM, pLDDT and designability.
- :mod:`~superdiff.evaluation.novelty`: max TM-score against a reference set.
- :mod:`~superdiff.evaluation.diversity`: pairwise TM matrix and clustering.
- :mod:`~superdiff.evaluation.secondary_structure`: helix / strand / coil fractions (P-SEA, DSSP).
- :mod:`~superdiff.evaluation.cli`: the ``superdiff`` subcommands.

Heavy dependencies (torch models, transformers) are imported lazily inside the modules that need them.
"""
