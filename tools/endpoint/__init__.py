"""Talk to an OpenAI-compatible endpoint: readiness, one-token completions, smoke tests."""
