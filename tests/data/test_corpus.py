"""The demo corpus: CPython's own prose, extracted without running it, in a machine-independent order."""

from __future__ import annotations

import sysconfig

from sweeper.data.corpus import MAX_DOC_CHARS, Document, demo_documents, module_prose, split_document


def test_corpus_holds_no_machine_specific_text() -> None:
    docs = demo_documents()
    names = [doc.name for doc in docs]
    assert len(set(names)) == len(names)
    assert not [n for n in names if "site-packages" in n or "_sysconfigdata" in n or n.startswith("test/")]
    install_paths = {sysconfig.get_paths()["stdlib"], sysconfig.get_config_var("prefix")}
    assert not [doc.name for doc in docs for p in install_paths if p and p in doc.text]
    assert all(doc.text.strip() for doc in docs)


def test_module_prose_keeps_docstrings_and_comments_in_source_order() -> None:
    source = '''#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""Module summary."""

# A comment block
# over two lines.
x = 1  # trailing comments are code annotations, not prose

#######################

def f():
    """Function doc.

    # not a comment: inside the docstring
    """
    text = """
# nor inside any other string
"""
    # Inner comment.
    return text
'''
    assert module_prose(source) == (
        "Module summary.\n\nA comment block\nover two lines.\n\n"
        "Function doc.\n\n# not a comment: inside the docstring\n\nInner comment."
    )


def test_split_document_cuts_at_paragraph_boundaries() -> None:
    paragraphs = [f"paragraph {i}" + " word" * 150 for i in range(20)]
    pieces = split_document(Document("mod.py", "\n\n".join(paragraphs)))
    assert len(pieces) > 1
    assert [p.name for p in pieces] == [f"mod.py#{i}" for i in range(len(pieces))]
    assert all(len(p.text) <= MAX_DOC_CHARS for p in pieces)
    assert "\n\n".join(p.text for p in pieces) == "\n\n".join(paragraphs)


def test_any_first_n_split_mixes_module_prose_and_help_pages() -> None:
    first = [doc.name for doc in demo_documents()[:100]]
    assert any(name.startswith("pydoc:") for name in first)
    assert any(".py#" in name for name in first)
    assert first != sorted(first)  # not alphabetical: a val split would then be all `_abc.py`, `abc.py`, ...
