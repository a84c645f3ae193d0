"""The service's workers send small writes at once (``TCP_NODELAY``), also on the listening socket
uvicorn makes for ``--workers N``, which asyncio alone leaves with Nagle's algorithm (40 ms per request)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
import uvicorn

from reetrace.service.http import HTTP_PROTOCOL, NoDelayHTTPProtocol


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _nodelay_of_served_connection(http: Any) -> int:
    """Serve one request over a listening socket made as uvicorn makes it for ``--workers`` and read
    ``TCP_NODELAY`` of the connection on the server's side."""
    listener = socket.socket(family=socket.AF_INET)  # as uvicorn's Config.bind_socket: protocol 0
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_app, http=http, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):  # at most 10 s
            if server.started:
                break
            time.sleep(0.05)
        assert server.started, "the server did not start"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
            conns = list(server.server_state.connections)
            assert len(conns) == 1
            sock = conns[0].transport.get_extra_info("socket")
            return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


@pytest.mark.skipif(not hasattr(socket, "TCP_NODELAY"), reason="no TCP_NODELAY")
def test_a_worker_connection_has_tcp_nodelay() -> None:
    assert _nodelay_of_served_connection(NoDelayHTTPProtocol) != 0
    assert f"{NoDelayHTTPProtocol.__module__}:{NoDelayHTTPProtocol.__name__}" == HTTP_PROTOCOL


@pytest.mark.skipif(not hasattr(socket, "TCP_NODELAY"), reason="no TCP_NODELAY")
def test_uvicorns_own_protocol_leaves_it_off_on_such_a_socket() -> None:
    """Why the class exists: without it the same connection keeps Nagle's algorithm (if uvicorn or
    asyncio ever set the option themselves, this test says the class can go)."""
    assert _nodelay_of_served_connection("auto") == 0
