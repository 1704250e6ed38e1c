"""A Parameter Golf script's real source: read it, and decode a compressed self-extracting stub.

Many record scripts ship as a stub of a few KB: `exec(lzma.decompress(base64.b85decode("...")))`,
or one that execs a sibling file. The stub is decoded by evaluating ONLY its decode chain on
literals (a whitelist of decompress/decode functions, walked with `ast`): the user's code is never
executed to find its source.
"""

from __future__ import annotations

import ast
import base64
import bz2
import codecs
import gzip
import lzma
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper.errors import SpaceError

MAX_STUB_STATEMENTS = 12  # a stub is a handful of imports and one exec; more is a real script


def _brotli_decompress(data: bytes) -> bytes:
    import brotli

    return brotli.decompress(data)


def _zstd_decompress(data: bytes, *_: Any) -> bytes:
    import zstandard

    return zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 28)


# module -> attribute -> value; the only callables a decode chain may use.
DECODERS: dict[str, dict[str, Any]] = {
    "lzma": {"decompress": lzma.decompress, **{k: getattr(lzma, k) for k in dir(lzma) if k.isupper()}},
    "zlib": {"decompress": zlib.decompress, "MAX_WBITS": zlib.MAX_WBITS},
    "gzip": {"decompress": gzip.decompress},
    "bz2": {"decompress": bz2.decompress},
    "brotli": {"decompress": _brotli_decompress},
    "zstandard": {"decompress": _zstd_decompress},
    "zstd": {"decompress": _zstd_decompress},
    "base64": {name: getattr(base64, name) for name in
               ("b85decode", "b64decode", "a85decode", "b32decode", "b16decode", "urlsafe_b64decode",
                "standard_b64decode", "decodebytes")},
    "codecs": {"decode": codecs.decode},
}
BYTES_METHODS = {"decode"}


@dataclass(frozen=True)
class ScriptSource:
    """The text a script runs, and how it was obtained."""

    path: Path
    text: str  # the real source (decoded when the file is a stub)
    file_bytes: int  # the file's own size on disk (the stub's size when stubbed)
    decoded_stub: bool
    stub_chain: str = ""  # e.g. "lzma.decompress(base64.b85decode(...))"


class _Unsafe(Exception):
    """The stub's exec argument uses something outside the decode whitelist."""


def read_source(path: Path) -> ScriptSource:
    """The script at `path`, decoded if it is a compressed self-extracting stub.

    Raises SpaceError (one line) if the file cannot be read or its real source does not parse.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpaceError(f"script {path}: cannot read it ({exc.strerror or exc})") from None
    text = raw.decode("utf-8", errors="replace")
    tree = _parse(path, text)
    decoded = _decode_stub(path, tree)
    if decoded is None:
        return ScriptSource(path=path, text=text, file_bytes=len(raw), decoded_stub=False)
    real, chain = decoded
    _parse(path, real, what="its decoded source")
    return ScriptSource(path=path, text=real, file_bytes=len(raw), decoded_stub=True, stub_chain=chain)


def _parse(path: Path, text: str, what: str = "it") -> ast.Module:
    try:
        return ast.parse(py311_compatible(text), filename=str(path))
    except SyntaxError as exc:
        raise SpaceError(f"script {path}: {what} has a syntax error at line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:  # e.g. null bytes
        raise SpaceError(f"script {path}: {what} is not Python source ({exc})") from None


def py311_compatible(text: str) -> str:
    """`text` with Python 3.12 f-strings that reuse their own quote inside braces rewritten for 3.11.

    Records written for 3.12 use `f"{", ".join(x)}"`; our interpreter may be 3.11. Only lines that
    3.11 rejects with an f-string error are touched, and only the inner quotes change.
    """
    for _ in range(200):
        try:
            ast.parse(text)
            return text
        except SyntaxError as exc:
            if "f-string" not in (exc.msg or "") or not exc.lineno:
                return text
            lines = text.split("\n")
            fixed = _swap_inner_fstring_quotes(lines[exc.lineno - 1])
            if fixed == lines[exc.lineno - 1]:
                return text
            lines[exc.lineno - 1] = fixed
            text = "\n".join(lines)
    return text


def _swap_inner_fstring_quotes(line: str) -> str:
    """One line with quotes equal to an enclosing f-string's quote, inside its braces, swapped."""
    out, i, n = list(line), 0, len(line)
    while i < n:
        match = re.match(r"([rRbBuUfF]{0,2})(''''|\"\"\"|'|\")", line[i:])
        if line[i] == "#":
            break
        if not match or (i > 0 and (line[i - 1].isalnum() or line[i - 1] == "_") and match.group(1)):
            i += 1
            continue
        prefix, quote = match.groups()
        i += match.end()
        depth = 0
        while i < n:
            if depth == 0 and line.startswith(quote, i):
                i += len(quote)
                break
            char = line[i]
            if char == "\\" and depth == 0:
                i += 2
                continue
            if "f" in prefix.lower():
                if char == "{" and depth == 0 and line.startswith("{{", i):
                    i += 2
                    continue
                depth += {"{": 1, "}": -1}.get(char, 0) if depth or char == "{" else 0
                if depth > 0 and len(quote) == 1 and char == quote:
                    out[i] = "'" if quote == '"' else '"'
            i += 1
    return "".join(out)


def _decode_stub(path: Path, tree: ast.Module) -> tuple[str, str] | None:
    """(real source, decode chain) when `tree` is a stub whose exec argument decodes literals."""
    if len(tree.body) > MAX_STUB_STATEMENTS:
        return None
    aliases = _import_aliases(tree)
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
                and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "exec" and stmt.value.args):
            continue
        try:
            value = _Evaluator(aliases, path).eval(stmt.value.args[0])
        except _Unsafe:
            return None
        except Exception as exc:  # noqa: BLE001 - a corrupt payload in a user's stub
            raise SpaceError(f"script {path}: its compressed stub does not decode ({type(exc).__name__}: {exc})") from None
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if isinstance(value, str):
            chain = ast.unparse(stmt.value.args[0])
            return value, chain if len(chain) < 120 else _shorten_literals(stmt.value.args[0])
    return None


def _shorten_literals(node: ast.expr) -> str:
    """The decode chain with long literals elided, for messages."""
    class Shorten(ast.NodeTransformer):
        def visit_Constant(self, c: ast.Constant) -> ast.AST:
            return ast.Constant("...") if isinstance(c.value, (str, bytes)) and len(c.value) > 40 else c

    return ast.unparse(Shorten().visit(ast.parse(ast.unparse(node), mode="eval")))


def _import_aliases(tree: ast.Module) -> dict[str, Any]:
    """Names bound by the stub's imports, resolved to whitelisted modules/functions only."""
    names: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name in DECODERS:
                    names[alias.asname or alias.name] = DECODERS[alias.name]
        elif isinstance(stmt, ast.ImportFrom) and stmt.module in DECODERS:
            for alias in stmt.names:
                if alias.name in DECODERS[stmt.module]:
                    names[alias.asname or alias.name] = DECODERS[stmt.module][alias.name]
    return names


class _Evaluator:
    """Evaluates a decode chain: literals, whitelisted decoders, and reading a sibling file."""

    def __init__(self, names: dict[str, Any], path: Path) -> None:
        self.names = names
        self.path = path

    def eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.eval(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values, strict=True) if k is not None}
        if isinstance(node, ast.Name):
            if node.id == "__file__":
                return str(self.path)
            if node.id in self.names:
                return self.names[node.id]
            raise _Unsafe(node.id)
        if isinstance(node, ast.Attribute):
            base = self.eval(node.value)
            if isinstance(base, dict) and node.attr in base:
                return base[node.attr]
            raise _Unsafe(node.attr)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise _Unsafe(type(node).__name__)

    def _call(self, node: ast.Call) -> Any:
        args = [self.eval(a) for a in node.args]
        kwargs = {k.arg: self.eval(k.value) for k in node.keywords if k.arg}
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in BYTES_METHODS | {"read", "read_text", "read_bytes"}:
            target = self.eval(func.value)
            if isinstance(target, (bytes, str)) and func.attr == "decode":
                return target.decode(*args, **kwargs) if isinstance(target, bytes) else target
            if isinstance(target, _SiblingFile):
                return target.read(binary=func.attr == "read_bytes" or "b" in target.mode)
            raise _Unsafe(func.attr)
        if isinstance(func, ast.Name) and func.id == "compile" and args:
            return args[0]  # exec(compile(source, name, "exec")): the source is what is run
        if isinstance(func, ast.Name) and func.id in {"open", "Path"} and args:
            return _SiblingFile(self.path, str(args[0]), str(args[1]) if len(args) > 1 else kwargs.get("mode", "r"))
        fn: Callable[..., Any] = self.eval(func)
        if not callable(fn):
            raise _Unsafe(ast.unparse(func))
        return fn(*args, **kwargs)


class _SiblingFile:
    """A file the stub reads: only a file in the script's own folder."""

    def __init__(self, script: Path, name: str, mode: str) -> None:
        self.file = (script.parent / Path(name).name)
        self.mode = mode

    def read(self, binary: bool) -> bytes | str:
        if not self.file.is_file():
            raise FileNotFoundError(f"the stub reads {self.file.name}, which is not beside it")
        return self.file.read_bytes() if binary else self.file.read_text()
