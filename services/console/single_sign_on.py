"""Single sign-on with OpenID Connect (authlib), an option for production (DESIGN §8):
with ``RELAY_CONSOLE_OIDC_ISSUER``, ``…_CLIENT_ID`` and ``…_CLIENT_SECRET`` set, the
login page offers "Sign in with your organisation's account". The provider's ID token
(its signature, issuer, audience, expiry and nonce checked by authlib) names the user
(``preferred_username``, else ``email``, else ``sub``), their console role
(``RELAY_CONSOLE_OIDC_ROLE_CLAIM``, default ``relay_role``) and an rhi-worker's
authority (``RELAY_CONSOLE_OIDC_LA_CLAIM``, default ``relay_la``). The provider is the
source of truth: role and authority are taken afresh at every sign-in; an account
disabled here stays disabled. A console session then starts as after a password."""

from __future__ import annotations

import logging
from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.starlette_client import OAuth
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.middleware.sessions import SessionMiddleware

from services.console import auth, sessions
from services.console.accounts import Role, authority_problem, username_problem
from services.console.settings import ConsoleSettings
from services.console.state import SingleSignOn, state
from services.runtime.ack_links import secret_key

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
PROVIDER = "sso"
NO_PASSWORD = "!single-sign-on"  # not an Argon2 hash: no password signs this account in


def enable(app: FastAPI, settings: ConsoleSettings) -> SingleSignOn:
    """Register the settings' provider and the sign-in routes; the client, for the app's
    state."""
    assert settings.console_oidc_issuer
    if not settings.console_oidc_client_id or settings.console_oidc_client_secret is None:
        raise ValueError(
            "RELAY_CONSOLE_OIDC_ISSUER is set: RELAY_CONSOLE_OIDC_CLIENT_ID and "
            "RELAY_CONSOLE_OIDC_CLIENT_SECRET are needed too"
        )
    oauth = OAuth()
    oauth.register(
        PROVIDER,
        client_id=settings.console_oidc_client_id,
        client_secret=settings.console_oidc_client_secret.get_secret_value(),
        server_metadata_url=settings.console_oidc_issuer.rstrip("/")
        + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email profile"},
    )
    # Holds the sign-in's state and nonce between the two redirects (a signed cookie).
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key(settings),
        session_cookie="relay_sso",
        max_age=600,
        same_site="lax",
        https_only=settings.console_cookie_secure,
    )
    app.include_router(router)
    return SingleSignOn(oauth, settings.console_oidc_role_claim, settings.console_oidc_la_claim)


def _sso(request: Request) -> SingleSignOn:
    sso = state(request).sso
    assert sso is not None  # the routes are mounted only with single sign-on
    return sso


@router.get("/login/sso")
async def start(request: Request) -> Response:
    client = _sso(request).oauth.create_client(PROVIDER)
    redirect_uri = str(request.url_for("sso_callback"))
    return await client.authorize_redirect(request, redirect_uri)  # type: ignore[no-any-return]


def account_from(
    claims: dict[str, Any], role_claim: str, la_claim: str
) -> tuple[str, Role, str | None]:
    """Who the ID token says this is; raises ValueError saying what is missing."""
    name = str(claims.get("preferred_username") or claims.get("email") or claims.get("sub") or "")
    name = name.strip().lower()
    if username_problem(name):
        raise ValueError("the provider gave no usable username")
    granted = claims.get(role_claim)
    roles = granted if isinstance(granted, list) else [granted]
    known = [Role(r) for r in roles if r in {x.value for x in Role}]
    if not known:
        raise ValueError("your account has no console role: ask your administrator")
    la_code = claims.get(la_claim)
    la_code = str(la_code).strip().upper() if la_code and known[0] is Role.RHI_WORKER else None
    problem = authority_problem(known[0], la_code)
    if problem:
        raise ValueError(problem)
    return name, known[0], la_code


@router.get("/login/sso/callback", name="sso_callback")
async def callback(request: Request) -> Response:
    client = _sso(request).oauth.create_client(PROVIDER)
    try:
        token = await client.authorize_access_token(request)
        sso = _sso(request)
        name, role, la_code = account_from(dict(token["userinfo"]), sso.role_claim, sso.la_claim)
    except (OAuthError, ValueError, KeyError) as exc:
        log.info("console single sign-on refused: %s", type(exc).__name__)
        text = str(exc) if isinstance(exc, ValueError) else "the provider did not sign you in"
        return auth.login_page(request, 403, None, f"Single sign-on failed: {text}.")
    now = state(request).now()
    async with state(request).db.transaction() as session:
        refused = await sessions.sync_sso_user(session, name, role, la_code, NO_PASSWORD, now)
        if refused:
            log.info("console single sign-on refused for an existing account")
            return auth.login_page(request, 403, None, refused)
        token_value = await sessions.start_session(session, name, now)
    log.info("console sign-in (single sign-on): %s (%s)", name, role.value)
    return auth.signed_in_redirect(request, token_value, None, role)
