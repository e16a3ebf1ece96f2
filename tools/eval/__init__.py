"""Evaluation: suites (MMLU-Pro, AIME 2025, GSM8K, custom YAML), offline packs, a concurrent runner, results.

`run_eval(EvalConfig)` in `runner` is the entry point; `suites.load_suite(name)` finds a suite; `results`
writes the lm-evaluation-harness-compatible document and the per-sample JSONL.
"""
