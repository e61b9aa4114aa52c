import socket

import pytest

# The guard (tests/conftest.py) raises a RuntimeError subclass saying tests never touch the network.
NetworkAccessError = RuntimeError


def test_guard_refuses_a_public_address() -> None:
    with (
        pytest.raises(NetworkAccessError, match="never touch the network"),
        socket.create_connection(("192.0.2.1", 443), timeout=1),
    ):
        pass


def test_guard_refuses_name_lookups() -> None:
    with pytest.raises(NetworkAccessError, match="never touch the network"):
        socket.getaddrinfo("api.anthropic.com", 443)


def test_guard_allows_loopback() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with socket.create_connection(server.getsockname(), timeout=1):
        pass
    server.close()
