"""`pgolf data demo` and `pgolf data check`: build the offline demo dataset, verify any dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sweeper.cli import app
from sweeper.cli.common import console, friendly_errors, print_json, progress_bars
from sweeper.data.check import DatasetReport, SplitReport, check_dataset
from sweeper.data.demo import DemoDataset, build_demo_dataset, load_demo_dataset

data_app = typer.Typer(
    help="Build and verify datasets in the official Parameter Golf shard format.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@data_app.command("demo")
@friendly_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Directory to build the demo dataset in.")] = Path(
        "demo-data"
    ),
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if a complete build is there.")
    ] = False,
) -> None:
    """Build the offline demo dataset (CPython's own docs, official sp1024 format) for tiny CPU runs."""
    reused = not force and load_demo_dataset(out) is not None
    with progress_bars() as progress:
        dataset = build_demo_dataset(out, force=force, progress=progress)
    console.print(_demo_table(dataset, reused))
    env = " ".join(f"{key}={value}" for key, value in dataset.trainer_env().items())
    console.print(f"Train on it: {env} python trainer/train_gpt.py", highlight=False, soft_wrap=True)


@data_app.command("check")
@friendly_errors
def check(
    data_dir: Annotated[
        Path,
        typer.Argument(help="Dataset directory with fineweb_{train,val}_*.bin (the trainer's DATA_PATH)."),
    ],
    tokenizer: Annotated[
        Path, typer.Option("--tokenizer", help="SentencePiece .model the shards were encoded with.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="Check every header but scan only a sample of each train shard.")
    ] = False,
) -> None:
    """Verify shard headers, token ids and BOS layout; print the data fingerprint and bytes/token."""
    with progress_bars() as progress:
        report = check_dataset(data_dir, tokenizer, quick=quick, progress=progress)
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        console.print(_check_table(report))


def _demo_table(dataset: DemoDataset, reused: bool) -> Table:
    state = "reused existing build" if reused else "built"
    table = Table(title=f"Demo dataset ({state}, Python {dataset.python_version} stdlib text)")
    table.add_column("item")
    table.add_column("value", overflow="fold")
    table.add_row("DATA_PATH", str(dataset.data_dir))
    table.add_row("TOKENIZER_PATH", str(dataset.tokenizer_path))
    table.add_row("vocab size", str(dataset.vocab_size))
    table.add_row(
        "train",
        f"{dataset.train_tokens:,} tokens, {dataset.train_docs:,} docs, {dataset.train_shards} shards",
    )
    table.add_row("val", f"{dataset.val_tokens:,} tokens, {dataset.val_docs:,} docs")
    return table


def _check_table(report: DatasetReport) -> Table:
    table = Table(title=f"Dataset OK: {report.data_dir}")
    table.add_column("item")
    table.add_column("value", overflow="fold")
    table.add_row("tokenizer", f"{report.tokenizer_path} (vocab {report.vocab_size}, BOS {report.bos_id})")
    table.add_row("val", _split_summary(report.val))
    table.add_row("train", _split_summary(report.train))
    table.add_row("val bytes", f"{report.val_bytes:,} ({report.bytes_per_token:.4f} bytes/token)")
    table.add_row("val_bpb / val_loss", f"{report.bpb_per_loss:.6f}")
    table.add_row("fingerprint", f"[bold]{report.fingerprint_short}[/]")
    table.add_row("fingerprint (sha256)", report.fingerprint)
    return table


def _split_summary(split: SplitReport) -> str:
    docs = f"{split.documents:,} docs" if split.documents is not None else "docs not counted (--quick)"
    sampled = "" if split.scanned_tokens == split.tokens else f", {split.scanned_tokens:,} scanned"
    return f"{split.tokens:,} tokens in {split.shards} shards, {docs}{sampled}"
