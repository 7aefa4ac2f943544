"""`relay serve console` as deployed behind a TLS-terminating reverse proxy (real
uvicorn, real broker and database): with the proxy's address in
RELAY_FORWARDED_ALLOW_IPS the console sees the browser's HTTPS (X-Forwarded-Proto) and
signs in normally; without it, a request from the same proxy is plain HTTP to the
console, whose login page then says why its Secure cookie would be dropped."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from relay.embedded import free_port
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.integration.test_crash_recovery import env_for, start

PLAIN = "reached over plain HTTP"


@pytest.mark.parametrize(("trusted", "warned"), [("*", False), ("127.0.0.2", True)])
async def test_the_console_trusts_only_its_proxy_s_forwarded_scheme(
    settings: RelaySettings, tmp_path: Path, trusted: str, warned: bool
) -> None:
    await asyncio.to_thread(upgrade, "console", settings.database_url_for("console"))
    port = free_port()
    env = env_for(settings)
    env.update(
        RELAY_CONSOLE_DATABASE_URL=settings.database_url_for("console"),
        RELAY_CONSOLE_PORT=str(port),
        RELAY_FORWARDED_ALLOW_IPS=trusted,
    )
    log = tmp_path / "console.log"
    process = start("console", env, log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                await asyncio.sleep(0.3)
            # What a proxy sends on: the public host name and the browser's scheme.
            page = await client.get(
                "/login",
                headers={"Host": "console.partnership.example", "X-Forwarded-Proto": "https"},
            )
            assert page.status_code == 200
            assert (PLAIN in page.text) is warned
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
