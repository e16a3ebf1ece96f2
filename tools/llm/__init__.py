"""The LLM boundary: a configured chat model (or none), structured answers, token accounting."""
