"""The engine: torch only. Paths, spaces, score models, density estimators, operators and the sampling loop.

It knows nothing of proteins, molecules, files or workflows; every domain builds on it (docs/architecture.md).
The names below are the public API, re-exported by :mod:`superdiff`.
"""

from superdiff.engine import frames, models, paths, so3, spaces
from superdiff.engine.guidance import Guidance
from superdiff.engine.operators import OPERATOR_NAMES, And, Average, Operator, Or, Product, Single, make_operator
from superdiff.engine.paths import GaussianPath, LinearInterpolant, VarianceExploding, VPCosine, VPLinear
from superdiff.engine.sampler import SampleResult, sample
from superdiff.engine.spaces import CentredCoordinates, Euclidean

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
    "frames",
    "make_operator",
    "models",
    "paths",
    "sample",
    "so3",
    "spaces",
]
