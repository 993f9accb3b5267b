"""Writes a tiny model directory that Dynamo's mocker engine and frontend can serve.

Run *inside* an image (piped to `python - <dir>`), so it uses only the image's own packages:
a byte-level BPE tokenizer trained in-process with `tokenizers` and a small Llama config.
No weights and no downloads: the mocker only needs a tokenizer and a config.
"""

import json
import os
import sys


def write_tiny_model(out: str) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    os.makedirs(out, exist_ok=True)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = ["hello world, this is a tiny model for smoke tests"] * 64
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.save(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<s>",
                "eos_token": "</s>",
                "model_max_length": 2048,
                "chat_template": (
                    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                    "assistant:"
                ),
            },
            f,
        )
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(
            {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_attention_heads": 4,
                "num_hidden_layers": 2,
                "num_key_value_heads": 4,
                "vocab_size": tokenizer.get_vocab_size(),
                "max_position_embeddings": 2048,
                "bos_token_id": 0,
                "eos_token_id": 1,
            },
            f,
        )


if __name__ == "__main__":
    write_tiny_model(sys.argv[1])
