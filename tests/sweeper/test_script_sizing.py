"""Sizing real record scripts without a GPU: exact parameters, artifact bytes, stubs, and failures.

Each vendored record folder is sized at the env of its logged run (read from its run command) and
compared with its own logs. No training: models are built on the meta device.
"""

from __future__ import annotations

import base64
import lzma
import shutil
import zlib
from pathlib import Path

import pytest

from sweeper.errors import SpaceError
from sweeper.script import ScriptSize, size_script
from sweeper.script.published import PublishedRecord, find_records
from sweeper.script.source import py311_compatible, read_source
from tests.paths import FIXTURES

CAP = 16_000_000
RECORDS = find_records(FIXTURES)
BASELINE = FIXTURES / "track_10min_16mb" / "2026-03-17_NaiveBaseline" / "train_gpt.py"
STUB_RECORD = FIXTURES / "track_10min_16mb" / "2026-04-06_SP8192_QK5_LegalTTT_1.0828" / "train_gpt.py"
_SIZES: dict[str, ScriptSize] = {}


def sized(record: PublishedRecord) -> ScriptSize:
    if record.name not in _SIZES:
        _SIZES[record.name] = size_script(record.script, record.env)
    return _SIZES[record.name]


def codec(size: ScriptSize) -> str:
    return size.quant_format.rsplit(", ", 1)[-1].split("-")[0]


def test_every_fixture_record_is_found() -> None:
    assert len(RECORDS) == 12
    assert all(r.logged_params for r in RECORDS)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.name[:40])
def test_parameter_count_equals_the_log(record: PublishedRecord) -> None:
    size = sized(record)
    assert size.params_exact, size.params_note
    assert size.model_params == record.logged_params


# The byte-level JEPA model's trained weights compress 5.5% better than the three sp1024 records of
# the same int8+zlib format (the format alone cannot tell them apart): its prediction is +3.1%.
KNOWN_OUTSIDE_3_PERCENT = {"2026-03-30_ByteJEPA"}


@pytest.mark.parametrize("record", [
    pytest.param(r, marks=pytest.mark.xfail(strict=True, reason="see KNOWN_OUTSIDE_3_PERCENT"))
    if r.name in KNOWN_OUTSIDE_3_PERCENT else r for r in RECORDS], ids=lambda r: r.name[:40])
def test_artifact_bytes_within_3_percent_of_the_log(record: PublishedRecord) -> None:
    size = sized(record)
    if record.logged_codec and record.logged_codec[0] != codec(size):
        pytest.skip(f"the logged run used {record.logged_codec[0]}; here the script would choose {codec(size)}")
    predicted = size.model_bytes + size.code_bytes
    assert abs(predicted / record.artifact_bytes - 1) <= 0.03, (predicted, record.artifact_bytes, size.quant_format)
    assert size.method == "format rates" and size.band > 0 and "published records" in size.basis


@pytest.mark.parametrize("record", [r for r in RECORDS if r.artifact_bytes <= CAP], ids=lambda r: r.name[:40])
def test_no_record_that_fit_is_predicted_over_the_cap(record: PublishedRecord) -> None:
    """Even the low end of the band stays under the cap (the point value of a record logged within
    0.1% of the cap can land either side of it: the band, not the point, decides a skip)."""
    size = sized(record)
    low = size.model_bytes * (1 - size.band) + size.code_bytes
    assert low <= CAP
    assert size.model_bytes + size.code_bytes <= CAP * 1.005  # and the point value is not far over it


def test_code_bytes_match_the_logged_code_size() -> None:
    for record in RECORDS:
        size = sized(record)
        assert record.code_bytes is not None
        assert abs(size.code_bytes / record.code_bytes - 1) <= 0.06, record.name


def test_the_real_compressed_stub_is_decoded() -> None:
    size = size_script(STUB_RECORD, {})
    assert size.decoded_stub and "decoded from" in size.params_note
    assert size.code_bytes == STUB_RECORD.stat().st_size  # the stub's own bytes are what the log counts
    assert size.model_params == 35_943_512


def test_a_stub_of_a_script_is_sized_like_its_source(tmp_path: Path) -> None:
    payload = base64.b85encode(lzma.compress(BASELINE.read_bytes())).decode()
    stub = tmp_path / "train_gpt.py"
    stub.write_text(f'import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("{payload}")))\n')
    plain, packed = size_script(BASELINE, {"NUM_LAYERS": "7"}), size_script(stub, {"NUM_LAYERS": "7"})
    assert packed.decoded_stub and not plain.decoded_stub
    assert (packed.model_params, packed.model_bytes, packed.quant_format) == (plain.model_params, plain.model_bytes,
                                                                             plain.quant_format)
    assert packed.code_bytes == stub.stat().st_size < plain.code_bytes


def test_a_zlib_stub_compiled_before_exec_is_decoded(tmp_path: Path) -> None:
    payload = base64.b64encode(zlib.compress(BASELINE.read_bytes())).decode()
    stub = tmp_path / "train_gpt.py"
    stub.write_text(f'import zlib, base64\nexec(compile(zlib.decompress(base64.b64decode("{payload}")).decode(), '
                    f'"train_gpt.py", "exec"))\n')
    source = read_source(stub)
    assert source.decoded_stub and source.text == BASELINE.read_text()


def test_a_stub_that_execs_a_sibling_file_is_sized_like_it(tmp_path: Path) -> None:
    shutil.copy(BASELINE, tmp_path / "real_train.py")
    stub = tmp_path / "train_gpt.py"
    stub.write_text('exec(open("real_train.py").read())\n')
    assert size_script(stub, {}).model_params == size_script(BASELINE, {}).model_params == 17_059_912


def test_the_env_changes_the_exact_count() -> None:
    small = size_script(BASELINE, {"NUM_LAYERS": "4", "MODEL_DIM": "256"})
    assert small.params_exact and small.model_params < 17_059_912
    assert small.model_bytes < size_script(BASELINE, {}).model_bytes


def test_a_model_that_cannot_be_built_says_why_and_falls_back(tmp_path: Path) -> None:
    script = tmp_path / "train_gpt.py"
    script.write_text(
        "import os\nimport torch\nfrom torch import nn\n"
        "class Hyperparameters:\n    num_layers = int(os.environ.get('NUM_LAYERS', 9))\n"
        "class GPT(nn.Module):\n    def __init__(self, num_layers):\n        super().__init__()\n"
        "        raise RuntimeError('this model needs CUDA')\n"
        "def main():\n    args = Hyperparameters()\n    model = GPT(num_layers=args.num_layers)\n"
        "if __name__ == '__main__':\n    main()\n")
    size = size_script(script, {})
    assert not size.params_exact and size.method == "formula" and size.band >= 0.2
    assert "constructing GPT failed" in size.params_note and "this model needs CUDA" in size.params_note
    assert "fell back" in size.params_note and size.model_params > 0


def test_a_script_without_a_model_class_falls_back(tmp_path: Path) -> None:
    script = tmp_path / "train_gpt.py"
    script.write_text("print('hello')\n")
    size = size_script(script, {})
    assert not size.params_exact and "no nn.Module subclass" in size.params_note


def test_a_syntax_error_is_one_line_naming_the_script(tmp_path: Path) -> None:
    script = tmp_path / "broken_train.py"
    script.write_text("def main(:\n    pass\n")
    with pytest.raises(SpaceError) as err:
        size_script(script, {})
    message = str(err.value)
    assert "\n" not in message and "broken_train.py" in message and "syntax error at line 1" in message


def test_a_missing_script_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SpaceError) as err:
        size_script(tmp_path / "nope.py", {})
    assert "\n" not in str(err.value) and "nope.py" in str(err.value) and "cannot read" in str(err.value)


def test_a_stub_with_a_corrupt_payload_is_one_line(tmp_path: Path) -> None:
    stub = tmp_path / "train_gpt.py"
    stub.write_text('import lzma,base64\nexec(lzma.decompress(base64.b85decode("abcdefgh")))\n')
    with pytest.raises(SpaceError) as err:
        read_source(stub)
    assert "\n" not in str(err.value) and "does not decode" in str(err.value)


def test_a_stub_calling_anything_else_is_not_decoded_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    stub = tmp_path / "train_gpt.py"
    stub.write_text(f'import os\nexec(os.system("touch {marker}"))\n')
    assert not read_source(stub).decoded_stub
    assert not marker.exists()


def test_python312_fstrings_are_rewritten_for_older_parsers() -> None:
    assert py311_compatible('x = f"{", ".join(a)}"\n') in {'x = f"{", ".join(a)}"\n', "x = f\"{', '.join(a)}\"\n"}
