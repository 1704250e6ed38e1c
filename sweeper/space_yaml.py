"""Reading a space file strictly: UTF-8 text only, YAML without duplicate keys, one-line errors.

PyYAML silently keeps the last of two equal keys (`seeds:` twice), accepts any bytes the reader
decodes, and recurses without bound on deeply nested flow collections; a space author gets a
`SpaceError` naming the file, the line and what is wrong instead.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from sweeper.errors import SpaceError
from sweeper.space_errors import yaml_problem

MAX_SPACE_BYTES = 1_000_000  # a search space is a page of YAML; anything larger is the wrong file


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: let SafeLoader report it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given at line {first})", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, source: str) -> Any:
    """The YAML document in `text`; any problem is a SpaceError `source: ...` (one line)."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise SpaceError(f"{source}: {yaml_problem(exc)}") from None
    except RecursionError:
        raise SpaceError(f"{source}: invalid YAML: nested too deeply") from None


def read_space_text(path: Path) -> str:
    """The text of a space file: a regular file of UTF-8 text, at most MAX_SPACE_BYTES."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SpaceError(f"{path}: cannot read space file (not a regular file)")
        if info.st_size > MAX_SPACE_BYTES:
            raise SpaceError(f"{path}: {info.st_size:,} bytes is not a search space (at most {MAX_SPACE_BYTES:,})")
        data = path.read_bytes()
    except OSError as exc:
        raise SpaceError(f"{path}: cannot read space file ({exc.strerror or exc})") from None
    if b"\x00" in data:
        raise SpaceError(f"{path}: a binary file, not a YAML search space (NUL byte at offset {data.index(0)})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpaceError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                         "save the space as UTF-8") from None
