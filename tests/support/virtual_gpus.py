"""GPUs the simulator can play (`MODELDEPLOY_SIM_GPU`), shared by the simulator and diagnosis tests."""

from __future__ import annotations

T4 = {"name": "Tesla T4", "memory_total_mib": 15360, "compute_capability": "7.5", "count": 1, "cuda_driver_version": "12.2"}
L4 = {"name": "NVIDIA L4", "memory_total_mib": 23034, "compute_capability": "8.9", "count": 1, "cuda_driver_version": "12.2"}
A4000 = {"name": "NVIDIA RTX A4000", "memory_total_mib": 16376, "compute_capability": "8.6", "count": 1,
         "cuda_driver_version": "12.4"}
A100X4 = {"name": "NVIDIA A100-SXM4-80GB", "memory_total_mib": 81920, "compute_capability": "8.0", "count": 4,
          "cuda_driver_version": "12.4"}
