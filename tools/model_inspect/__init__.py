"""Read what a model is from its files: config.json, safetensors headers, GGUF header, README."""
