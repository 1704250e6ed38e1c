"""An offline demo dataset in the official sp1024 format, built from English text shipped with CPython.

The text is the prose of the standard library (`sweeper.data.corpus`), whose documents come in a
fixed pseudo-random order, so the first `NUM_VAL_DOCS` of them form a validation split that mixes
every source, like the official export.

Everything else copies the official `data/download_hf_docs_and_tokenize.py`: a SentencePiece BPE
tokenizer with the `sp_bpe_1024` settings trained on all documents, each document exported as
`[BOS] + sp.encode(text)` with no EOS, documents concatenated across shard boundaries.

Layout (the official one under another dataset name; the trainer reads `DATA_PATH=data_dir`):

    <out>/datasets/demo_sp1024/fineweb_train_000000.bin ...   train shards of SHARD_TOKENS
    <out>/datasets/demo_sp1024/fineweb_val_000000.bin         validation split
    <out>/tokenizers/demo_1024_bpe.model                      TOKENIZER_PATH
    <out>/demo.json                                           written last: marks a complete build

Two builds with the same Python patch version give byte-identical files; another CPython version
ships other text and so gives another (equally valid) dataset with another fingerprint.
"""

from __future__ import annotations

import io
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm
from pydantic import BaseModel, ConfigDict, ValidationError

from sweeper.data import ProgressFn
from sweeper.data.corpus import Document, demo_documents
from sweeper.data.shards import shard_name, write_shard
from sweeper.errors import DataError

DEMO_FORMAT = 1  # bump whenever the corpus recipe or layout changes, so old builds are rebuilt
VOCAB_SIZE = 1024
NUM_VAL_DOCS = 128  # ~120k validation tokens
SHARD_TOKENS = 2**19  # small shards so the demo exercises multi-shard loading
DATASET_DIR = Path("datasets") / "demo_sp1024"
TOKENIZER_FILE = Path("tokenizers") / "demo_1024_bpe.model"
MANIFEST_FILE = "demo.json"

# The official `sp_bpe_1024` trainer settings, plus what makes training reproducible: one thread
# and every sentence used in the given order (no sampling, so no shuffling).
TOKENIZER_SETTINGS: dict[str, Any] = {
    "model_type": "bpe",
    "vocab_size": VOCAB_SIZE,
    "character_coverage": 0.999,
    "byte_fallback": True,
    "split_digits": True,
    "normalization_rule_name": "nmt_nfkc",
    "add_dummy_prefix": False,
    "pad_id": 0,
    "bos_id": 1,
    "eos_id": 2,
    "unk_id": 3,
    "hard_vocab_limit": False,
    "num_threads": 1,
    "input_sentence_size": 0,
    "shuffle_input_sentence": False,
    "minloglevel": 2,
}
TOKENIZER_SEED = 1337


class DemoCounts(BaseModel):
    """What a demo build holds (shared by the dataset handle and its `demo.json` manifest)."""

    python_version: str
    vocab_size: int
    train_tokens: int
    val_tokens: int
    train_docs: int
    val_docs: int


class DemoDataset(DemoCounts):
    """A built demo dataset: where it is and what it holds."""

    model_config = ConfigDict(frozen=True)

    root: Path
    data_dir: Path
    tokenizer_path: Path
    train_shards: int

    def trainer_env(self) -> dict[str, str]:
        """The environment variables that point `train_gpt.py` at this dataset."""
        return {
            "DATA_PATH": str(self.data_dir),
            "TOKENIZER_PATH": str(self.tokenizer_path),
            "VOCAB_SIZE": str(self.vocab_size),
        }


class DemoManifest(DemoCounts):
    """`demo.json`: the build summary plus every file's size, to tell a complete build."""

    format: int
    files: dict[str, int]


def build_demo_dataset(out: Path, *, force: bool = False, progress: ProgressFn | None = None) -> DemoDataset:
    """Build the demo dataset under `out`, or reuse a complete build already there (unless `force`)."""
    out = Path(out).resolve()
    if not force and (existing := load_demo_dataset(out)) is not None:
        return existing
    report = progress or _no_progress
    try:
        (out / MANIFEST_FILE).unlink(missing_ok=True)
        data_dir = out / DATASET_DIR
        data_dir.mkdir(parents=True, exist_ok=True)
        for stale in data_dir.glob("fineweb_*.bin"):
            stale.unlink()
        (out / TOKENIZER_FILE).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot write the demo dataset to {out}: {exc.strerror or exc}") from None

    report("read stdlib", 0, 0)
    docs = demo_documents()
    report("read stdlib", 1, 1)
    report("train tokenizer", 0, 1)
    model = train_tokenizer(docs)
    (out / TOKENIZER_FILE).write_bytes(model)
    report("train tokenizer", 1, 1)
    sp = spm.SentencePieceProcessor(model_proto=model)

    report("encode", 0, len(docs))
    encoded = sp.encode([doc.text for doc in docs], out_type=int)
    report("encode", len(docs), len(docs))
    bos = np.array([sp.bos_id()], dtype=np.uint16)
    streams = [np.concatenate([bos, np.asarray(ids, dtype=np.uint16)]) for ids in encoded]
    val = np.concatenate(streams[:NUM_VAL_DOCS])
    train = np.concatenate(streams[NUM_VAL_DOCS:])
    files = {str(TOKENIZER_FILE): len(model)}
    files |= _write_split(out, "val", val)
    files |= _write_split(out, "train", train)
    manifest = DemoManifest(
        format=DEMO_FORMAT,
        python_version=platform.python_version(),
        vocab_size=sp.vocab_size(),
        train_tokens=train.size,
        val_tokens=val.size,
        train_docs=len(docs) - NUM_VAL_DOCS,
        val_docs=NUM_VAL_DOCS,
        files=files,
    )
    partial = out / f"{MANIFEST_FILE}.partial"
    partial.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    partial.replace(out / MANIFEST_FILE)
    return _dataset(out, manifest)


def load_demo_dataset(out: Path) -> DemoDataset | None:
    """The demo dataset under `out` if a complete build of the current format is there, else None."""
    out = Path(out).resolve()
    try:
        manifest = DemoManifest.model_validate_json((out / MANIFEST_FILE).read_bytes())
    except (OSError, ValidationError):
        return None
    if manifest.format != DEMO_FORMAT:
        return None
    for name, size in manifest.files.items():
        path = out / name
        if not path.is_file() or path.stat().st_size != size:
            return None
    return _dataset(out, manifest)


def train_tokenizer(docs: Sequence[Document]) -> bytes:
    """Train the SentencePiece BPE model on every paragraph of `docs`; returns the `.model` bytes."""
    paragraphs = (p.strip() for doc in docs for p in doc.text.split("\n\n") if p.strip())
    model = io.BytesIO()  # an in-memory writer keeps output paths out of the model file
    spm.set_random_generator_seed(TOKENIZER_SEED)
    spm.SentencePieceTrainer.train(sentence_iterator=paragraphs, model_writer=model, **TOKENIZER_SETTINGS)
    return model.getvalue()


def _write_split(out: Path, split: str, tokens: np.ndarray) -> dict[str, int]:
    """Write one split as shards of SHARD_TOKENS; returns {relative path: file size}."""
    files = {}
    for index, start in enumerate(range(0, tokens.size, SHARD_TOKENS)):
        relative = DATASET_DIR / shard_name(split, index)
        write_shard(out / relative, tokens[start : start + SHARD_TOKENS])
        files[str(relative)] = (out / relative).stat().st_size
    return files


def _dataset(out: Path, manifest: DemoManifest) -> DemoDataset:
    return DemoDataset(
        root=out,
        data_dir=out / DATASET_DIR,
        tokenizer_path=out / TOKENIZER_FILE,
        train_shards=sum(1 for name in manifest.files if "fineweb_train_" in name),
        **manifest.model_dump(include=set(DemoCounts.model_fields)),
    )


def _no_progress(stage: str, done: int, total: int) -> None:
    del stage, done, total
