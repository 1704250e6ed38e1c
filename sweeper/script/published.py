"""A published record folder as sizing evidence: its script, the env its logged runs used, its logs' numbers.

The env is read from the folder's run command (README code blocks, then *.sh files): the
`KEY=VALUE` assignments (also `export KEY=VALUE`) in the shell block that launches the training
script; values that reference shell variables (`SEED=$SEED`) are left out. The logged numbers
are the official runs' (`sweeper.runlog`): parameters from the `...params:N` line, model and
artifact bytes averaged over the folder's seeds.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import BaseModel

from sweeper.runlog import parse_log
from sweeper.script.build import BuiltModel, build_model
from sweeper.script.format import ExportFormat, detect_format
from sweeper.script.rates import Census, census
from sweeper.script.source import ScriptSource, read_source

LOG_SUFFIXES = (".log", ".txt")
NOT_LOGS = ("requirements", "results", "readme", "license")
_ASSIGNMENT = re.compile(r"(?:^|\s)(?:export\s+)?([A-Z][A-Z0-9_]*)=(\"[^\"]*\"|'[^']*'|[^\s\\]+)")
_PARAMS = re.compile(r"^(?:\d+\.\d+ )?(?:model_)?params:\s*(\d+)", re.MULTILINE)
_CODEC = re.compile(r"^(?:\d+\.\d+ )?Serialized model [\w.]*\+(brotli|zstd|lzma|zlib)(?:-(\d+))?:", re.MULTILINE)
_LAUNCH = re.compile(r"\b(torchrun|python3?)\b")
IGNORED_ENV = {"OMP_NUM_THREADS", "NCCL_NET", "CUDA_VISIBLE_DEVICES", "DATA_DIR", "DATA_PATH", "TOKENIZER_PATH",
               "RUN_ID", "ARTIFACT_DIR", "PYTHONPATH", "NCCL_DEBUG", "SEED"}


class PublishedRecord(BaseModel):
    """One record folder's script and the numbers its logs report."""

    name: str
    script: Path
    env: dict[str, str]
    logged_params: int | None
    model_bytes: int | None  # mean over the folder's logs
    artifact_bytes: int  # mean over the folder's logs
    code_bytes: int | None
    logged_codec: tuple[str, int | None] | None  # compressor (and level) named by the log's size label


def find_records(root: Path) -> list[PublishedRecord]:
    """Every record folder under `root` with one training script and at least one log with a size."""
    records = []
    for script_dir in sorted({p.parent for p in root.rglob("train_gpt*.py")}):
        record = read_record(script_dir)
        if record is not None:
            records.append(record)
    return records


def read_record(folder: Path) -> PublishedRecord | None:
    scripts = sorted(folder.glob("train_gpt*.py"))
    logs = [p for p in sorted(folder.rglob("*")) if p.suffix in LOG_SUFFIXES and p.is_file()
            and not p.name.lower().startswith(NOT_LOGS)]
    results = [(log, parse_log(log)) for log in logs]
    results = [(log, r) for log, r in results if r.artifact_bytes]
    if len(scripts) != 1 or not results:
        return None
    params = [int(m) for log, _ in results for m in _PARAMS.findall(log.read_text(errors="replace"))]
    models = [r.model_bytes for _, r in results if r.model_bytes]
    codes = [r.code_bytes for _, r in results if r.code_bytes]
    return PublishedRecord(
        name=folder.name, script=scripts[0], env=run_env(folder, scripts[0].name),
        logged_params=params[-1] if params else None,
        model_bytes=round(statistics.mean(models)) if models else None,
        artifact_bytes=round(statistics.mean(r.artifact_bytes for _, r in results if r.artifact_bytes)),
        code_bytes=codes[-1] if codes else None, logged_codec=_logged_codec(logs))


def _logged_codec(logs: list[Path]) -> tuple[str, int | None] | None:
    """The compressor the logged runs used, from `Serialized model int6+zstd-22:`-style labels."""
    for log in logs:
        found = _CODEC.findall(log.read_text(errors="replace"))
        if found:
            name, level = found[-1]
            return name, int(level) if level else None
    return None


def run_env(folder: Path, script_name: str) -> dict[str, str]:
    """The env assignments of the shell block that launches `script_name` (README first, then *.sh)."""
    for doc in [folder / "README.md", *sorted(folder.glob("*.sh"))]:
        if not doc.is_file():
            continue
        text = doc.read_text(errors="replace")
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL) if doc.suffix == ".md" else [text]
        for block in blocks:
            if script_name not in block or not _LAUNCH.search(block):
                continue
            env: dict[str, str] = {}
            for line in block.replace("\\\n", " ").splitlines():
                if line.lstrip().startswith("#"):
                    continue
                for key, value in _ASSIGNMENT.findall(line):
                    value = value.strip("\"'")
                    if "$" not in value and key not in IGNORED_ENV:
                        env[key] = value
            return env
    return {}


@dataclass(frozen=True)
class Measured:
    """A record's script measured the way `size_script` measures it, beside its logged numbers."""

    record: PublishedRecord
    source: ScriptSource
    built: BuiltModel
    format: ExportFormat
    census: Census  # at the compressor the logged run used (it can differ from this machine's choice)
    logged_model_bytes: int


def measure(record: PublishedRecord) -> Measured:
    """Build the record's model at its logged env and take its census (BuildFailed if it cannot)."""
    source = read_source(record.script)
    built = build_model(source, record.env)
    fmt = detect_format(source.text, built.hyperparameters, built.module)
    if record.logged_codec and record.logged_codec[0] != fmt.compressor:
        fmt = replace(fmt, compressor=record.logged_codec[0], level=record.logged_codec[1])
    logged = record.model_bytes or record.artifact_bytes - (record.code_bytes or source.file_bytes)
    return Measured(record=record, source=source, built=built, format=fmt, census=census(fmt, built.state_shapes),
                    logged_model_bytes=logged)
