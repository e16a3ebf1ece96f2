"""Tokens and text: a deterministic tokenizer, the answer rule and the generated text.

Tokenizer (documented contract, used for `usage` and for `max_tokens`):
- a token is a maximal run of word characters (`\\w+`: letters, digits, underscore)
  or one other non-space character (punctuation, symbols); whitespace is not a token.
  "What is 2 plus 3?" is 5 + 1 = 6 tokens.
- a chat prompt costs, per message, its content's tokens plus 4 template tokens
  (`<|im_start|>`, role, newline, `<|im_end|>`), plus 2 for the generation prompt.

Generation:
- the text is built from pieces, one token each, so that the concatenation of the
  streamed pieces re-tokenizes to exactly `completion_tokens` tokens;
- answer rule: when the prompt (completions) or the last user message (chat)
  contains `What is A plus B?` (integers, the last occurrence counts), the answer
  is the decimal sum `A+B` exactly, followed by end-of-sequence;
- otherwise deterministic English-looking filler derived from the prompt (SHA-256
  seeded), ending at a natural end-of-sequence after 16-63 tokens;
- `ignore_eos` or `min_tokens` suppress the end-of-sequence (filler continues);
  `max_tokens` cuts with finish_reason "length"; `stop` strings end with "stop";
- temperature 0 (or a `seed`) is deterministic; temperature > 0 without a seed
  varies the filler between calls (the answer rule still answers exactly).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from dataclasses import dataclass
from typing import Iterator

TOKEN_RE = re.compile(r"\w+|[^\w\s]")
ANSWER_RE = re.compile(r"What\s+is\s+(-?\d+)\s+plus\s+(-?\d+)\s*\?", re.IGNORECASE)

MESSAGE_TEMPLATE_TOKENS = 4
GENERATION_PROMPT_TOKENS = 2

_WORDS = (
    "the model serves tokens with a steady rhythm while the scheduler keeps every batch full and "
    "each request waits its turn in a queue before prefill begins then decoding streams one token "
    "at a time through the network to a client that measures latency and throughput carefully so "
    "the report shows where time goes under load across many users on one machine"
).split()


def tokenize(text: str) -> list[str]:
    """The simulator's tokens of `text` (see the module docstring)."""
    return TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    return len(TOKEN_RE.findall(text))


def message_text(content: object) -> str:
    """The text of a chat message content: a string, or a list of parts with `text`."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return str(content)


def chat_prompt_tokens(messages: list[dict]) -> int:
    """Prompt tokens of a chat request under the ChatML-like template."""
    total = GENERATION_PROMPT_TOKENS
    for message in messages:
        total += MESSAGE_TEMPLATE_TOKENS + count_tokens(message_text(message.get("content")))
    return total


def chat_prompt_text(messages: list[dict]) -> str:
    """The rendered prompt (ChatML), used to seed the filler text."""
    return "".join(f"<|im_start|>{m.get('role', '')}\n{message_text(m.get('content'))}<|im_end|>\n"
                   for m in messages) + "<|im_start|>assistant\n"


def last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def answer_for(text: str) -> str | None:
    """`A+B` for the last `What is A plus B?` in `text`, else None."""
    matches = ANSWER_RE.findall(text)
    if not matches:
        return None
    a, b = matches[-1]
    return str(int(a) + int(b))


def split_pieces(text: str) -> list[str]:
    """Split `text` into one-token pieces that concatenate back to `text` (leading spaces kept)."""
    pieces, start = [], 0
    for match in TOKEN_RE.finditer(text):
        pieces.append(text[start:match.end()])
        start = match.end()
    if pieces and start < len(text):
        pieces[-1] += text[start:]
    return pieces


def _rng(prompt: str, seed: int | None, temperature: float) -> random.Random:
    if seed is None and temperature > 0:
        return random.Random(os.urandom(16))
    digest = hashlib.sha256(f"{seed}|{prompt}".encode("utf-8", "surrogatepass")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _filler(rng: random.Random, first: bool) -> Iterator[str]:
    """Endless sentences, one token per piece."""
    sentence_start = True
    while True:
        length = rng.randint(6, 12)
        for _ in range(length):
            word = rng.choice(_WORDS)
            if sentence_start:
                word = word.capitalize()
                sentence_start = False
            yield word if first else " " + word
            first = False
        yield "."
        sentence_start = True


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int
    min_tokens: int = 0
    ignore_eos: bool = False
    temperature: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    include_stop_str_in_output: bool = False


def natural_pieces(prompt: str, answer_source: str, params: GenerationParams) -> Iterator[tuple[str, bool]]:
    """Pieces of the model's output, each with `eos_after`: True where the model would emit EOS.

    The iterator never ends by itself once EOS is ignored; the caller applies the limits.
    """
    rng = _rng(prompt, params.seed, params.temperature)
    answer = answer_for(answer_source)
    if answer is not None:
        pieces = split_pieces(answer)
        for i, piece in enumerate(pieces):
            yield piece, i == len(pieces) - 1
        filler = _filler(rng, first=False)
        while True:
            # EOS was suppressed (min_tokens, ignore_eos): it stays the likeliest next token
            yield next(filler), True
    natural = 16 + rng.randrange(48)
    count = 0
    for piece in _filler(rng, first=True):
        count += 1
        yield piece, count >= natural and piece == "."


@dataclass
class Step:
    """One emitted token: the text to send now (may be empty while a stop string is pending)."""
    text: str
    finish_reason: str | None = None


def generate(prompt: str, answer_source: str, params: GenerationParams) -> Iterator[Step]:
    """Steps of one generation: one per generated token; the last carries the finish reason.

    Stop strings are held back while they might still be forming, and are excluded
    from the output unless `include_stop_str_in_output`.
    """
    stops = tuple(s for s in params.stop if s)
    hold = max((len(s) for s in stops), default=1) - 1
    text, sent = "", 0
    produced = 0
    for piece, eos_after in natural_pieces(prompt, answer_source, params):
        if produced >= params.max_tokens:
            break
        produced += 1
        text += piece
        if stops:
            hit = _find_stop(text, stops, max(0, sent - hold))
            if hit is not None:
                index, stop = hit
                end = index + len(stop) if params.include_stop_str_in_output else index
                yield Step(text[sent:end] if end > sent else "", "stop")
                return
        can_end = not params.ignore_eos and produced >= params.min_tokens
        if eos_after and can_end:
            yield Step(text[sent:], "stop")
            return
        if produced >= params.max_tokens:
            yield Step(text[sent:], "length")
            return
        safe = len(text) - hold if stops else len(text)
        if safe > sent:
            chunk, sent = text[sent:safe], safe
        else:
            chunk = ""
        yield Step(chunk)
    if produced == 0:
        yield Step("", "length")


def _find_stop(text: str, stops: tuple[str, ...], start: int) -> tuple[int, str] | None:
    best = None
    for stop in stops:
        index = text.find(stop, start)
        if index >= 0 and (best is None or index < best[0]):
            best = (index, stop)
    return best
