"""superdiff: compose pre-trained diffusion models at inference time (SuperDiff, Skreta et al. 2025).

The public API: schedules, operators, :func:`sample` and its :class:`SampleResult`, :class:`Guidance`.
"""

from superdiff.guidance import Guidance
from superdiff.operators import OPERATOR_NAMES, And, Average, Operator, Or, Product, Single, make_operator
from superdiff.sampler import SampleResult, sample
from superdiff.schedules import CosineVPSchedule, Schedule, VPSchedule
from superdiff.spaces import CentredCoordinates, Euclidean

__all__ = [
    "OPERATOR_NAMES",
    "And",
    "Average",
    "CentredCoordinates",
    "CosineVPSchedule",
    "Euclidean",
    "Guidance",
    "Operator",
    "Or",
    "Product",
    "SampleResult",
    "Schedule",
    "Single",
    "VPSchedule",
    "make_operator",
    "sample",
]
__version__ = "0.1.0"
