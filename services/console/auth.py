"""Signing in to the console (DESIGN §8): the login and logout pages, who is signed
in, which roles may open a page, and CSRF checks on forms.

The session cookie holds a random token (the database keeps its SHA-256); it is
HttpOnly, SameSite=Lax and, unless ``RELAY_CONSOLE_COOKIE_SECURE=false`` (plain HTTP
during development), Secure. Every form carries the session's CSRF token; the login
form, before any session exists, carries a token that must equal its own short-lived
cookie (double submit). The acknowledgement page stays outside: its signed link is
its credential.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.console import sessions
from services.console.accounts import HOME, Role, decoy_hash, password_matches
from services.console.rendering import not_found, render
from services.console.sessions import SignedIn
from services.console.sign_in_throttle import SignInThrottle
from services.console.state import state

log = logging.getLogger(__name__)

SESSION_COOKIE = "relay_session"
LOGIN_COOKIE = "relay_login"
_LOGIN_COOKIE_SECONDS = 3600
_PLAIN_HTTP = (
    "This console is reached over plain HTTP, where browsers drop its secure session "
    "cookie: serve it over HTTPS (or, in development only, set "
    "RELAY_CONSOLE_COOKIE_SECURE=false)."
)

router = APIRouter(include_in_schema=False)


class LoginRequiredError(Exception):
    """No live session: the page sends the browser to the login page."""


class NotAllowedError(Exception):
    """Signed in, but the role may not open this page (or this child, or this task)."""

    def __init__(self, who: SignedIn, detail: str = "Your role cannot open this page.") -> None:
        super().__init__(detail)
        self.who = who
        self.detail = detail


async def signed_in(request: Request) -> SignedIn | None:
    """The live session of the request's cookie, if any (also kept on ``request.state``)."""
    if hasattr(request.state, "signed_in"):
        return request.state.signed_in  # type: ignore[no-any-return]
    token = request.cookies.get(SESSION_COOKIE)
    who = None
    if token:
        async with state(request).db.transaction() as session:
            who = await sessions.signed_in(session, token, state(request).now())
    request.state.signed_in = who
    return who


def allowed(*roles: Role) -> Callable[[Request], Awaitable[SignedIn]]:
    """A dependency: the signed-in user, if their role is one of ``roles``."""

    async def dependency(request: Request) -> SignedIn:
        who = await signed_in(request)
        if who is None:
            raise LoginRequiredError()
        if who.user.role not in roles:
            raise NotAllowedError(who)
        return who

    return dependency


def check_csrf(who: SignedIn, token: str) -> None:
    if not secrets.compare_digest(token.encode(), who.csrf_token.encode()):
        raise NotAllowedError(who, "This form has expired. Go back, reload the page and try again.")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no ``//host`` or scheme): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _trustworthy(request: Request) -> bool:
    """Whether a browser keeps a Secure cookie from this address: HTTPS, or the
    loopback names browsers treat as secure."""
    host = request.url.hostname or ""
    return (
        request.url.scheme == "https"
        or host in ("localhost", "127.0.0.1", "::1")
        or host.endswith(".localhost")
    )


def login_page(
    request: Request, status: int, next_path: str | None, error: str | None = None
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {
            "csrf_token": token,
            "next": next_path or "",
            "error": error,
            "sso": state(request).sso is not None,
        },
        status_code=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=_LOGIN_COOKIE_SECONDS,
        path="/login",
        httponly=True,
        secure=state(request).cookie_secure,
        samesite="strict",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> Response:
    who = await signed_in(request)
    if who is not None:
        return RedirectResponse(_safe_next(next) or who.user.home, status_code=303)
    plain = state(request).cookie_secure and not _trustworthy(request)
    return login_page(request, 200, _safe_next(next), _PLAIN_HTTP if plain else None)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2048)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if state(request).cookie_secure and not _trustworthy(request):
        return login_page(request, 400, _safe_next(next), _PLAIN_HTTP)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf_token.encode(), expected.encode()):
        return login_page(request, 400, _safe_next(next), "The sign-in form expired. Try again.")
    name = username.strip().lower()
    if not name or not password:
        return login_page(request, 400, _safe_next(next), "Enter your username and password.")
    throttle: SignInThrottle = state(request).sign_in_throttle
    address = request.client.host if request.client else ""
    if wait := await throttle.wait_s(name, address):
        log.info("console sign-in refused: too many failures")
        page = login_page(
            request,
            429,
            _safe_next(next),
            f"Too many failed sign-ins. Try again in {math.ceil(wait / 60)} minute(s).",
        )
        page.headers["Retry-After"] = str(wait)
        return page
    async with state(request).db.transaction() as session:
        found = await sessions.account(session, name)
    stored = found[1] if found else decoy_hash()
    matches = await asyncio.to_thread(password_matches, stored, password)
    if found is None or not matches:
        await throttle.failed(name, address)
        log.info("console sign-in refused")  # no username: it may be a mistyped password
        return login_page(request, 401, _safe_next(next), "The username or password is not right.")
    user = found[0]
    async with state(request).db.transaction() as session:
        token = await sessions.start_session(session, user.username, state(request).now())
    log.info("console sign-in: %s (%s)", user.username, user.role.value)
    return signed_in_redirect(request, token, _safe_next(next), user.role)


def signed_in_redirect(request: Request, token: str, next_path: str | None, role: Role) -> Response:
    """To where the user was going (or their start page), with the session cookie."""
    response = RedirectResponse(next_path or HOME[role], status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path="/",
        httponly=True,
        secure=state(request).cookie_secure,
        samesite="lax",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(
    request: Request, csrf_token: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    who = await signed_in(request)
    if who is not None:
        check_csrf(who, csrf_token)
        async with state(request).db.transaction() as session:
            await sessions.end_session(session, request.cookies[SESSION_COOKIE])
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def on_login_required(request: Request, exc: Exception) -> Response:
    """A page sends the browser to sign in (and back afterwards); the API says 401."""
    path = request.url.path
    if path.startswith(("/api/", "/fragments/", "/events/")):
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    wanted = path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(wanted, safe='')}", status_code=303)


async def on_http_error(request: Request, exc: Exception) -> Response:
    """An unknown address answers the console's own "not found" page (with the header of
    whoever is signed in); the JSON API and other errors keep FastAPI's JSON."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code != 404 or request.url.path.startswith(("/api/", "/fragments/", "/events/")):
        return await http_exception_handler(request, exc)
    await signed_in(request)
    return not_found(
        request,
        "Page not found",
        "There is no page at this address. If you typed it, check it; if you followed a "
        "link, the page may have moved.",
    )


async def on_not_allowed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotAllowedError)
    log.info(
        "console: %s (%s) refused %s", exc.who.user.username, exc.who.user.role, request.url.path
    )
    context: dict[str, Any] = {"detail": exc.detail, "home": exc.who.user.home}
    if request.url.path.startswith(("/api/", "/fragments/", "/events/")):
        return JSONResponse({"detail": exc.detail}, status_code=403)
    return render(request, "forbidden.html", context, 403)
