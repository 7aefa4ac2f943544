"""Single sign-on to the console against a real OpenID Connect provider over HTTP
(oidc-provider-mock, a provider made for tests: discovery, JWKS, signed ID tokens,
authorization codes): the role and authority come from the ID token's claims; an
account without a role, or disabled here, is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import oidc_provider_mock
import pytest
from fastapi import FastAPI

from services.console import sessions
from services.console.accounts import Role
from services.console.app import create_app
from services.console.settings import ConsoleSettings
from services.runtime.database import utcnow
from services.runtime.migrations import upgrade
from tests.console_login import add_user, client_of


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    users = [
        oidc_provider_mock.User(
            sub="u1", claims={"preferred_username": "Ann.Chair", "relay_role": "mset-chair"}
        ),
        oidc_provider_mock.User(
            sub="u2",
            claims={
                "email": "rhi@council.example",
                "relay_role": ["rhi-worker"],
                "relay_la": "e06000057",
            },
        ),
        oidc_provider_mock.User(sub="u3", claims={"preferred_username": "nobody"}),
    ]
    with oidc_provider_mock.run_server_in_thread(user_claims=users) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
async def console(
    tmp_path: Any, database_url: Callable[[str], str], provider: str
) -> AsyncIterator[FastAPI]:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url)
    settings = ConsoleSettings(
        console_database_url=url,
        var_dir=tmp_path,
        console_oidc_issuer=provider,
        console_oidc_client_id="relay-console",
        console_oidc_client_secret="s3cret",
    )
    app = create_app(settings)
    yield app
    await app.state.runtime.db.dispose()


async def single_sign_on(client: httpx.AsyncClient, sub: str) -> httpx.Response:
    """The browser's part: to the provider, choose the user on its form, and back."""
    login = await client.get("/login")
    assert "Sign in with your organisation" in login.text
    start = await client.get("/login/sso")
    assert start.status_code == 302
    authorize = start.headers["location"]
    async with httpx.AsyncClient() as browser:
        chosen = await browser.post(authorize, data={"sub": sub})
    assert chosen.status_code == 302, chosen.text
    back = urlsplit(chosen.headers["location"])
    assert back.path == "/login/sso/callback"
    return await client.get(f"{back.path}?{back.query}")


async def test_the_provider_s_claims_give_the_role_and_authority(console: FastAPI) -> None:
    async with client_of(console) as client:
        signed = await single_sign_on(client, "u1")
        assert signed.status_code == 303 and signed.headers["location"] == "/"
        assert "ann.chair (MSET chair)" in (await client.get("/")).text
    async with client_of(console) as client:
        signed = await single_sign_on(client, "u2")
        assert signed.headers["location"] == "/rhi"
        page = await client.get("/rhi")
        assert "rhi@council.example (RHI worker, E06000057)" in page.text
        assert (await client.get("/")).status_code == 403
    # No password signs an account of single sign-on in.
    async with console.state.runtime.db.transaction() as session:
        [_user, stored] = await sessions.account(session, "ann.chair") or (None, None)
    assert stored == "!single-sign-on"


async def test_no_role_or_a_disabled_account_is_refused(console: FastAPI) -> None:
    async with client_of(console) as client:
        refused = await single_sign_on(client, "u3")
        assert refused.status_code == 403
        assert "your account has no console role" in refused.text
        assert (await client.get("/")).status_code == 303  # not signed in
    async with client_of(console) as client:
        await single_sign_on(client, "u1")
    async with console.state.runtime.db.transaction() as session:
        assert await sessions.disable_user(session, "ann.chair", utcnow())
    async with client_of(console) as client:
        refused = await single_sign_on(client, "u1")
        assert refused.status_code == 403 and "This account is disabled." in refused.text


async def test_the_provider_cannot_take_over_a_password_account(console: FastAPI) -> None:
    await add_user(console, "ann.chair", Role.MASH)
    async with client_of(console) as client:
        taken = await single_sign_on(client, "u1")  # preferred_username Ann.Chair
        assert taken.status_code == 403
        assert "already has a password account named ann.chair" in taken.text
        assert (await client.get("/")).status_code == 303  # not signed in
    async with console.state.runtime.db.transaction() as session:
        found = await sessions.account(session, "ann.chair")
    assert found is not None and found[0].role.value == "mash"  # its role unchanged


async def test_a_forged_return_from_the_provider_signs_nobody_in(console: FastAPI) -> None:
    async with client_of(console) as client:
        await client.get("/login/sso")
        forged = await client.get("/login/sso/callback?code=made-up&state=made-up")
        assert forged.status_code == 403 and "Single sign-on failed" in forged.text
        assert (await client.get("/")).status_code == 303
