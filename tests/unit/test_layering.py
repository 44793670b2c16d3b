"""Layers point inward: each package may import only the layers listed for it (see docs/architecture.md).

Checked statically from the source, so a forbidden import fails CI even if no test executes it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "lamina"
SHARED = {"lamina", "lamina.errors", "lamina.config", "lamina.clock"}
ALLOWED: dict[str, set[str]] = {
    "domain": {"domain"},
    "protocol": {"protocol"},
    "store": {"store", "domain"},
    "runtime_api": {"runtime_api", "transport"},
    "transport": {"transport"},
    "auth": {"auth"},
    "execution": {"execution", "domain", "store", "runtime_api"},
    "functions": {"functions", "domain", "store", "execution"},
    "identity": {"identity", "domain", "store", "auth"},
    "triggers": {"triggers", "domain", "store", "execution", "functions", "identity"},
    "observability": {"observability", "domain", "store", "triggers", "execution"},
    "sources": {"sources", "domain", "store", "triggers"},
    "apigateway": {"apigateway", "domain", "store", "transport"},
    "deploy": {"deploy", "domain", "store"},
    "api": {
        "api",
        "protocol",
        "domain",
        "functions",
        "execution",
        "identity",
        "auth",
        "transport",
        "observability",
        "triggers",
        "sources",
        "apigateway",
        "deploy",
    },
    "cluster": {"cluster", "api", "domain", "execution", "identity", "protocol", "store", "transport"},
    "blueprints": {"blueprints"},
    "console": {"console", "api", "domain", "transport", "store", "observability", "blueprints", "identity"},
    "projects": {"projects", "domain"},
    "cli": {"cli", "auth", "store", "store_choice", "server", "domain", "cluster", "blueprints", "projects"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name == "lamina" or name.startswith("lamina.")}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_inner_layers(layer: str) -> None:
    violations = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for module in _imports(path):
            if module in SHARED or _layer(module) in ALLOWED[layer]:
                continue
            violations.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert violations == []


def test_python_runtime_bootstrap_is_standalone() -> None:
    """It runs under interpreters that do not have Lamina installed."""
    bootstrap = PACKAGE / "execution" / "runtimes" / "python" / "bootstrap.py"
    assert _imports(bootstrap) == set()


# Services that reach their stores through store/ports.py only, so that each store can have more
# than one adapter (SQLite or files today, PostgreSQL for several servers).
THROUGH_PORTS = ("observability",)


@pytest.mark.parametrize("place", THROUGH_PORTS)
def test_these_services_reach_stores_through_ports_only(place: str) -> None:
    target = PACKAGE / place
    paths = [target] if target.is_file() else sorted(target.rglob("*.py"))
    adapters = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in paths
        for module in _imports(path)
        if module.startswith("lamina.store.") and module != "lamina.store.ports"
    ]
    assert adapters == []
