"""Kubernetes Deployment + Service for a decision, with probes that wait for the model, not the process."""

from __future__ import annotations

from typing import Any

import yaml


def kubernetes_yaml(*, name: str, image: str, entrypoint: list[str] | None, args: list[str], env: dict[str, str],
                    container_port: int, weights_mount: str, gpus: int, models_path: str, labels: dict[str, str],
                    startup_minutes: int) -> str:
    selector = {"app.kubernetes.io/name": name}
    container: dict[str, Any] = {
        "name": "server",
        "image": image,
        "args": args,
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "ports": [{"containerPort": container_port, "name": "http"}],
        "volumeMounts": [{"name": "weights", "mountPath": weights_mount, "readOnly": True},
                         {"name": "shm", "mountPath": "/dev/shm"}],
        # Loading weights can take many minutes: a short startup probe kills the pod mid-load (CrashLoopBackOff).
        "startupProbe": {"httpGet": {"path": models_path, "port": "http"}, "periodSeconds": 10,
                         "failureThreshold": startup_minutes * 6},
        "readinessProbe": {"httpGet": {"path": models_path, "port": "http"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": models_path, "port": "http"}, "periodSeconds": 30, "failureThreshold": 5},
    }
    if entrypoint:
        container["command"] = entrypoint
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": gpus}}
    k8s_labels = {**selector, **{f"modeldeploy.io/{k}": v[:63] for k, v in labels.items() if k in ("framework", "deployment")}}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": k8s_labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": k8s_labels},
                "spec": {
                    "containers": [container],
                    "volumes": [
                        {"name": "weights", "persistentVolumeClaim": {"claimName": f"{name}-weights"}},
                        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}},
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": k8s_labels},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": container_port, "targetPort": "http"}]},
    }
    class _NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: object) -> bool:
            return True

    return yaml.dump_all([deployment, service], Dumper=_NoAliases, sort_keys=False)
