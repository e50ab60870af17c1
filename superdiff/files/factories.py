"""``module:factory`` specifications: checked by importing the module (the factory is never called here).

Shared by the protein model registry and the molecule latent-model contract, so both refuse a bad spec with the
same one-line messages before any work.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def import_factory(spec: str, factory: str, what: str = "model") -> Callable:
    """The callable ``factory`` (``'module:name'``) names; ``spec`` and ``what`` only word the errors.

    Raises:
        ValueError: not ``module:name``, a module that cannot be imported, or no callable of that name in it.
    """
    if factory.count(":") != 1 or not all(part.strip() for part in factory.split(":")):
        raise ValueError(f"{what} {spec!r}: expected 'module:factory'")
    module_name, attr = factory.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"{what} {spec!r}: cannot import module {module_name!r} ({err}); expected an importable "
                         "module on the PYTHONPATH") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"{what} {spec!r}: module {module_name!r} has no callable {attr!r}")
    return fn
