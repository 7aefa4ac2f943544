"""Console accounts and signed-in sessions in the console's database (the I/O side of
``accounts.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.console.accounts import Role, User, new_token, session_expired, token_digest
from services.console.tables import sessions, users

_TOUCH_EVERY = timedelta(minutes=1)  # a page view writes at most this often


class UserExistsError(ValueError):
    pass


@dataclass(frozen=True)
class SignedIn:
    user: User
    csrf_token: str


def _user(row: object) -> User:
    return User(row.username, Role(row.role), row.la_code)  # type: ignore[attr-defined]


async def create_user(
    session: AsyncSession,
    username: str,
    password_hash: str,
    role: Role,
    la_code: str | None,
    now: datetime,
) -> None:
    try:
        async with session.begin_nested():
            await session.execute(
                insert(users).values(
                    username=username,
                    password_hash=password_hash,
                    role=role.value,
                    la_code=la_code,
                    created_at=now,
                )
            )
    except IntegrityError as exc:
        raise UserExistsError(f"a user named {username} exists already") from exc


async def sync_sso_user(
    session: AsyncSession,
    username: str,
    role: Role,
    la_code: str | None,
    no_password: str,
    now: datetime,
) -> str | None:
    """The account of a single sign-on, made or brought up to the provider's role and
    authority; None, or why it may not sign in: disabled here, or an account with a
    password of its own (the provider's name for someone must not take over another's
    account, nor change its role)."""
    row = (await session.execute(select(users).where(users.c.username == username))).first()
    if row is None:
        await create_user(session, username, no_password, role, la_code, now)
        return None
    if row.disabled_at is not None:
        return "This account is disabled."
    if row.password_hash != no_password:
        return (
            f"The console already has a password account named {username}: ask an admin "
            "to disable it, or to use another name at the provider."
        )
    await session.execute(
        update(users).where(users.c.username == username).values(role=role.value, la_code=la_code)
    )
    return None


async def account(session: AsyncSession, username: str) -> tuple[User, str] | None:
    """An enabled user and their password hash."""
    row = (
        await session.execute(
            select(users).where(users.c.username == username, users.c.disabled_at.is_(None))
        )
    ).first()
    return None if row is None else (_user(row), row.password_hash)


async def all_users(session: AsyncSession) -> list[tuple[User, datetime, datetime | None]]:
    rows = await session.execute(select(users).order_by(users.c.username))
    return [(_user(r), r.created_at, r.disabled_at) for r in rows]


async def disable_user(session: AsyncSession, username: str, now: datetime) -> bool:
    """Disable ``username`` and end their sessions; False if there is no such user."""
    result = await session.execute(
        update(users).where(users.c.username == username).values(disabled_at=now)
    )
    await session.execute(delete(sessions).where(sessions.c.username == username))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def start_session(session: AsyncSession, username: str, now: datetime) -> str:
    """A new session for ``username``; returns its token (for the cookie only)."""
    token = new_token()
    await session.execute(
        insert(sessions).values(
            token_digest=token_digest(token),
            username=username,
            csrf_token=new_token(),
            started_at=now,
            last_seen_at=now,
        )
    )
    return token


async def signed_in(session: AsyncSession, token: str, now: datetime) -> SignedIn | None:
    """Who holds ``token``, if its session is live and its user enabled; an expired
    session is ended."""
    digest = token_digest(token)
    row = (
        await session.execute(
            select(sessions, users.c.role, users.c.la_code)
            .join(users, users.c.username == sessions.c.username)
            .where(sessions.c.token_digest == digest, users.c.disabled_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    if session_expired(row.started_at, row.last_seen_at, now):
        await session.execute(delete(sessions).where(sessions.c.token_digest == digest))
        return None
    if now - row.last_seen_at > _TOUCH_EVERY:
        await session.execute(
            update(sessions).where(sessions.c.token_digest == digest).values(last_seen_at=now)
        )
    return SignedIn(_user(row), row.csrf_token)


async def end_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(sessions).where(sessions.c.token_digest == token_digest(token)))
