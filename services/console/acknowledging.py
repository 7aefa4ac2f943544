"""The acknowledgement landing page (DESIGN §7, §8): the link in every alert email.

Opening the link (GET) only shows a button: mail scanners open links, and must not
acknowledge anything. Pressing it (POST) records the use, which makes the link single-use,
and writes an ``acknowledgements`` message to the console's outbox in the same
transaction. The page shows the police reference and the recipient organisation, never
the child: nothing beyond what the email held, and less. No login: the signed link is the
credential.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.catalogue import ACKNOWLEDGEMENTS
from schemas.messages import AcknowledgementV1
from services.console.tables import acknowledgements, alerts
from services.runtime.ack_links import AckLinkExpiredError, AckLinkInvalidError, AckLinks
from services.runtime.messaging import publish_later
from services.runtime.service import ServiceRuntime

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)


def _links(request: Request) -> AckLinks:
    links: AckLinks = request.app.state.ack_links
    return links


async def _about(session: AsyncSession, alert_id: str) -> dict[str, Any]:
    """What the page may say about the alert: its police reference and recipient."""
    row = (
        (
            await session.execute(
                select(alerts.c.episode_key, alerts.c.recipient_name).where(
                    alerts.c.alert_id == alert_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return {"police_ref": None, "recipient_name": None}
    return {
        "police_ref": row["episode_key"].replace(":", "/", 1),
        "recipient_name": row["recipient_name"],
    }


async def _used(session: AsyncSession, alert_id: str) -> Any:
    return await session.scalar(
        select(acknowledgements.c.acknowledged_at).where(acknowledgements.c.alert_id == alert_id)
    )


def _page(request: Request, status: int, state: str, **context: Any) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request,
        "acknowledge.html",
        {"state": state, "police_ref": None, "recipient_name": None, **context},
        status_code=status,
    )


@dataclass(frozen=True)
class _Opened:
    """A verified link: its alert, what the page may say about it, and when it was used
    (None: not yet)."""

    alert_id: str
    about: dict[str, Any]
    used_at: datetime | None


async def _open(request: Request, token: str) -> _Opened | HTMLResponse:
    """The link's alert, or the page that refuses it (expired: 410, forged: 404)."""
    try:
        alert_id = _links(request).verify(token)
    except AckLinkExpiredError as exc:
        log.info("console: expired acknowledgement link for alert %s", exc.alert_id)
        return _page(request, 410, "expired", issued_at=exc.issued_at)
    except AckLinkInvalidError:
        return _page(request, 404, "invalid")
    runtime: ServiceRuntime = request.app.state.runtime
    async with runtime.db.transaction() as session:
        return _Opened(alert_id, await _about(session, alert_id), await _used(session, alert_id))


@router.get("/ack/{token}", response_class=HTMLResponse)
async def show(request: Request, token: str) -> HTMLResponse:
    opened = await _open(request, token)
    if isinstance(opened, HTMLResponse):
        return opened
    if opened.used_at is not None:
        return _page(request, 200, "already", acknowledged_at=opened.used_at, **opened.about)
    return _page(request, 200, "confirm", token=token, **opened.about)


@router.post("/ack/{token}", response_class=HTMLResponse)
async def acknowledge(request: Request, token: str) -> HTMLResponse:
    opened = await _open(request, token)
    if isinstance(opened, HTMLResponse):
        return opened
    alert_id, about = opened.alert_id, opened.about
    runtime: ServiceRuntime = request.app.state.runtime
    now = request.app.state.now()
    async with runtime.db.transaction() as session:
        # Checked again inside the transaction that records the use: two clicks at once
        # publish once (the primary key refuses the second insert).
        used = await _used(session, alert_id)
        if used is not None:
            return _page(request, 200, "already", acknowledged_at=used, **about)
        await session.execute(
            acknowledgements.insert().values(alert_id=alert_id, acknowledged_at=now)
        )
        message = AcknowledgementV1(
            # One message per alert, however often the button is pressed.
            message_id=derived_id("acknowledgement", alert_id),
            alert_id=alert_id,
            acknowledged_at=now,
            by="acknowledgement link",
        )
        await publish_later(
            session,
            runtime.tables,
            runtime.settings.topic(ACKNOWLEDGEMENTS.wire),
            alert_id,
            message,
        )
    runtime.relay.wake()
    log.info("console: alert %s acknowledged by its link", alert_id)
    return _page(request, 200, "done", acknowledged_at=now, **about)
