"""Protein design evaluation: the self-consistency (designability) pipeline, novelty, diversity and secondary
structure of generated backbones (SCIENCE.md section 7).

Modules, one concept each:

- :mod:`~superdiff.proteins.evaluation.inputs`: reading a folder of designs into backbones or per-design failures.
- :mod:`~superdiff.proteins.evaluation.superposition`: Kabsch superposition and Cα RMSD (Å).
- :mod:`~superdiff.proteins.evaluation.tmalign`: TM-align through ``tmtools``.
- :mod:`~superdiff.proteins.evaluation.inverse_folding`: ProteinMPNN sequence design (in-process, batched).
- :mod:`~superdiff.proteins.evaluation.folding`: refolding backends (``esmfold``, ``external``, ``none``).
- :mod:`~superdiff.proteins.evaluation.presets`: named designability protocols (``superdiff``, ``genie2``).
- :mod:`~superdiff.proteins.evaluation.self_consistency`: scRMSD, scTM, pLDDT and designability.
- :mod:`~superdiff.proteins.evaluation.novelty`: max TM-score against a reference set.
- :mod:`~superdiff.proteins.evaluation.diversity`: pairwise TM matrix and clustering.
- :mod:`~superdiff.proteins.evaluation.secondary_structure`: helix / strand / coil fractions (P-SEA, DSSP).
- :mod:`~superdiff.proteins.evaluation.cli`: the ``superdiff`` subcommands.

Heavy dependencies (torch models, transformers) are imported lazily inside the modules that need them.
"""
