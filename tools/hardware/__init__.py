"""Probe the local machine: GPUs through NVML, CPU and memory from /proc, the container engine."""
