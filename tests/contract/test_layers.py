"""The house rules of DESIGN.md, checked: imports point one way, through each package's surface.

Every product package names its public surface in its ``__init__`` (``__all__``); code outside
a package imports only those names (``from features import build_features``), never a module
path (``features.pipeline``), so a package can reorganise its modules without breaking anyone.
The one exception is a package's own unit tests (``tests/unit/<package>/``), which test its
modules directly. The direction of imports is the table below; nothing lower imports anything
higher, so there is no cycle.
"""

from __future__ import annotations

import ast
import importlib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# importer -> the packages it may import (DESIGN.md, "Layout")
ALLOWED: dict[str, frozenset[str]] = {
    "features": frozenset(),
    "citysim": frozenset({"features"}),
    "models": frozenset({"features"}),
    "training": frozenset({"alerts", "models", "features"}),
    "alerts": frozenset({"features"}),
    "serving": frozenset({"alerts", "training", "models", "features", "citysim"}),
}
PACKAGES = tuple(ALLOWED)
# alerts needs only the forecast contract: from features, just the error classes (and the
# duration type its own config, the roster, is written in)
NARROW: dict[tuple[str, str], frozenset[str]] = {
    ("alerts", "features"): frozenset(
        {
            "CitybrainError",
            "ConfigError",
            "DataError",
            "Duration",
            "LeakageError",
            "NotFittedError",
            "NotFoundError",
        }
    )
}
# everything outside the packages that imports them goes through their surfaces too
CLIENTS = ("experiments", "tests")


def _surface(package: str) -> frozenset[str]:
    return frozenset(importlib.import_module(package).__all__)


def _owner(path: Path) -> str | None:
    """The package whose internals this file may import: its own, or the one its unit tests
    mirror (``tests/unit/models/...`` -> ``models``)."""
    parts = path.relative_to(ROOT).parts
    if parts[0] in ALLOWED:
        return parts[0]
    if parts[:2] == ("tests", "unit") and len(parts) > 3 and parts[2] in ALLOWED:
        return parts[2]
    return None


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, module, names)`` of every absolute import of a project package in the file
    (inside functions too: a lazy import is still an import)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module, [a.name for a in node.names]))
    return [(line, mod, names) for line, mod, names in out if mod.split(".")[0] in ALLOWED]


def _files(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (ROOT / root).rglob("*.py"))


def _violations(path: Path) -> list[str]:
    where = path.relative_to(ROOT)
    owner = _owner(path)
    importer = where.parts[0]
    found = []
    for line, module, names in _imports(path):
        target = module.split(".")[0]
        if target == owner:
            continue
        if importer in ALLOWED and target not in ALLOWED[importer]:
            found.append(f"{where}:{line}: {importer} may not import {target} (DESIGN.md)")
            continue
        if module != target:
            found.append(f"{where}:{line}: {module} reaches past the surface of {target}")
            continue
        unknown = sorted(set(names) - _surface(target))
        if unknown:
            found.append(f"{where}:{line}: {unknown} are not in {target}.__all__")
        narrow = NARROW.get((importer, target))
        if narrow is not None and not set(names) <= narrow:
            found.append(f"{where}:{line}: {importer} may take only {sorted(narrow)} from {target}")
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_packages_below_it_and_only_their_surfaces(
    package: str,
) -> None:
    assert [v for path in _files(package) for v in _violations(path)] == []


@pytest.mark.parametrize("client", CLIENTS)
def test_experiments_and_tests_import_the_packages_through_their_surfaces(client: str) -> None:
    assert [v for path in _files(client) for v in _violations(path)] == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_says_what_it_owns_and_names_its_surface(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__doc__ and "placeholder" not in module.__doc__
    assert len(module.__doc__.split()) >= 20, f"{package}'s docstring says too little"
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert missing == []


def test_the_import_direction_has_no_cycle() -> None:
    seen: dict[str, int] = {}

    def depth(package: str, trail: tuple[str, ...] = ()) -> int:
        assert package not in trail, f"cycle: {' -> '.join((*trail, package))}"
        if package not in seen:
            seen[package] = 1 + max(
                (depth(p, (*trail, package)) for p in ALLOWED[package]), default=0
            )
        return seen[package]

    assert [depth(p) for p in PACKAGES]


def test_no_other_installed_distribution_provides_our_top_level_names() -> None:
    """A PyPI package named ``features`` or ``models`` would shadow ours, or ours it."""
    providers = packages_distributions()
    for package in PACKAGES:
        others = {d for d in providers.get(package, []) if d.lower() != "citybrain"}
        assert others == set(), f"{package!r} is also provided by {sorted(others)}"
        module = importlib.import_module(package)
        assert Path(module.__file__ or "").resolve().parent == ROOT / package
