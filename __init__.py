"""modeldeploy: take an LLM from a model id and a machine to a tested, benchmarked endpoint.

The repository root is the package; everything imports as ``modeldeploy.*``.
"""

__version__ = "0.1.0"
