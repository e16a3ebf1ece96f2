"""Write a tiny, real Llama model directory for tests and smoke deployments.

The output loads with ``transformers`` (``AutoModelForCausalLM`` /
``AutoTokenizer``) and with vLLM's CPU build, and stays well under 2 MB:

* ``config.json``: ``LlamaForCausalLM`` with hidden_size 64, intermediate_size
  128, 2 layers, 2 attention heads, 1 KV head, head_dim 32, tied embeddings,
  float32, and the vocabulary size of the tokenizer trained below.
* ``model.safetensors``: fp32 weights under the Hugging Face Llama tensor names
  (no ``lm_head.weight``, because the embeddings are tied). Linear and
  embedding weights are seeded ``normal * 0.02`` and norms are ones. The
  safetensors metadata is ``{"format": "pt"}``.
* ``tokenizer.json``: a byte-level BPE with about 512 tokens, trained with the
  ``tokenizers`` library on generated arithmetic and English text. Its special
  tokens are ``<|endoftext|>``, ``<|im_start|>`` and ``<|im_end|>``.
* ``tokenizer_config.json`` (``PreTrainedTokenizerFast`` with a ChatML
  ``chat_template``), ``special_tokens_map.json``, ``generation_config.json``
  and a short ``README.md`` model card.

The weights are random, so the model only produces noise. It is meant for
testing the plumbing (loading, serving, chat templates, token accounting), not
output quality.

Only numpy, tokenizers and safetensors are used (no torch, no transformers).
The output is deterministic: re-running writes the same bytes.

Usage::

    python scripts/make_tiny_model.py OUT_DIR [--seed 0] [--vocab-size 512]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
PAD_TOKEN, BOS_TOKEN, EOS_TOKEN = "<|endoftext|>", "<|endoftext|>", "<|im_end|>"

HIDDEN_SIZE = 64
INTERMEDIATE_SIZE = 128
NUM_LAYERS = 2
NUM_HEADS = 2
NUM_KV_HEADS = 1
HEAD_DIM = 32
MAX_POSITIONS = 2048
TRANSFORMERS_VERSION = "4.46.0"

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_SUBJECTS = ["the model", "a small server", "the planner", "our team", "the engineer", "a tired robot",
             "the scheduler", "this machine", "every student", "the old cat", "my neighbour", "the compiler"]
_VERBS = ["reads", "writes", "counts", "loads", "checks", "serves", "measures", "answers", "prints",
          "builds", "tests", "sorts"]
_OBJECTS = ["the numbers", "a long list", "three files", "the weights", "a short story", "every request",
            "the answer", "two tokens", "a simple sum", "the morning news", "one question", "the results"]
_ENDINGS = ["before lunch", "very quickly", "on the GPU", "in the evening", "without any errors",
            "again and again", "for the first time", "with great care", "at the end of the day", "today"]
_WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def _corpus(seed: int, n_lines: int = 4000) -> list[str]:
    """Deterministic training text: arithmetic, English sentences and chat-shaped lines."""
    rng = np.random.RandomState(seed)
    lines: list[str] = []
    for i in range(n_lines):
        kind = i % 4
        if kind == 0:
            a, b = int(rng.randint(0, 1000)), int(rng.randint(0, 1000))
            op = ("+", "-", "*")[int(rng.randint(0, 3))]
            value = a + b if op == "+" else a - b if op == "-" else a * b
            lines.append(f"{a} {op} {b} = {value}")
        elif kind == 1:
            parts = [_SUBJECTS[int(rng.randint(0, len(_SUBJECTS)))], _VERBS[int(rng.randint(0, len(_VERBS)))],
                     _OBJECTS[int(rng.randint(0, len(_OBJECTS)))], _ENDINGS[int(rng.randint(0, len(_ENDINGS)))]]
            sentence = " ".join(parts)
            lines.append(sentence[0].upper() + sentence[1:] + ".")
        elif kind == 2:
            a, b = int(rng.randint(1, 10)), int(rng.randint(1, 10))
            lines.append(f"What is {_WORDS[a - 1]} plus {_WORDS[b - 1]}? The answer is {a + b}.")
        else:
            a, b = int(rng.randint(0, 100)), int(rng.randint(0, 100))
            lines.append(f"<|im_start|>user\nWhat is {a} + {b}?<|im_end|>\n"
                         f"<|im_start|>assistant\n{a} + {b} = {a + b}<|im_end|>")
    return lines


def build_tokenizer(seed: int, vocab_size: int) -> Tokenizer:
    """Train a byte-level BPE tokenizer on the generated corpus."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=sorted(pre_tokenizers.ByteLevel.alphabet()),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(seed), trainer=trainer)
    return tokenizer


def build_weights(seed: int, vocab_size: int) -> dict[str, np.ndarray]:
    """fp32 weights with the Hugging Face Llama names and shapes ([out_features, in_features])."""
    rng = np.random.RandomState(seed)

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones((n,), dtype=np.float32)

    q_out, kv_out = NUM_HEADS * HEAD_DIM, NUM_KV_HEADS * HEAD_DIM
    tensors: dict[str, np.ndarray] = {"model.embed_tokens.weight": normal(vocab_size, HIDDEN_SIZE)}
    for i in range(NUM_LAYERS):
        p = f"model.layers.{i}."
        tensors[p + "self_attn.q_proj.weight"] = normal(q_out, HIDDEN_SIZE)
        tensors[p + "self_attn.k_proj.weight"] = normal(kv_out, HIDDEN_SIZE)
        tensors[p + "self_attn.v_proj.weight"] = normal(kv_out, HIDDEN_SIZE)
        tensors[p + "self_attn.o_proj.weight"] = normal(HIDDEN_SIZE, q_out)
        tensors[p + "mlp.gate_proj.weight"] = normal(INTERMEDIATE_SIZE, HIDDEN_SIZE)
        tensors[p + "mlp.up_proj.weight"] = normal(INTERMEDIATE_SIZE, HIDDEN_SIZE)
        tensors[p + "mlp.down_proj.weight"] = normal(HIDDEN_SIZE, INTERMEDIATE_SIZE)
        tensors[p + "input_layernorm.weight"] = ones(HIDDEN_SIZE)
        tensors[p + "post_attention_layernorm.weight"] = ones(HIDDEN_SIZE)
    tensors["model.norm.weight"] = ones(HIDDEN_SIZE)
    return tensors


def _dump_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _model_card(vocab_size: int, n_params: int, size_bytes: int) -> str:
    return f"""---
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
tags:
- test
- tiny
- random-weights
---

# tiny-llama (test fixture)

A tiny `LlamaForCausalLM` with **random weights**, written by
`scripts/make_tiny_model.py` in the modeldeploy repository. It exists to test
loading, serving and chat templating (for example with transformers or vLLM's
CPU build) in seconds. Its outputs are noise.

| field | value |
| --- | --- |
| architecture | LlamaForCausalLM |
| hidden_size | {HIDDEN_SIZE} |
| intermediate_size | {INTERMEDIATE_SIZE} |
| num_hidden_layers | {NUM_LAYERS} |
| attention heads (q / kv) | {NUM_HEADS} / {NUM_KV_HEADS}, head_dim {HEAD_DIM} |
| vocab_size | {vocab_size} (byte-level BPE) |
| max_position_embeddings | {MAX_POSITIONS} |
| dtype | float32, tied embeddings |
| parameters | {n_params:,} |
| model.safetensors | {size_bytes:,} bytes |

The tokenizer is a byte-level BPE trained on generated arithmetic and English
text, with the special tokens `<|endoftext|>` (pad/bos), `<|im_start|>` and
`<|im_end|>` (eos), and a ChatML chat template.

Regenerate it with:

```bash
python scripts/make_tiny_model.py models/tiny-llama
```
"""


def make_tiny_model(out_dir: str | os.PathLike[str], *, seed: int = 0, vocab_size: int = 512) -> Path:
    """Write the tiny model to ``out_dir`` (created if missing) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = build_tokenizer(seed, vocab_size)
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    ids = {tok: tokenizer.token_to_id(tok) for tok in SPECIAL_TOKENS}
    if any(v is None for v in ids.values()):
        raise RuntimeError(f"special tokens missing from the trained vocabulary: {ids}")
    tokenizer.save(str(out / "tokenizer.json"), pretty=True)

    tensors = build_weights(seed, vocab)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    n_params = int(sum(t.size for t in tensors.values()))

    _dump_json(out / "config.json", {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": ids[BOS_TOKEN],
        "eos_token_id": ids[EOS_TOKEN],
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "hidden_size": HIDDEN_SIZE,
        "initializer_range": 0.02,
        "intermediate_size": INTERMEDIATE_SIZE,
        "max_position_embeddings": MAX_POSITIONS,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": NUM_HEADS,
        "num_hidden_layers": NUM_LAYERS,
        "num_key_value_heads": NUM_KV_HEADS,
        "pad_token_id": ids[PAD_TOKEN],
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": vocab,
    })

    def added(tok: str) -> dict[str, object]:
        return {"content": tok, "lstrip": False, "normalized": False, "rstrip": False,
                "single_word": False, "special": True}

    _dump_json(out / "tokenizer_config.json", {
        "add_bos_token": False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {str(ids[t]): added(t) for t in SPECIAL_TOKENS},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": EOS_TOKEN,
        "errors": "replace",
        "model_max_length": MAX_POSITIONS,
        "pad_token": PAD_TOKEN,
        "split_special_tokens": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": None,
    })

    def special(tok: str) -> dict[str, object]:
        return {"content": tok, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}

    _dump_json(out / "special_tokens_map.json", {
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "eos_token": special(EOS_TOKEN),
        "pad_token": special(PAD_TOKEN),
    })

    _dump_json(out / "generation_config.json", {
        "bos_token_id": ids[BOS_TOKEN],
        "do_sample": False,
        "eos_token_id": [ids[EOS_TOKEN], ids[PAD_TOKEN]],
        "pad_token_id": ids[PAD_TOKEN],
        "transformers_version": TRANSFORMERS_VERSION,
    })

    size = (out / "model.safetensors").stat().st_size
    (out / "README.md").write_text(_model_card(vocab, n_params, size), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="directory to write (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the corpus and the weights (default 0)")
    parser.add_argument("--vocab-size", type=int, default=512, help="BPE vocabulary size (default 512)")
    args = parser.parse_args(argv)

    out = make_tiny_model(args.out_dir, seed=args.seed, vocab_size=args.vocab_size)
    files = sorted(p for p in out.iterdir() if p.is_file())
    total = sum(p.stat().st_size for p in files)
    for p in files:
        print(f"{p.stat().st_size:>10,d}  {p.name}")
    print(f"{total:>10,d}  total bytes in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
