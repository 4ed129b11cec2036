"""The dependency rule of DESIGN.md as a check: every import points down the layers.

Layers, lowest first: ``core`` (``mechcirc.*`` outside the packages below), ``tasks``
(``mechcirc.tasks``), ``analyses`` (each ``mechcirc.analyses.<name>`` on its own: analyses share
code through the core, never through each other), ``report`` (reads run and sweep folders;
core only), ``sweep`` (runs analyses over checkpoints) and ``cli`` (anything). Imports inside
functions count too.

Run it by hand: ``python tests/layering.py`` prints each violation and exits 1 if any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package name -> folder, as pyproject.toml's package-dir maps them
PACKAGE_DIRS = {"mechcirc": "mechcirc", "mechcirc.tasks": "tasks", "mechcirc.analyses": "analyses"}
ALLOWED = {
    "core": {"core"},
    "tasks": {"tasks", "core"},
    "analyses": {"tasks", "core"},  # plus the analysis's own subpackage
    "report": {"report", "core"},
    "sweep": {"sweep", "report", "analyses", "tasks", "core"},
    "cli": {"cli", "sweep", "report", "analyses", "tasks", "core"},
}


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    imported: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported} ({layer(self.module)} may not)"


def layer(module: str) -> str:
    for prefix, name in (
        ("mechcirc.cli", "cli"),
        ("mechcirc.sweep", "sweep"),
        ("mechcirc.report", "report"),
        ("mechcirc.analyses", "analyses"),
        ("mechcirc.tasks", "tasks"),
    ):
        if module == prefix or module.startswith(prefix + "."):
            return name
    return "core"


def analysis_name(module: str) -> str | None:
    """``mechcirc.analyses.eap.attribution`` -> ``eap``; the package root -> None."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 else None


def modules(root: Path = ROOT) -> Iterator[tuple[str, Path]]:
    for package, folder in PACKAGE_DIRS.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            relative = path.relative_to(base).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if package == "mechcirc" and parts and parts[0] in ("tasks", "analyses"):
                continue  # mapped from their own folders
            yield name, path


def imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from mechcirc import analyses` imports a package
                yield node.lineno, f"{target}.{alias.name}"


def _known(target: str, names: set[str]) -> str | None:
    """The project module ``target`` names (or a prefix of it), None for third parties."""
    while target:
        if target in names:
            return target
        target = target.rpartition(".")[0]
    return None


def check(root: Path = ROOT) -> list[Violation]:
    found = dict(modules(root))
    names = set(found)
    violations = []
    for module, path in found.items():
        own = layer(module)
        for line, target in imports(module, path):
            imported = _known(target, names)
            if imported is None or imported == "mechcirc":
                continue
            other = layer(imported)
            if own == "analyses" and other == "analyses":
                mine, theirs = analysis_name(module), analysis_name(imported)
                if mine is None or theirs is None or mine == theirs:
                    continue  # the package root's curated API, or inside one analysis
                violations.append(Violation(module, line, imported))
            elif other not in ALLOWED[own]:
                violations.append(Violation(module, line, imported))
    return sorted(set(violations), key=lambda v: (v.module, v.line, v.imported))


if __name__ == "__main__":
    problems = check()
    print("\n".join(map(str, problems)) or "layering: every import points down")
    sys.exit(1 if problems else 0)
