"""superdiff: compose pre-trained diffusion models at inference time (SuperDiff, Skreta et al. 2025).

The public API is the engine's (:mod:`superdiff.engine`): Gaussian paths, spaces, score-model adapters, operators,
:func:`sample` and its :class:`SampleResult`, :class:`Guidance`; ``superdiff.models``, ``superdiff.paths`` and
``superdiff.spaces`` name its modules.
"""

from superdiff import engine
from superdiff.engine import *  # noqa: F403 (re-exported as they are)

__all__ = list(engine.__all__)
__version__ = "0.1.0"
