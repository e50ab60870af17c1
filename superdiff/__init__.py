"""superdiff: compose pre-trained diffusion models at inference time (SuperDiff, Skreta et al. 2025).

The public API: Gaussian paths, spaces, score-model adapters, operators, :func:`sample` and its :class:`SampleResult`,
:class:`Guidance`. The implementation lives in :mod:`superdiff.engine`; ``superdiff.models``,
``superdiff.paths`` and ``superdiff.spaces`` name its modules.
"""

from superdiff.engine import (
    OPERATOR_NAMES,
    And,
    Average,
    CentredCoordinates,
    Euclidean,
    GaussianPath,
    Guidance,
    LinearInterpolant,
    Operator,
    Or,
    Product,
    SampleResult,
    Single,
    VarianceExploding,
    VPCosine,
    VPLinear,
    make_operator,
    models,
    paths,
    sample,
    spaces,
)

__all__ = [
    "OPERATOR_NAMES",
    "And",
    "Average",
    "CentredCoordinates",
    "Euclidean",
    "GaussianPath",
    "Guidance",
    "LinearInterpolant",
    "Operator",
    "Or",
    "Product",
    "SampleResult",
    "Single",
    "VPCosine",
    "VPLinear",
    "VarianceExploding",
    "make_operator",
    "models",
    "paths",
    "sample",
    "spaces",
]
__version__ = "0.1.0"
