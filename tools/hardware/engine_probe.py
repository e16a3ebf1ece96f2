"""Container engine facts through the Docker SDK: reachable, version, runtimes (is there `nvidia`)."""

from __future__ import annotations

from modeldeploy.schemas.hardware import EngineFacts


def probe_engine(timeout: float = 3.0) -> EngineFacts:
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        return EngineFacts(error="docker SDK not installed")
    try:
        client = docker.from_env(timeout=timeout)
        try:
            info = client.info()
            version = client.version()
        finally:
            client.close()
    except DockerException as exc:
        return EngineFacts(error=str(exc).splitlines()[0][:200])
    except Exception as exc:  # requests/urllib3 errors surface untyped through the SDK
        return EngineFacts(error=f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
    runtimes = sorted((info.get("Runtimes") or {}).keys())
    return EngineFacts(
        reachable=True,
        version=info.get("ServerVersion"),
        api_version=version.get("ApiVersion"),
        runtimes=runtimes,
        nvidia_runtime="nvidia" in runtimes or bool(info.get("CDISpecDirs") and "nvidia" in str(info.get("DiscoveredDevices", ""))),
    )
