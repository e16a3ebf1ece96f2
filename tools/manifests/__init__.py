"""Render a decision into a Docker run spec, a compose file and Kubernetes YAML. Never LLM-written."""
