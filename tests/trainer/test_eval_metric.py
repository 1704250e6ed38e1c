"""val_loss / val_bpb of the trainer's `evaluate` against a brute-force count that decodes the text, and
a model that was scored can still be trained (the step-0 validation once broke the first step)."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
import sentencepiece as spm
import torch
from torch import Tensor, nn

from tests.trainer.stackload import runtime
from tests.trainer.tiny import TINY_CONFIG, load_trainer

BOS = 1
SEQ_LEN = 16


class BigramTable(nn.Module):
    """A hand-made model: fixed random float64 logits for each previous token."""

    def __init__(self, vocab_size: int):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.logits = torch.randn(vocab_size, vocab_size, generator=generator, dtype=torch.float64)

    def forward_logits(self, x: Tensor) -> Tensor:
        return self.logits[x]


def _documents(sp: spm.SentencePieceProcessor) -> list[list[int]]:
    """Token ids of hand-picked documents covering every byte-counting rule."""
    pieces = [sp.id_to_piece(i) for i in range(sp.vocab_size())]
    space_piece = next(i for i, piece in enumerate(pieces) if piece.startswith("▁") and len(piece) > 2)
    return [
        sp.encode("The quick brown fox jumps over the lazy dog."),
        sp.encode("Unicode: café, naïve, Ωmega and an emoji 🙂 (byte fallback), then 東京."),
        sp.encode("Digits 1234567890 are split; tabs\tand  double  spaces are normalized."),
        # A document that starts with a "▁" piece: decoding drops that space at a document start.
        [space_piece, *sp.encode("starts with a leading-space piece")],
        [],  # an empty document: two BOS in a row, the second one scored as a 0-byte target
        sp.encode("x"),
    ]


def _stream(docs: list[list[int]]) -> list[int]:
    stream = [tok for doc in docs for tok in (BOS, *doc)]
    while len(stream) % SEQ_LEN != 1:  # whole sequences + 1; trailing BOS targets count 0 bytes
        stream.append(BOS)
    return stream


@pytest.fixture(scope="module")
def sp(demo_data) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=str(demo_data.tokenizer_path))


def test_byte_tables_match_decoded_document_bytes(sp: spm.SentencePieceProcessor) -> None:
    tg = load_trainer()
    luts = tg.build_byte_luts(sp, sp.vocab_size(), torch.device("cpu"))
    for doc in _documents(sp):
        ids = torch.tensor([BOS, *doc])
        counted = int(luts.target_bytes(ids[:-1], ids[1:]).sum()) if doc else 0
        assert counted == len(sp.decode(doc).encode("utf-8")), sp.decode(doc)


def test_evaluate_equals_brute_force_decoding(sp: spm.SentencePieceProcessor) -> None:
    tg = load_trainer()
    stream = _stream(_documents(sp))
    model = BigramTable(sp.vocab_size())
    val = tg.ValidationSet(tokens=torch.tensor(stream, dtype=torch.int64),
                           luts=tg.build_byte_luts(sp, sp.vocab_size(), torch.device("cpu")), seq_len=SEQ_LEN)
    result = tg.evaluate(model.forward_logits, val, runtime(), batch_seqs=3)

    # Brute force: every target's nll from the table, and the UTF-8 bytes of each document's text
    # as SentencePiece decodes it (documents end at the next BOS; BOS itself decodes to nothing).
    table = model.logits.numpy()
    nll = sum(float(np.logaddexp.reduce(table[prev]) - table[prev, tgt]) for prev, tgt in pairwise(stream))
    docs, current = [], []
    for tok in stream[1:]:
        if tok == BOS:
            docs.append(current)
            current = []
        else:
            current.append(tok)
    docs.append(current)
    total_bytes = sum(len(sp.decode(doc).encode("utf-8")) for doc in docs)

    assert result.tokens == len(stream) - 1
    assert result.bytes == total_bytes
    assert result.val_loss == pytest.approx(nll / (len(stream) - 1), rel=1e-9)
    assert result.val_bpb == pytest.approx(nll / (math.log(2) * total_bytes), rel=1e-9)


def test_validation_before_any_training_step_leaves_the_model_trainable(
        sp: spm.SentencePieceProcessor) -> None:
    # WARMUP_STEPS=0 with VAL_LOSS_EVERY>0: the step-0 validation is the model's first forward. Scoring
    # under torch.inference_mode() once cached RoPE tables as inference tensors, and the first training
    # step failed with "Inference tensors cannot be saved for backward".
    tg = load_trainer()
    hp = tg.Hyperparameters.from_env(TINY_CONFIG)
    model = tg.build_model(hp, torch.device("cpu"))
    stream = torch.tensor(_stream(_documents(sp)), dtype=torch.int64)
    val = tg.ValidationSet(tokens=stream, luts=tg.build_byte_luts(sp, sp.vocab_size(), torch.device("cpu")),
                           seq_len=SEQ_LEN)
    model.eval()
    tg.evaluate(model.forward_logits, val, runtime(), batch_seqs=8)
    with torch.inference_mode():  # a caller's own inference pass must not poison training either
        model.forward_logits(stream[:SEQ_LEN][None])
    model.train()
    x, y = stream[:-1].view(-1, SEQ_LEN), stream[1:].view(-1, SEQ_LEN)
    model(x, y).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
