"""superdiff: compose pre-trained diffusion models at inference time (SuperDiff, Skreta et al. 2025).

The public API is the engine's (:mod:`superdiff.engine`): Gaussian paths, spaces, score-model adapters, operators,
:func:`sample` and its :class:`SampleResult`, :class:`Guidance`; ``superdiff.models``, ``superdiff.paths`` and
``superdiff.spaces`` name its modules.

The engine (and torch) load on first use of one of these names: the workflow's evaluation and report steps never
touch it and start in a fraction of a second instead of more than one.
"""

import importlib

__version__ = "0.1.0"


def __getattr__(name: str):
    engine = importlib.import_module("superdiff.engine")
    if name == "__all__":
        return list(engine.__all__)
    if name in engine.__all__:
        return getattr(engine, name)
    raise AttributeError(f"module 'superdiff' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *importlib.import_module("superdiff.engine").__all__})
