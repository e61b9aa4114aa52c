"""Shared fixtures.  Every test runs behind a network guard: any connection to an address that is
not on this machine fails loudly, so no test can reach the Anthropic service or anything else;
and with agentbook's home (`AGENTBOOK_HOME`, where runs go by default) in its own temporary
folder, so no test writes to `~/.agentbook`."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_create_connection = socket.create_connection


class NetworkAccessError(RuntimeError):
    """Raised when a test tries to reach a non-loopback address."""


def _check(address: Any) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost", ""):
            return
        try:
            if ipaddress.ip_address(host.split("%")[0]).is_loopback:
                return
        except ValueError:
            pass
        raise NetworkAccessError(f"test tried to reach {address!r}: tests never touch the network")
    # AF_UNIX paths and the like are local.


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host not in (None, "localhost", "") and not _is_loopback_literal(host):
        raise NetworkAccessError(f"test tried to resolve {host!r}: tests never touch the network")
    return _real_getaddrinfo(host, *args, **kwargs)


def _is_loopback_literal(host: Any) -> bool:
    try:
        text = host.decode() if isinstance(host, bytes) else str(host)
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any attempt to leave the machine, and keep tests on the offline model by default."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "AGENTBOOK_MODEL"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """agentbook's home for this test: `<tmp_path>/home` (not made until a run makes it)."""
    path = tmp_path / "home"
    monkeypatch.setenv("AGENTBOOK_HOME", str(path))
    return path
