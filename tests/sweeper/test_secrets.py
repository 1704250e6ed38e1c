"""Secret detection (by name and by value shape, with an allow-list) and redaction that is never pickled."""

from __future__ import annotations

import pickle

import pytest

from sweeper.errors import SpaceError
from sweeper.secrets import MASK, Redactor, is_secret, is_secret_name, secret_shape, without_secrets
from sweeper.space import parse_space
from tests.sweeper.test_space import space_with

SECRET_NAMES = ["WANDB_API_KEY", "WANDB_KEY", "HF_TOKEN", "GITHUB_PAT", "DB_SECRETS", "MY_AUTH", "GPG_PASSPHRASE",
                "DB_PASSWORD", "GOOGLE_CREDENTIALS", "SSH_PRIVATE_KEY", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY",
                "api_key", "SENTRY_DSN", "DB_PWD"]
INNOCENT_NAMES = ["TRAIN_BATCH_TOKENS", "TOKENIZER_PATH", "VAL_MAX_TOKENS", "BIGRAM_VOCAB_SIZE", "SEED", "PWD",
                  "DATA_PATH", "MATRIX_LR", "KEYBOARD", "PATIENCE", "AUTHOR"]
KEY_SHAPED = {
    "github classic": "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5",
    "github fine-grained": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "hugging face": "hf_" + "QwErTyUiOpAsDfGhJkLzXcVbNm123456",
    "openai": "sk-proj-" + "Zx8Cv7Bn6Mq5Wr4Et3Yu2Io1Pa0Sd9Fg",
    "slack": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "aws access key id": "AKIAIOSFODNN7EXAMPLE",
    "wandb": "0123456789abcdef0123456789abcdef01234567",
    "wandb local": "local-0123456789abcdef0123456789abcdef01234567",
    "random token": "q8Zr2Lw9Xk4Tn7Vb1Mc6Hd3Jf5Gs0Pa8Ye2Ui4Ro",
}
NOT_KEYS = ["/work/data/datasets/fineweb10B_sp1024/fineweb_val_000000.bin", "0.04", "final_int5_gptq_brotli_ttt",
            "a" * 64, "3f786850e387550fdab836ed7e6dc881de23001b3f786850e387550fdab836ed", "relu_squared", "true",
            "hf_short", "this is a sentence with many words in it, not a key at all"]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", INNOCENT_NAMES)
def test_innocent_names(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize("value", KEY_SHAPED.values(), ids=list(KEY_SHAPED))
def test_key_shaped_values_are_secrets_under_any_name(value: str) -> None:
    assert secret_shape(value) is not None
    assert is_secret("DEPLOY_NOTE", value) and not is_secret("DEPLOY_NOTE", value, allow={"DEPLOY_NOTE"})


@pytest.mark.parametrize("value", NOT_KEYS)
def test_paths_words_and_digests_are_not_keys(value: str) -> None:
    assert secret_shape(value) is None


def test_the_allow_list_keeps_a_variable_and_its_value() -> None:
    env = {"MY_AUTH_MODE": "basic-but-long-enough", "MY_AUTH": "hunter2hunter2", "NOTE": KEY_SHAPED["slack"]}
    assert without_secrets(env, allow={"MY_AUTH_MODE"}) == {"MY_AUTH_MODE": "basic-but-long-enough"}
    redact = Redactor.from_env(env, allow={"MY_AUTH_MODE"})
    assert redact(f"{env['MY_AUTH_MODE']} {env['MY_AUTH']} {env['NOTE']}") == f"{env['MY_AUTH_MODE']} {MASK} {MASK}"


def test_a_redactor_refuses_to_be_pickled() -> None:
    # Tune pickles callbacks and trainables into the sweep dir; a pickled redactor carried every secret.
    with pytest.raises(TypeError, match="must not be pickled"):
        pickle.dumps(Redactor.from_env({"WANDB_API_KEY": KEY_SHAPED["wandb"]}))


@pytest.mark.parametrize("label", ["github classic", "hugging face", "random token"])
def test_a_key_shaped_value_in_a_space_is_refused_without_echoing_it(label: str) -> None:
    value = KEY_SHAPED[label]
    for section, entry in (("env", value), ("params", {"type": "choice", "values": ["x", value]})):
        with pytest.raises(SpaceError) as info:
            parse_space(space_with(**{section: {"DEPLOY_NOTE": entry}}), source="space.yaml")
        message = str(info.value)
        assert message.startswith(f"space.yaml: {section}.DEPLOY_NOTE: the value looks like ")
        assert "secrets_allow" in message and value not in message and "\n" not in message


def test_secrets_allow_admits_a_false_positive() -> None:
    with pytest.raises(SpaceError, match="env: MY_AUTH_MODE looks like a secret"):
        parse_space(space_with(env={"MY_AUTH_MODE": "basic"}))
    space = parse_space(space_with(env={"MY_AUTH_MODE": "basic"}, secrets_allow=["MY_AUTH_MODE"]))
    assert space.env["MY_AUTH_MODE"] == "basic" and parse_space(space.to_yaml()) == space
