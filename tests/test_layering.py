"""The one-way layering of docs/ARCHITECTURE.md, read from the source with `ast` (nothing is imported).

* the core (`sweeper/*` except `sweeper/tune` and `sweeper/cli`) imports neither ray nor typer;
* only `sweeper/tune` imports ray, only `sweeper/cli` imports typer, and nothing else imports
  `sweeper.cli`;
* `trainer/` imports no project code: only torch, numpy, sentencepiece, zstandard, brotli,
  flash_attn* and the standard library;
* project modules import each other without cycles.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.paths import REPO

PACKAGES = ("sweeper", "dashboards", "trainer")
TRAINER_THIRD_PARTY = frozenset({"torch", "numpy", "sentencepiece", "zstandard", "brotli"})


class Import(NamedTuple):
    module: str  # the importing project module
    target: str  # the absolute dotted name imported
    line: int
    typing_only: bool  # under `if TYPE_CHECKING:`; never runs

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def project_modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file for every module of the project packages under `root`."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every import in one module, with relative imports resolved and `from X import mod` expanded."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    typing_lines = {
        line
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for child in node.body
        for line in range(child.lineno, (child.end_lineno or child.lineno) + 1)
    }
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base]
            targets += [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
        for target in targets:
            yield Import(name, target, node.lineno, node.lineno in typing_lines)


def all_imports(root: Path) -> list[Import]:
    modules = project_modules(root)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _top(name: str) -> str:
    return name.split(".")[0]


def layering_violations(root: Path) -> list[str]:
    """Every broken layering rule under `root`, one readable line each."""
    problems = []
    for imp in all_imports(root):
        core = _in(imp.module, "sweeper") and not (
            _in(imp.module, "sweeper.tune") or _in(imp.module, "sweeper.cli")
        )
        if _top(imp.target) == "ray" and not _in(imp.module, "sweeper.tune"):
            where = "in the core" if core else "outside sweeper.tune"
            problems.append(f"{imp}: ray is imported {where}")
        if _top(imp.target) == "typer" and not _in(imp.module, "sweeper.cli"):
            where = "in the core" if core else "outside sweeper.cli"
            problems.append(f"{imp}: typer is imported {where}")
        if _in(imp.target, "sweeper.cli") and not _in(imp.module, "sweeper.cli"):
            problems.append(f"{imp}: only sweeper.cli may import sweeper.cli")
        if _in(imp.module, "trainer") and not _trainer_may_import(imp.target):
            problems.append(
                f"{imp}: trainer/ may import only {sorted(TRAINER_THIRD_PARTY)}, flash_attn* and stdlib"
            )
    return problems


def _trainer_may_import(target: str) -> bool:
    top = _top(target)
    return top in TRAINER_THIRD_PARTY or top.startswith("flash_attn") or top in sys.stdlib_module_names


def import_cycles(root: Path) -> list[list[str]]:
    """Cycles among project modules (runtime imports; a submodule importing its own package is not an edge,
    since Python always initialises the package first, e.g. `sweeper.cli.data_cmd` using `sweeper.cli.app`)."""
    modules = project_modules(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in all_imports(root):
        if imp.target in modules and not imp.typing_only and not _in(imp.module, imp.target):
            graph[imp.module].add(imp.target)
    cycles, state = [], dict.fromkeys(graph, "new")

    def visit(node: str, path: list[str]) -> None:
        state[node] = "active"
        for nxt in sorted(graph[node]):
            if state[nxt] == "active":
                cycles.append([*path[path.index(nxt) :], nxt])
            elif state[nxt] == "new":
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for start in sorted(graph):
        if state[start] == "new":
            visit(start, [start])
    return cycles


def test_project_layering_holds() -> None:
    assert len(project_modules(REPO)) > 5
    problems = layering_violations(REPO)
    assert not problems, "layering violations:\n" + "\n".join(problems)


def test_project_has_no_import_cycles() -> None:
    cycles = import_cycles(REPO)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_catches_each_kind_of_violation(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "sweeper/__init__.py": "",
            "sweeper/ledger.py": "import ray.tune\nfrom typer import Typer\n",
            "sweeper/cli/__init__.py": "import typer\n",
            "sweeper/tune/__init__.py": "import ray\n",
            "sweeper/tune/driver.py": "from ..cli import app\n",
            "dashboards/__init__.py": "import ray\n",
            "trainer/train_gpt.py": "import os, torch, flash_attn_interface\nimport pydantic\nfrom sweeper import x\n",
        },
    )
    problems = layering_violations(tmp_path)
    assert any("sweeper.ledger:1 imports ray.tune: ray is imported in the core" in p for p in problems)
    assert any("sweeper.ledger:2 imports typer: typer is imported in the core" in p for p in problems)
    assert any("dashboards:1 imports ray: ray is imported outside sweeper.tune" in p for p in problems)
    assert any("sweeper.tune.driver:1 imports sweeper.cli: only sweeper.cli" in p for p in problems)
    assert any("trainer.train_gpt:2 imports pydantic" in p for p in problems)
    assert any("trainer.train_gpt:3 imports sweeper" in p for p in problems)
    assert (
        len(problems) == 6
    )  # os, torch, flash_attn_interface, sweeper.cli's typer, sweeper.tune's ray are fine


def test_checker_finds_cycles_but_not_package_registration(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "sweeper/__init__.py": "",
            "sweeper/a.py": "from sweeper import b\n",
            "sweeper/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import sweeper.a\nimport sweeper.c\n",
            "sweeper/c.py": "from . import a\n",
            "sweeper/cli/__init__.py": "app = 1\nfrom sweeper.cli import data_cmd\n",
            "sweeper/cli/data_cmd.py": "from sweeper.cli import app\n",
        },
    )
    assert import_cycles(tmp_path) == [["sweeper.a", "sweeper.b", "sweeper.c", "sweeper.a"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_project_package_parses(package: str) -> None:
    for path in sorted((REPO / package).rglob("*.py")):
        ast.parse(path.read_bytes(), filename=str(path))
