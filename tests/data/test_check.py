"""Dataset verification: counts, byte accounting, fingerprint, and one-line errors."""

from __future__ import annotations

import hashlib
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm

from sweeper.data import check
from sweeper.data.check import check_dataset, dataset_fingerprint
from sweeper.data.demo import DemoDataset
from sweeper.data.shards import read_shard, shard_paths, write_shard
from sweeper.errors import DataError
from tests.data.conftest import DatasetCopy, overwrite_magic


def _val_tokens(data_dir: Path) -> np.ndarray:
    return np.concatenate([read_shard(p) for p in shard_paths(data_dir, "val")])


def _error(copy: DatasetCopy, **kwargs: object) -> str:
    with pytest.raises(DataError) as exc:
        check_dataset(copy.data_dir, copy.tokenizer, **kwargs)  # type: ignore[arg-type]
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_demo_dataset_passes_with_consistent_counts(demo_data: DemoDataset) -> None:
    report = check_dataset(demo_data.data_dir, demo_data.tokenizer_path)
    assert report.vocab_size == demo_data.vocab_size and report.bos_id == 1
    assert (report.val.tokens, report.val.documents, report.val.shards) == (
        demo_data.val_tokens,
        demo_data.val_docs,
        1,
    )
    assert (report.train.tokens, report.train.documents, report.train.shards) == (
        demo_data.train_tokens,
        demo_data.train_docs,
        demo_data.train_shards,
    )
    assert report.train.scanned_tokens == report.train.tokens and not report.quick


def test_val_bytes_equal_the_utf8_bytes_of_the_decoded_documents(demo_data: DemoDataset) -> None:
    report = check_dataset(demo_data.data_dir, demo_data.tokenizer_path)
    sp = spm.SentencePieceProcessor(model_file=str(demo_data.tokenizer_path))
    tokens = _val_tokens(demo_data.data_dir)
    starts = [*np.flatnonzero(tokens == 1).tolist(), tokens.size]
    decoded = sum(len(sp.decode(tokens[a + 1 : b].tolist()).encode()) for a, b in itertools.pairwise(starts))
    assert report.val_bytes == decoded
    assert report.bytes_per_token == pytest.approx(decoded / (tokens.size - 1))
    assert report.bpb_per_loss == pytest.approx((tokens.size - 1) / (math.log(2) * decoded))


def test_leading_space_counts_only_after_a_non_boundary_token(demo_data: DemoDataset) -> None:
    sp = spm.SentencePieceProcessor(model_file=str(demo_data.tokenizer_path))
    luts = check.ByteLuts(sp)
    word = sp.piece_to_id("\u2581the")
    assert sp.id_to_piece(word) == "\u2581the"
    letter = sp.piece_to_id("a")
    prev, target = np.array([1, letter], dtype=np.uint16), np.array([word, word], dtype=np.uint16)
    assert luts.target_bytes(prev[:1], target[:1]) == 3  # after BOS: "the"
    assert luts.target_bytes(prev[1:], target[1:]) == 4  # mid-document: " the"
    assert luts.target_bytes(np.array([letter], np.uint16), np.array([1], np.uint16)) == 0  # BOS target


def test_fingerprint_is_sha256_of_val_shards_then_tokenizer(demo_data: DemoDataset) -> None:
    report = check_dataset(demo_data.data_dir, demo_data.tokenizer_path)
    digest = hashlib.sha256()
    for path in shard_paths(demo_data.data_dir, "val"):
        digest.update(path.read_bytes())
    digest.update(demo_data.tokenizer_path.read_bytes())
    assert report.fingerprint == digest.hexdigest()
    assert report.fingerprint_short == digest.hexdigest()[:16]


def test_fingerprint_tracks_val_and_tokenizer_but_not_train(demo_copy: DatasetCopy) -> None:
    before = check_dataset(demo_copy.data_dir, demo_copy.tokenizer).fingerprint
    train = shard_paths(demo_copy.data_dir, "train")[-1]
    tokens = read_shard(train)
    tokens[-1] = (tokens[-1] + 1) % 1024 or 5
    write_shard(train, tokens)
    assert check_dataset(demo_copy.data_dir, demo_copy.tokenizer).fingerprint == before
    val = shard_paths(demo_copy.data_dir, "val")[0]
    tokens = read_shard(val)
    tokens[-1] = (tokens[-1] + 1) % 1024 or 5
    write_shard(val, tokens)
    assert check_dataset(demo_copy.data_dir, demo_copy.tokenizer).fingerprint != before


def test_dataset_fingerprint_hashes_without_scanning(demo_copy: DatasetCopy) -> None:
    expected = check_dataset(demo_copy.data_dir, demo_copy.tokenizer).fingerprint
    train = shard_paths(demo_copy.data_dir, "train")[0]
    train.write_bytes(b"not a shard")  # a scan would reject this; the fingerprint never reads train
    assert dataset_fingerprint(demo_copy.data_dir, demo_copy.tokenizer) == expected


@pytest.mark.parametrize(("damage", "expected"), [
    ("no_dir", "dataset directory not found"), ("no_val", "no val shards"), ("no_tokenizer", "tokenizer model not found"),
])
def test_dataset_fingerprint_names_what_is_missing(demo_copy: DatasetCopy, damage: str, expected: str) -> None:
    data_dir, tokenizer = demo_copy
    if damage == "no_dir":
        data_dir = data_dir / "nope"
    elif damage == "no_val":
        for shard in shard_paths(data_dir, "val"):
            shard.unlink()
    else:
        tokenizer.unlink()
    with pytest.raises(DataError) as info:
        dataset_fingerprint(data_dir, tokenizer)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert str(tokenizer if damage == "no_tokenizer" else data_dir) in message


def test_small_chunks_and_split_val_shards_give_the_same_counts(demo_copy: DatasetCopy) -> None:
    whole = check_dataset(demo_copy.data_dir, demo_copy.tokenizer)
    tokens = read_shard(demo_copy.data_dir / "fineweb_val_000000.bin")
    cut = int(tokens.size * 0.37)  # mid-document: documents run across shard boundaries
    write_shard(demo_copy.data_dir / "fineweb_val_000000.bin", tokens[:cut])
    write_shard(demo_copy.data_dir / "fineweb_val_000001.bin", tokens[cut:])
    split = check_dataset(demo_copy.data_dir, demo_copy.tokenizer, chunk_tokens=777)
    assert split.val.shards == 2
    assert (split.val.tokens, split.val.documents, split.val_bytes) == (
        whole.val.tokens,
        whole.val.documents,
        whole.val_bytes,
    )
    assert split.train == whole.train


def test_quick_samples_train_but_scans_all_of_val(
    demo_data: DemoDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check, "QUICK_SAMPLE_TOKENS", 1000)
    full = check_dataset(demo_data.data_dir, demo_data.tokenizer_path)
    quick = check_dataset(demo_data.data_dir, demo_data.tokenizer_path, quick=True)
    assert quick.quick and quick.train.documents is None
    assert quick.train.tokens == full.train.tokens
    assert quick.train.scanned_tokens == 1000 * full.train.shards
    assert (quick.val, quick.val_bytes, quick.fingerprint) == (full.val, full.val_bytes, full.fingerprint)


def test_progress_reports_both_splits(demo_data: DemoDataset) -> None:
    seen: dict[str, tuple[int, int]] = {}
    check_dataset(
        demo_data.data_dir,
        demo_data.tokenizer_path,
        progress=lambda stage, done, total: seen.__setitem__(stage, (done, total)),
    )
    assert seen == {"scan val": (demo_data.val_tokens,) * 2, "scan train": (demo_data.train_tokens,) * 2}


def test_truncated_shard_is_an_error(demo_copy: DatasetCopy) -> None:
    shard = shard_paths(demo_copy.data_dir, "train")[0]
    shard.write_bytes(shard.read_bytes()[:-100])
    message = _error(demo_copy)
    assert str(shard) in message and "truncated" in message


def test_wrong_magic_is_an_error(demo_copy: DatasetCopy) -> None:
    shard = shard_paths(demo_copy.data_dir, "val")[0]
    overwrite_magic(shard, 20240521)
    message = _error(demo_copy)
    assert str(shard) in message and "magic number 20240521" in message


@pytest.mark.parametrize("quick", [False, True])
def test_out_of_range_token_id_is_an_error(demo_copy: DatasetCopy, quick: bool) -> None:
    shard = shard_paths(demo_copy.data_dir, "train")[-1]
    tokens = read_shard(shard)
    tokens[10] = 1500
    write_shard(shard, tokens)
    message = _error(demo_copy, quick=quick)
    assert str(shard) in message and "token id 1500 at position 10" in message and "1024" in message


def test_missing_val_split_is_an_error(demo_copy: DatasetCopy) -> None:
    for shard in shard_paths(demo_copy.data_dir, "val"):
        shard.unlink()
    assert "no val shards (fineweb_val_*.bin)" in _error(demo_copy)


def test_missing_train_split_is_an_error(demo_copy: DatasetCopy) -> None:
    for shard in shard_paths(demo_copy.data_dir, "train"):
        shard.unlink()
    assert "no train shards" in _error(demo_copy)


def test_missing_tokenizer_is_an_error(demo_copy: DatasetCopy) -> None:
    demo_copy.tokenizer.unlink()
    message = _error(demo_copy)
    assert str(demo_copy.tokenizer) in message and "tokenizer model not found" in message


def test_corrupt_tokenizer_is_an_error(demo_copy: DatasetCopy) -> None:
    demo_copy.tokenizer.write_bytes(b"this is not a protobuf")
    message = _error(demo_copy)
    assert str(demo_copy.tokenizer) in message and "not a SentencePiece model" in message


def test_missing_dataset_directory_is_an_error(demo_copy: DatasetCopy) -> None:
    missing = demo_copy.data_dir / "nope"
    with pytest.raises(DataError, match="dataset directory not found") as exc:
        check_dataset(missing, demo_copy.tokenizer)
    assert str(missing) in str(exc.value)


def test_val_not_starting_with_bos_is_an_error(demo_copy: DatasetCopy) -> None:
    shard = shard_paths(demo_copy.data_dir, "val")[0]
    write_shard(shard, read_shard(shard)[1:])
    message = _error(demo_copy)
    assert str(shard) in message and "does not start with BOS (id 1)" in message
