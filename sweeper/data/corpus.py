"""The demo corpus: English prose that ships with every CPython install, as ordered documents.

The prose of the standard library is every module's docstrings and full-line comment blocks (read
with `ast`, never imported, so nothing runs), plus the `pydoc_data.topics` help pages. Long texts
are cut at paragraph boundaries into documents of at most `MAX_DOC_CHARS`, and the documents are
put in a fixed pseudo-random order (sha256 of their names), so any first-N split mixes every source.

The text is a pure function of the CPython version: folders that some installs lack or that hold
build-specific files are skipped, and files are visited in sorted order.
"""

from __future__ import annotations

import ast
import functools
import gc
import hashlib
import os
import re
import sysconfig
from pathlib import Path
from typing import NamedTuple

MAX_DOC_CHARS = 4000  # ~1k tokens per document, about the FineWeb average

# Standard-library folders that some installs lack (Debian splits them into other packages, the
# official Docker images delete the tests) or that hold build-specific files; skipping them makes
# the corpus the same on every install of one CPython version.
SKIPPED_DIRS = frozenset(
    {
        "site-packages",
        "dist-packages",
        "__pycache__",
        "test",
        "tests",
        "idle_test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "lib2to3",
        "distutils",
        "ensurepip",
        "msilib",
        "venv",
        "__phello__",
    }
)
DOCSTRING_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
COMMENT_LINE = re.compile(r"^[ \t]*#[ \t]?(.*)$")
NOT_PROSE = re.compile(r"^!|-\*-|coding[:=]|vim:")  # shebangs, encoding cookies, editor modelines


class Document(NamedTuple):
    """A named text: `json/decoder.py#0` (module path, part) or `pydoc:assert#0`."""

    name: str
    text: str


@functools.cache  # a pure function of the Python install; reading it takes seconds
def demo_documents() -> tuple[Document, ...]:
    """The whole corpus as documents, in their fixed export order."""
    sources = [*stdlib_texts(), *pydoc_topic_texts()]
    docs = [piece for source in sources for piece in split_document(source)]
    return tuple(sorted(docs, key=lambda doc: hashlib.sha256(doc.name.encode()).digest()))


def stdlib_texts() -> list[Document]:
    """One text per standard-library module (sorted paths): its docstrings and comments."""
    texts = []
    gc.disable()  # building hundreds of ASTs is much faster without cyclic GC passes
    try:
        for name, path in stdlib_sources():
            if text := module_prose(path.read_text(encoding="utf-8")):
                texts.append(Document(name, text))
    finally:
        gc.enable()
    return texts


def stdlib_sources() -> list[tuple[str, Path]]:
    """(relative posix name, path) of the standard library's portable `.py` files, sorted by name."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    sources = []
    for folder, subdirs, files in os.walk(lib):
        subdirs[:] = [d for d in subdirs if d not in SKIPPED_DIRS and not d.startswith("config-")]
        for file in files:
            if file.endswith(".py") and not file.startswith("_sysconfigdata"):
                path = Path(folder, file)
                sources.append((path.relative_to(lib).as_posix(), path))
    return sorted(sources)


def pydoc_topic_texts() -> list[Document]:
    """The interactive-help pages (`help('assert')` ...) in sorted topic order."""
    from pydoc_data.topics import topics

    return [Document(f"pydoc:{name}", topics[name]) for name in sorted(topics)]


def module_prose(source: str) -> str:
    """A module's prose in source order: its docstrings and full-line comment blocks.

    Only statements are visited (expressions are ~5x more nodes): a multi-line simple statement,
    a docstring or any other string, hides its lines from the comment scan, so a `#` inside a string
    is never taken for a comment (the few comments inside multi-line brackets are dropped too).
    """
    pieces: list[tuple[int, str]] = []
    code_lines: set[int] = set()
    stack: list[ast.AST] = [ast.parse(source)]
    while stack:
        node = stack.pop()
        if isinstance(node, DOCSTRING_OWNERS) and (doc := ast.get_docstring(node)):
            pieces.append((node.body[0].lineno, doc))
        if isinstance(node, ast.stmt) and not hasattr(node, "body") and node.end_lineno != node.lineno:
            code_lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            stack.extend(getattr(node, field, ()))
    block: list[str] = []
    for number, line in enumerate([*source.splitlines(), ""], 1):
        match = COMMENT_LINE.match(line) if number not in code_lines else None
        if match and not NOT_PROSE.search(match.group(1)):
            block.append(match.group(1).rstrip())
            continue
        text = "\n".join(block).strip()
        if text and sum(map(str.isalpha, text)) * 2 > len(text):  # drop rulers and symbol art
            pieces.append((number - len(block), text))
        block = []
    pieces.sort(key=lambda piece: piece[0])
    return "\n\n".join(text for _, text in pieces)


def split_document(doc: Document) -> list[Document]:
    """Cut a long text at paragraph boundaries into documents of at most MAX_DOC_CHARS."""
    chunks: list[list[str]] = [[]]
    size = 0
    for paragraph in doc.text.split("\n\n"):
        if chunks[-1] and size + len(paragraph) > MAX_DOC_CHARS:
            chunks.append([])
            size = 0
        chunks[-1].append(paragraph)
        size += len(paragraph) + 2
    texts = ["\n\n".join(chunk).strip() for chunk in chunks]
    return [Document(f"{doc.name}#{index}", text) for index, text in enumerate(texts) if text]
