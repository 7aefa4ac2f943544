"""The benchmark's police client: JSON posted over kept-alive HTTP/1.1 connections, the
answers parsed with httptools (C, llhttp).

``relay bench pipeline`` runs its client on the same cores as the services it measures,
so what the client costs is taken from them. httpx used about 1.4 ms of CPU a post
(issue 18, 2026-12-05: 0.57 s for 400 events), a third of what the four services spend
on the event's alerts; this client writes the request's bytes itself and spends a
fraction of that. A police system posts from its own machines: its cost is not the
relay's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False
    keep_alive: bool = False  # read when the headers are in: llhttp forgets it at the end
    parser: httptools.HttpResponseParser | None = None

    # httptools' callbacks
    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> tuple[Answer, bool]:
        """The answer to ``request``, and whether the connection may be used again."""
        self.writer.write(request)
        answer = Answer()
        parser = answer.parser = httptools.HttpResponseParser(answer)
        while not answer.complete:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("the server closed the connection before answering")
            parser.feed_data(data)
        answer.status = parser.get_status_code()
        return answer, answer.keep_alive

    def close(self) -> None:
        self.writer.close()


class Poster:
    """POSTs to one server over at most ``connections`` connections, each reused; an
    answer not complete within ``timeout_s`` is an error (TimeoutError), as httpx's was."""

    def __init__(
        self, base_url: str, headers: dict[str, str], connections: int, timeout_s: float = 60.0
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{base_url!r}: the benchmark's client speaks plain http only")
        self.host = parts.hostname
        self.port = parts.port or 80
        self._head = "".join(
            f"{name}: {value}\r\n"
            for name, value in {
                "Host": f"{self.host}:{self.port}",
                "Content-Type": "application/json",
                **headers,
            }.items()
        )
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(connections)
        self.timeout_s = timeout_s

    async def post(self, path: str, body: bytes) -> Answer:
        request = (
            f"POST {path} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._open()
            try:
                async with asyncio.timeout(self.timeout_s):
                    answer, again = await connection.exchange(request)
            except BaseException:
                connection.close()
                raise
            if again:
                self._idle.append(connection)
            else:
                connection.close()
            return answer

    async def _open(self) -> _Connection:
        return _Connection(*await asyncio.open_connection(self.host, self.port))

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        await asyncio.gather(*(c.writer.wait_closed() for c in idle), return_exceptions=True)
