"""The house rules of docs/architecture.md, checked on the code's own imports and definitions.

Floors: ``files`` and ``engine`` at the bottom (each imports nothing else of superdiff), the domains ``proteins`` and
``molecules`` above them (never each other), ``campaign`` above the domains, and the package root's command line
on top. The engine is torch-only: no pandas, RDKit, biotite or Snakemake.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "superdiff"

#: what each room may import from superdiff (its own room is always allowed)
ALLOWED = {
    "files": set(),
    "engine": set(),
    "proteins": {"engine", "files"},
    "molecules": {"engine", "files"},
    "campaign": {"engine", "files", "proteins", "molecules"},
    "__init__": {"engine"},
    "demo": {"engine", "files", "__init__"},
    "allocator": set(),
    "cli": {"engine", "files", "proteins", "molecules", "campaign", "demo", "allocator", "__init__"},
}
#: third-party packages the engine may import (everything else it uses is the standard library)
ENGINE_THIRD_PARTY = {"torch", "numpy", "tqdm"}


def _room(module: str) -> str:
    """``superdiff.engine.sampler`` -> ``engine``; ``superdiff`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, source: str | None = None) -> list[str]:
    """Every module ``path`` imports, at any depth (lazy imports inside functions included)."""
    tree = ast.parse(path.read_text() if source is None else source)
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.append(".".join([*base, node.module] if node.module else base))
            else:
                found.append(node.module)
            if node.module is not None and node.module == "superdiff":  # `from superdiff import engine`
                found += [f"superdiff.{alias.name}" for alias in node.names]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def _violations(path: Path, source: str | None = None) -> list[str]:
    own = _room(_module_name(path))
    bad = []
    for name in _imports(path, source):
        if name == "superdiff" and own != "__init__":
            target = "__init__"
        elif name.startswith("superdiff."):
            target = _room(name)
        else:
            continue
        if target != own and target not in ALLOWED[own]:
            bad.append(f"{path.relative_to(PACKAGE.parent)} ({own}) imports {name} ({target})")
    return bad


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_climbs_a_floor_or_crosses_to_a_sibling_domain(path):
    assert not _violations(path)


@pytest.mark.parametrize("path", sorted((PACKAGE / "engine").rglob("*.py")), ids=lambda p: p.name)
def test_the_engine_imports_torch_numpy_tqdm_and_the_standard_library_only(path):
    for name in _imports(path):
        top = name.split(".")[0]
        if top in ("superdiff", "__future__") or top in sys.stdlib_module_names:
            continue
        assert top in ENGINE_THIRD_PARTY, f"engine module {path.name} imports {name}"


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > 80:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over 80 lines:\n" + "\n".join(long)


def test_the_checker_sees_upward_sibling_and_lazy_imports():
    """The rule above fails on real violations (a checker that finds nothing would pass everything)."""
    engine_module = PACKAGE / "engine" / "sampler.py"
    assert _violations(engine_module, "def f():\n    from superdiff.proteins.structure import Backbone\n")
    assert _violations(engine_module, "import superdiff.files.atomic\n")
    assert _violations(PACKAGE / "proteins" / "sampling.py", "from superdiff.molecules import data\n")
    assert _violations(PACKAGE / "molecules" / "cli.py", "from superdiff.campaign.config import X\n")
    assert not _violations(PACKAGE / "campaign" / "cli.py", "from superdiff.proteins import sampling\n")
