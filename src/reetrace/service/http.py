"""The HTTP protocol of the service's workers: uvicorn's own, with ``TCP_NODELAY`` on every connection.

With ``--workers N`` uvicorn creates the listening socket itself (``socket.socket(family)``, protocol
number 0) and hands it to the workers; asyncio sets ``TCP_NODELAY`` only on connections whose socket
says ``IPPROTO_TCP``, so the workers' connections kept Nagle's algorithm. A response is written as
headers, then body: the body waited for the client's delayed ACK of the headers, ~40 ms on Linux, on
every request (measured on loopback: ``/health`` 48 ms p50 with two workers, 7 ms with one, where
asyncio's own listening socket gets the option). ``reetrace serve`` runs its workers with this class.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol (httptools or h11, as uvicorn picks) that sends small writes at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # a socket the kernel refuses it on still serves
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


#: What ``reetrace serve`` (and ``scripts/bench_serve.py``) pass to uvicorn as ``http``.
HTTP_PROTOCOL = "reetrace.service.http:NoDelayHTTPProtocol"

__all__ = ["HTTP_PROTOCOL", "NoDelayHTTPProtocol"]
