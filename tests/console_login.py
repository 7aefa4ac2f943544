"""Signing in to the console from tests, as a browser does: the login form's CSRF
token, the form posted, the session cookie kept by the client."""

from __future__ import annotations

import functools
import re

import httpx
from fastapi import FastAPI

from services.console import sessions
from services.console.accounts import Role, hash_password
from services.runtime.database import utcnow

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def add_user(
    app: FastAPI, username: str, role: Role, la_code: str | None = None, password: str = PASSWORD
) -> None:
    async with app.state.runtime.db.transaction() as session:
        await sessions.create_user(session, username, _hashed(password), role, la_code, utcnow())


@functools.cache
def _hashed(password: str) -> str:
    # Argon2 is slow on purpose (a tenth of a second a hash) and most console tests add
    # five users: one hash per password serves the whole run.
    return hash_password(password)


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, next_path: str = ""
) -> httpx.Response:
    form = await client.get("/login")
    return await client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_of(form.text),
            "next": next_path,
        },
    )


# The four roles, as the console tests sign in.
USERS = (
    ("chair", Role.MSET_CHAIR, None),
    ("rhi-north", Role.RHI_WORKER, "E06000057"),
    ("mash", Role.MASH, None),
    ("admin", Role.ADMIN, None),
)


async def add_users(app: FastAPI) -> None:
    for username, role, la_code in USERS:
        await add_user(app, username, role, la_code)


def client_of(app: FastAPI) -> httpx.AsyncClient:
    """A client over HTTPS, so the Secure session cookie is sent back."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://console")
