"""Line levels, the known fatal phrases, and the wrapper errors that only point elsewhere.

A line's level comes from an explicit level word near its start (``INFO``,
``WARNING``, ``ERROR``, uvicorn's ``ERROR:``, TGI's ``WARN``, glog's ``E1125``);
lines without one (llama.cpp, bare exception lines) are classified by keywords.

`FATAL_PHRASES` are the fixed texts of the startup failures in
``failure-signatures.md`` (digit-free, so that they survive masking); they rank
a line as the decisive one when no traceback names the cause. `WRAPPERS`
are errors that only say "the cause is above" (vLLM's ``Engine core
initialization failed``, TGI's ``Shard 0 failed to start``, llama.cpp's ``exiting
due to model loading error``): they are the decisive line only when nothing else is.
"""

from __future__ import annotations

import re

ERROR, WARNING, INFO = "error", "warning", "info"
LEVEL_RANK = {ERROR: 0, WARNING: 1, INFO: 2}

_LEVEL_WORD = re.compile(r"\b(CRITICAL|FATAL|ERROR|ERR|WARNING|WARN|INFO|DEBUG|TRACE|NOTICE)\b")
_LEVEL_OF = {"CRITICAL": ERROR, "FATAL": ERROR, "ERROR": ERROR, "ERR": ERROR, "WARNING": WARNING, "WARN": WARNING,
             "INFO": INFO, "DEBUG": INFO, "TRACE": INFO, "NOTICE": INFO}
_GLOG = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d")
_EXCEPTION_LINE = re.compile(r"^\s*(?:[A-Za-z_][\w]*\.)*[A-Z]\w*(Error|Exception|Exit|Interrupt|Warning)\b(?::|$)")
_ERROR_WORDS = re.compile(
    r"(?i)\b(?:errors?|exception|failed|failure|fatal|panic|abort(?:ed|ing)?|segmentation fault|core dumped"
    r"|out of memory|killed|cannot|can't|could not|couldn't|unable to|traceback)\b")
_WARNING_WORDS = re.compile(r"(?i)\b(?:warn|warnings?|deprecated|deprecation)\b")

FATAL_PHRASES = re.compile("|".join([
    r"CUDA out of memory", r"OutOfMemoryError", r"cudaMalloc failed", r"unable to allocate (?:\w+ )?buffer",
    r"larger than the maximum number of tokens that can be stored in KV cache",
    r"No available memory for the cache blocks", r"Not enough memory",
    r"Bfloat16 is only supported on GPUs with compute capability", r"does not support float16",
    r"is not supported for the current GPU", r"Minimum capability",
    r"requires you to execute the configuration file", r"contains custom code which must be executed",
    r"trust_remote_code=True",
    r"are not supported for now", r"unknown model architecture", r"Unsupported model type",
    r"must be divisible by tensor parallel size", r"must be divisible by `num_shards`",
    r"CUDA driver version is insufficient", r"NVIDIA driver on your system is too old",
    r"nvidia-container-cli: requirement error", r"forward compatibility was attempted",
    r"could not select device driver", r"no kernel image is available",
    r"FlashAttention only supports Ampere", r"unhandled system error", r"Error while creating shared memory segment",
    r"is greater than the derived (?:max_model_len|context_length)",
    r"GatedRepoError", r"Client Error", r"Cannot access gated repo", r"RepositoryNotFoundError",
    r"Startup probe failed", r"CrashLoopBackOff",
    r"Address already in use", r"address already in use", r"Errno 98",
    r"SafetensorError", r"Error while deserializing header", r"incomplete metadata", r"file is truncated",
    r"Can't load tokenizer", r"Couldn't instantiate the backend tokenizer", r"tokenizer\.(?:json|model)",
    r"Invalid repository ID or local directory", r"does not appear to have a file named",
    r"failed to open GGUF file", r"invalid magic characters",
    r"Segmentation fault", r"core dumped", r"device-side assert", r"illegal memory access",
    r"invalid device ordinal", r"please set tensor_parallel_size",
]), re.IGNORECASE)

WRAPPERS = re.compile("|".join([
    r"Engine core initialization failed", r"See root cause above", r"EngineCore failed to start",
    r"EngineDeadError", r"See stack trace \(above\)", r"EngineCore encountered a fatal error",
    r"AsyncLLM output_handler failed", r"Worker proc \S+ died unexpectedly", r"WorkerProc initialization failed",
    r"Shard \d+ failed to start", r"ShardCannotStart", r"Shutting down shards", r"Shard complete standard error",
    r"Error when initializing model",
    r"exiting due to", r"failed to load model", r"cleaning up before exit",
    r"Received sigquit", r"Scheduler hit an exception", r"Process \w+:$",
    r"Application startup failed", r"Exiting\.?$", r"WebserverFailed", r"Webserver Crashed",
]))


def line_level(text: str) -> str:
    """error | warning | info for one clean line."""
    head = text[:160]
    m = _LEVEL_WORD.search(head)
    if m:
        return _LEVEL_OF[m.group(1)]
    g = _GLOG.match(head)
    if g:
        return {"E": ERROR, "F": ERROR, "W": WARNING}.get(g.group(1), INFO)
    e = _EXCEPTION_LINE.match(text)
    if e:
        return WARNING if e.group(1) == "Warning" else ERROR
    if _ERROR_WORDS.search(text):
        return ERROR
    if _WARNING_WORDS.search(text):
        return WARNING
    return INFO


def is_exception_line(text: str) -> bool:
    """``ValueError: ...``, ``torch.OutOfMemoryError: ...``, ``KeyboardInterrupt``."""
    return bool(_EXCEPTION_LINE.match(text))


def has_fatal_phrase(text: str) -> bool:
    return bool(FATAL_PHRASES.search(text))


def is_wrapper(text: str) -> bool:
    return bool(WRAPPERS.search(text))
