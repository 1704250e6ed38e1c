"""The script's bytes as its own `Code size:` line counts them.

Most scripts count their file (`len(code.encode())`; a stub counts itself). Scripts that log
`Code size (compressed)` count a self-extracting wrapper of their minified source instead
(`exec(<codec>.decompress(base64.b85decode("...")))`); that wrapper is rebuilt here with docstrings
dropped, `ast.unparse` and one-space indents as the minifier (within ~2% of python_minifier's).
"""

from __future__ import annotations

import ast
import base64
import re

from sweeper.script.rates import compress
from sweeper.script.source import ScriptSource, py311_compatible

WRAPPER = len(b'import brotli as B,base64 as A\nexec(B.decompress(A.b85decode("")))\n')


def code_bytes(source: ScriptSource) -> int:
    if source.decoded_stub or "Code size (compressed)" not in source.text:
        return source.file_bytes
    codec = re.search(r"(brotli|lzma|zlib|zstd)\w*\.compress\((?:minified|code)", source.text)
    tree = ast.parse(py311_compatible(source.text))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and _is_docstring(body[0]):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    # one space per indent level, as minifiers write it (ast.unparse puts every statement on one line)
    minified = re.sub(r"^((?:    )+)", lambda m: " " * (len(m.group(1)) // 4), ast.unparse(tree), flags=re.MULTILINE)
    packed = compress(minified.encode(), codec.group(1) if codec else "brotli", None)
    return len(base64.b85encode(packed)) + WRAPPER


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)
