"""flows/ is the domain core: it must not import the Telegram, storage or template libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FLOWS = Path(__file__).parents[2] / "flows"
FORBIDDEN = {"aiogram", "tinydb", "jinja2"}
MODULES = sorted(FLOWS.rglob("*.py"))


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_there_are_modules_to_scan() -> None:
    assert {p.name for p in MODULES} >= {"engine.py", "lint.py", "graph.py", "__main__.py"}


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_flows_module_imports_no_adapter_library(path: Path) -> None:
    assert not _imported(path) & FORBIDDEN
