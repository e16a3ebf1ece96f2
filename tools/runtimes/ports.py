"""Host ports: find a free one, tell whether one is taken."""

from __future__ import annotations

import random
import socket


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(v) for v in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


EPHEMERAL = _ephemeral_range()  # read once, at import: free_port runs inside async nodes


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago, chosen below the ephemeral range.

    Ports the kernel hands out for outgoing connections (the ephemeral range) would be taken
    again by this machine's own clients between now and the server's bind; below it, only
    another server can take it."""
    low, _ = EPHEMERAL
    if low > 12000:
        rng = random.SystemRandom()
        for _ in range(50):
            port = rng.randrange(10000, low)
            if port_is_free(port, host):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
