"""Rules for the trainer's source: submission-sized, self-contained, configured in one place."""

from __future__ import annotations

import ast
import importlib.util
import sys

import pytest

from tests.paths import TRAINER

SOURCE = TRAINER.read_text(encoding="utf-8")
TREE = ast.parse(SOURCE)
ALLOWED_THIRD_PARTY = {"torch", "numpy", "sentencepiece", "zstandard"}  # the records' requirements
OPTIONAL_IMPORTS = {"brotli"}  # only inside a try/except ImportError (COMPRESSOR=auto skips it when absent)


def _imported_roots(nodes: list[ast.AST]) -> set[str]:
    roots = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_at_most_1800_lines() -> None:
    assert len(SOURCE.splitlines()) <= 1800


def test_imports_only_the_submission_dependencies() -> None:
    top_level = _imported_roots(TREE.body)
    assert top_level - sys.stdlib_module_names - {"__future__"} <= ALLOWED_THIRD_PARTY
    nested = _imported_roots([node for node in ast.walk(TREE) if node not in TREE.body])
    assert nested - sys.stdlib_module_names == OPTIONAL_IMPORTS
    guarded = [node for node in ast.walk(TREE) if isinstance(node, ast.Try)
               and any(ast.unparse(h.type) == "ImportError" for h in node.handlers if h.type is not None)]
    assert _imported_roots([n for t in guarded for stmt in t.body for n in ast.walk(stmt)]) >= OPTIONAL_IMPORTS


def test_environment_is_read_only_by_main_and_init_runtime() -> None:
    readers = {
        func.name
        for func in ast.walk(TREE)
        if isinstance(func, ast.FunctionDef)
        for node in ast.walk(func)
        if isinstance(node, ast.Attribute) and node.attr == "environ"
    }
    assert readers == {"main", "init_runtime"}
    module_level = [node for node in TREE.body if not isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    module_level_nodes = [n for node in module_level for n in ast.walk(node)]
    assert not any(isinstance(n, ast.Attribute) and n.attr == "environ" for n in module_level_nodes)


def test_no_global_statements() -> None:
    assert not any(isinstance(node, ast.Global) for node in ast.walk(TREE))


def test_importing_has_no_side_effects(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("train_gpt_import_probe", TRAINER)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert callable(module.main)
    assert list(tmp_path.iterdir()) == []
    assert capsys.readouterr() == ("", "")
