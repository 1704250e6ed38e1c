"""The offline demo dataset: official layout and tokenizer settings, determinism, reuse."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

from sweeper.data.corpus import demo_documents
from sweeper.data.demo import NUM_VAL_DOCS, DemoDataset, build_demo_dataset, load_demo_dataset
from sweeper.data.shards import read_header, read_shard, shard_paths


def _file_hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _documents(tokens: np.ndarray) -> list[list[int]]:
    """Split a BOS-delimited stream (BOS = 1) into documents without their BOS."""
    starts = [*np.flatnonzero(tokens == 1).tolist(), tokens.size]
    return [tokens[a + 1 : b].tolist() for a, b in itertools.pairwise(starts)]


def test_layout_matches_the_trainer_contract(demo_data: DemoDataset) -> None:
    assert demo_data.data_dir.is_dir()
    assert demo_data.tokenizer_path.suffix == ".model"
    assert [p.name for p in shard_paths(demo_data.data_dir, "val")] == ["fineweb_val_000000.bin"]
    train = shard_paths(demo_data.data_dir, "train")
    assert [p.name for p in train] == [f"fineweb_train_{i:06d}.bin" for i in range(demo_data.train_shards)]
    assert demo_data.train_shards >= 2  # the demo exercises multi-shard loading
    assert demo_data.trainer_env() == {
        "DATA_PATH": str(demo_data.data_dir),
        "TOKENIZER_PATH": str(demo_data.tokenizer_path),
        "VOCAB_SIZE": "1024",
    }


def test_sized_for_tiny_cpu_training(demo_data: DemoDataset) -> None:
    assert 800_000 <= demo_data.train_tokens <= 3_000_000
    assert 80_000 <= demo_data.val_tokens <= 250_000
    assert demo_data.val_docs == NUM_VAL_DOCS


def test_tokenizer_uses_the_official_sp1024_settings(demo_data: DemoDataset) -> None:
    model = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]  # generated protobuf
    model.ParseFromString(demo_data.tokenizer_path.read_bytes())
    spec = model.trainer_spec
    assert spec.model_type == sentencepiece_model_pb2.TrainerSpec.BPE  # type: ignore[attr-defined]
    assert (spec.vocab_size, spec.character_coverage) == (1024, pytest.approx(0.999))
    assert spec.byte_fallback and spec.split_digits
    assert (spec.pad_id, spec.bos_id, spec.eos_id, spec.unk_id) == (0, 1, 2, 3)
    assert model.normalizer_spec.name == "nmt_nfkc"
    assert not model.normalizer_spec.add_dummy_prefix
    sp = spm.SentencePieceProcessor(model_file=str(demo_data.tokenizer_path))
    assert sp.vocab_size() == demo_data.vocab_size == 1024
    assert sp.encode("2024", out_type=str) == ["2", "0", "2", "4"]
    emoji = "\U0001f600"
    assert sp.encode(emoji, out_type=str) == ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]


def test_counts_match_the_shard_files(demo_data: DemoDataset) -> None:
    val = np.concatenate([read_shard(p) for p in shard_paths(demo_data.data_dir, "val")])
    train = np.concatenate([read_shard(p) for p in shard_paths(demo_data.data_dir, "train")])
    assert val.size == demo_data.val_tokens
    assert sum(read_header(p) for p in shard_paths(demo_data.data_dir, "train")) == demo_data.train_tokens
    assert val[0] == 1 and train[0] == 1
    assert int(np.count_nonzero(val == 1)) == demo_data.val_docs
    assert int(np.count_nonzero(train == 1)) == demo_data.train_docs
    assert not np.isin(np.concatenate([val, train]), [0, 2]).any()  # no PAD, no EOS


def test_each_document_is_bos_plus_its_encoding_and_val_comes_first(demo_data: DemoDataset) -> None:
    sp = spm.SentencePieceProcessor(model_file=str(demo_data.tokenizer_path))
    docs = demo_documents()
    val = read_shard(shard_paths(demo_data.data_dir, "val")[0])
    train_head = read_shard(shard_paths(demo_data.data_dir, "train")[0])
    assert _documents(val) == sp.encode([doc.text for doc in docs[:NUM_VAL_DOCS]], out_type=int)
    assert _documents(train_head)[:3] == sp.encode(
        [doc.text for doc in docs[NUM_VAL_DOCS:][:3]], out_type=int
    )


def test_two_builds_in_different_directories_are_byte_identical(
    demo_data: DemoDataset, tmp_path: Path
) -> None:
    demo_documents.cache_clear()  # a full second build: read the standard library again
    second = build_demo_dataset(tmp_path / "again")
    assert _file_hashes(second.root) == _file_hashes(demo_data.root)
    assert second.model_dump(exclude={"root", "data_dir", "tokenizer_path"}) == demo_data.model_dump(
        exclude={"root", "data_dir", "tokenizer_path"}
    )


def test_complete_build_is_reused_without_rewriting(demo_data: DemoDataset) -> None:
    before = {p: p.stat().st_mtime_ns for p in demo_data.root.rglob("*") if p.is_file()}
    assert build_demo_dataset(demo_data.root) == demo_data
    assert {p: p.stat().st_mtime_ns for p in demo_data.root.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("damage", ["truncate shard", "delete tokenizer", "delete manifest", "old format"])
def test_incomplete_build_is_not_reused(demo_data: DemoDataset, tmp_path: Path, damage: str) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(demo_data.root, copy)
    assert load_demo_dataset(copy) is not None
    if damage == "truncate shard":
        shard = copy / demo_data.data_dir.relative_to(demo_data.root) / "fineweb_train_000001.bin"
        shard.write_bytes(shard.read_bytes()[:-2])
    elif damage == "delete tokenizer":
        (copy / demo_data.tokenizer_path.relative_to(demo_data.root)).unlink()
    elif damage == "delete manifest":
        (copy / "demo.json").unlink()
    else:
        manifest = copy / "demo.json"
        manifest.write_text(manifest.read_text().replace('"format": 1', '"format": 0'))
    assert load_demo_dataset(copy) is None


def test_force_rebuilds_and_removes_stale_shards(demo_data: DemoDataset, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(demo_data.root, copy)
    data_dir = copy / demo_data.data_dir.relative_to(demo_data.root)
    stale = data_dir / "fineweb_train_000099.bin"
    stale.write_bytes(b"stale")
    tokenizer = copy / demo_data.tokenizer_path.relative_to(demo_data.root)
    os.utime(tokenizer, ns=(0, 0))
    rebuilt = build_demo_dataset(copy, force=True)
    assert not stale.exists()
    assert tokenizer.stat().st_mtime_ns != 0
    assert _file_hashes(copy) == _file_hashes(demo_data.root)
    assert rebuilt.data_dir == data_dir.resolve()
