import json

from tokenizers import Tokenizer

from gpu_smoke_checks.tiny_model import VOCAB_SIZE, write_tiny_model

# The IDs Dynamo's mocker engine emits (about 1000 to 2000, whatever the model's vocabulary).
MOCKER_TOKEN_IDS = range(1000, 2000)


def test_every_token_the_mocker_can_emit_decodes_to_text(tmp_path):
    write_tiny_model(str(tmp_path))
    tokenizer = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert tokenizer.get_vocab_size() == VOCAB_SIZE > max(MOCKER_TOKEN_IDS)
    empty = [i for i in MOCKER_TOKEN_IDS if not tokenizer.decode([i]).strip()]
    assert empty == []
    # A run of tokens reads as text, and the model's config agrees with its tokenizer.
    assert len(tokenizer.decode(list(range(1000, 1008)))) >= 8
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["vocab_size"] == VOCAB_SIZE


def test_the_same_corpus_trains_the_same_tokenizer(tmp_path):
    write_tiny_model(str(tmp_path / "a"))
    write_tiny_model(str(tmp_path / "b"))
    first, second = (tmp_path / d / "tokenizer.json" for d in ("a", "b"))
    assert first.read_bytes() == second.read_bytes()
