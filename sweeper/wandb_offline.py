"""Read offline W&B run files (`offline-run-*/run-<id>.wandb`) without the network.

wandb 0.31 has no public reader for these files. The format is a 7-byte header (`:W&B` + version)
followed by a LevelDB-log-framed stream: 32 KiB blocks of records, each with a 7-byte header
(crc32c: 4 bytes, length: 2 bytes little-endian, type: 1 byte; FULL=1, FIRST=2, MIDDLE=3, LAST=4);
a block tail shorter than a header is zero padding. Each reassembled payload is a
`wandb_internal_pb2.Record`. We do not check the CRCs: the reader serves tests, dashboards and
`pgolf sync --dry-run`, and a torn tail (a killed writer) simply ends the stream.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

_FILE_HEADER = 7
_BLOCK = 32 * 1024
_RECORD_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


class OfflineArtifact(BaseModel):
    """An artifact the run logged: name, type, and its files (`path` in the artifact -> local copy)."""

    name: str
    type: str
    files: dict[str, str] = Field(default_factory=dict)


class OfflineRun(BaseModel):
    """What an offline run recorded: identity, config, history rows, final summary, artifacts, exit code."""

    path: Path
    run_id: str = ""
    project: str = ""
    group: str = ""
    job_type: str = ""
    name: str = ""
    tags: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    history: list[dict[str, Any]] = Field(default_factory=list)
    summary: dict[str, Any] = Field(default_factory=dict)
    artifacts: list[OfflineArtifact] = Field(default_factory=list)
    exit_code: int | None = None


def _payloads(data: bytes) -> Iterator[bytes]:
    """Reassemble the LevelDB-log records that follow the file header."""
    pos, pending = _FILE_HEADER, b""
    while pos + _RECORD_HEADER <= len(data):
        left_in_block = _BLOCK - (pos % _BLOCK)
        if left_in_block < _RECORD_HEADER:  # block trailer padding
            pos += left_in_block
            continue
        length, kind = struct.unpack_from("<HB", data, pos + 4)
        start, pos = pos + _RECORD_HEADER, pos + _RECORD_HEADER + length
        if kind == 0 or pos > len(data):  # zero fill or a torn tail
            return
        chunk = data[start:pos]
        if kind == _FULL:
            yield chunk
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            yield pending + chunk
            pending = b""


def _items(items: Any) -> dict[str, Any]:
    """`{key: json value}` for config/summary/history items (nested keys joined with '.')."""
    out: dict[str, Any] = {}
    for item in items:
        key = item.key or ".".join(item.nested_key)
        out[key] = json.loads(item.value_json) if item.value_json else None
    return out


def read_offline_run(path: Path) -> OfflineRun:
    """Parse one `run-<id>.wandb` file (or the `offline-run-*` directory holding it)."""
    from wandb.proto import wandb_internal_pb2 as pb  # heavy import; only needed here

    path = Path(path)
    if path.is_dir():
        path = next(path.glob("run-*.wandb"))
    run = OfflineRun(path=path)
    for payload in _payloads(path.read_bytes()):
        record = pb.Record()  # type: ignore[attr-defined]
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.run_id, run.project, run.group = r.run_id, r.project, r.run_group
            run.job_type, run.name, run.tags = r.job_type, r.display_name, list(r.tags)
            run.config.update(_items(r.config.update))
        elif kind == "config":
            run.config.update(_items(record.config.update))
        elif kind == "history":
            run.history.append(_items(record.history.item))
        elif kind == "summary":
            run.summary.update(_items(record.summary.update))
        elif kind == "artifact":
            a = record.artifact
            run.artifacts.append(OfflineArtifact(name=a.name, type=a.type,
                                                 files={e.path: e.local_path for e in a.manifest.contents}))
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def find_offline_runs(root: Path) -> list[Path]:
    """Every offline run directory under `root` (a sweep's `wandb/` folder or above), sorted."""
    return sorted(p for p in Path(root).rglob("offline-run-*") if p.is_dir())
