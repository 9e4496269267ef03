"""alerts sits below serving and beside training: it must not import the packages above it."""

from __future__ import annotations

import ast
from pathlib import Path

import alerts

FORBIDDEN = {"models", "training", "serving", "citysim", "experiments"}


def test_alerts_imports_nothing_from_the_project_but_features_errors() -> None:
    root = Path(alerts.__file__).parent
    offenders = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in FORBIDDEN or (top == "features" and name != "features.errors"):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_the_public_api_is_named_in_the_package() -> None:
    for name in alerts.__all__:
        assert getattr(alerts, name) is not None
