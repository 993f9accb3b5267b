"""Writes a tiny model directory that Dynamo's frontend and engines can serve.

Runs *inside* an image (the CPU smoke tests pipe this file to `python - <dir>`; the GPU serve
check imports it), so it uses only the image's own packages: a byte-level BPE tokenizer
trained in-process with `tokenizers` and a small Llama config. No downloads. The mocker needs
no weights; a real engine (`--weights`) gets random ones from `transformers`.
"""

import itertools
import json
import os
import sys

# Dynamo's mocker engine emits token IDs from about 1000 to 2000 whatever the model: every ID it
# can emit must be a real token, or completions decode to "" (content null, one-chunk streams).
VOCAB_SIZE = 2304
# The corpus: every two-syllable pseudo-word (168 syllables, 28,224 words), enough distinct
# pairs for BPE to learn VOCAB_SIZE tokens; the same corpus always trains the same tokenizer.
_ONSETS = "b c d f g h j k l m n p r s t v w z ch sh th".split()
_VOWELS = "a e i o u ai ea oo".split()


def corpus() -> list[str]:
    syllables = [onset + vowel for onset in _ONSETS for vowel in _VOWELS]
    return [" " + a + b for a, b in itertools.product(syllables, syllables)]


def write_tiny_model(out: str, weights: bool = False) -> None:
    import tokenizers  # pants: no-infer-dep (the image's own)
    from tokenizers import decoders, models, pre_tokenizers, trainers  # pants: no-infer-dep

    os.makedirs(out, exist_ok=True)
    tokenizer = tokenizers.Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=["<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus(), trainer)
    if tokenizer.get_vocab_size() != VOCAB_SIZE:
        raise RuntimeError(
            f"the tiny tokenizer has {tokenizer.get_vocab_size()} tokens, not {VOCAB_SIZE}: "
            "the mocker's token IDs would decode to nothing"
        )
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
                # head_dim 64: a size every GPU attention backend supports.
                "hidden_size": 256,
                "intermediate_size": 512,
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
    if weights:
        write_random_weights(out)


def write_random_weights(out: str) -> None:
    """Random bf16 weights for the config in `out`, saved as safetensors."""
    import torch  # pants: no-infer-dep (the image's own)
    from transformers import AutoConfig, AutoModelForCausalLM  # pants: no-infer-dep

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(out)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)


if __name__ == "__main__":
    write_tiny_model(sys.argv[1], weights="--weights" in sys.argv[2:])
