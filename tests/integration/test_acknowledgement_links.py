"""Acknowledgement links end to end on the real broker, database and SMTP server: the
notifier signs a link into the email, the console's page asks for a click (a GET
acknowledges nothing), the click publishes to ``acknowledgements`` and the notifier marks
the alert acknowledged; a second click, an expired link and a forged one change nothing."""

from __future__ import annotations

import asyncio
import email.policy
import re
from datetime import timedelta
from email import message_from_bytes

import httpx
from sqlalchemy import func, select

from relay.smtp_sink import SinkHandler
from schemas.catalogue import ACKNOWLEDGEMENTS, ALERTS_REQUESTED
from schemas.messages import OrgKind
from services.console.app import create_app as console_app
from services.console.tables import alerts as console_alerts
from services.console.tables import audit as console_audit
from services.console.tables import messaging as console_messaging
from services.runtime.ack_links import AckLinks, secret_key
from services.runtime.migrations import upgrade
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings
from tests.clock import MovableClock
from tests.conftest import eventually
from tests.integration.test_notifier_delivery import (
    alert_rows,
    episode,
    notifier,
    publish,
    request,
)
from tests.settled import caught_up

LINK = re.compile(r"(http://[^\s\"<>]+/ack/[A-Za-z0-9_.\-]+)")


def links_in(data: bytes) -> set[str]:
    message = message_from_bytes(data, policy=email.policy.default)
    found: set[str] = set()
    for subtype in ("plain", "html"):
        part = message.get_body((subtype,))  # type: ignore[attr-defined]
        found |= set(LINK.findall(part.get_content()))
    return found


async def test_a_link_acknowledges_once_and_expired_or_forged_links_are_refused(
    settings: RelaySettings, smtp_server: tuple[str, SinkHandler]
) -> None:
    _, sink = smtp_server
    clock = MovableClock()
    await asyncio.to_thread(upgrade, "console", settings.database_url_for("console"))
    console = console_app(settings, clock=clock)
    ep = episode()
    message = request(ep, "100001", OrgKind.SCHOOL, "dsl@hillside.example")
    async with (
        notifier(settings, clock=clock) as notifier_app,
        console.router.lifespan_context(console),
        httpx.AsyncClient(transport=httpx.ASGITransport(console), base_url="http://c") as web,
    ):
        await publish(notifier_app, settings, ALERTS_REQUESTED, "k", message)
        await eventually(lambda: sink.received, 60)
        [link] = links_in(sink.received[0].data)  # the same link in text and HTML
        assert link.startswith(f"{settings.public_url}/ack/")
        path = link.removeprefix(settings.public_url)

        page = await web.get(path)
        assert page.status_code == 200
        assert "Confirm I have received this alert" in page.text
        assert f'action="{path}"' in page.text
        # A GET must not have acknowledged anything. The console tells the notifier only
        # through its outbox, written in the request's transaction: had the GET
        # acknowledged, the message would be there (published or not) by its answer.
        runtime: ServiceRuntime = console.state.runtime

        async def outbox_messages() -> int:
            async with runtime.db.transaction() as session:
                outbox = console_messaging.outbox
                return int(await session.scalar(select(func.count()).select_from(outbox)) or 0)

        assert await outbox_messages() == 0
        # Nor anything else: the notifier has handled all there is on acknowledgements.
        await eventually(lambda: caught_up(settings, "notifier", ACKNOWLEDGEMENTS), 30)
        assert (await alert_rows(notifier_app))[message.alert_id].state == "sent"

        done = await web.post(path)
        assert done.status_code == 200 and "Thank you: alert acknowledged" in done.text

        async def acknowledged() -> bool:
            row = (await alert_rows(notifier_app))[message.alert_id]
            return row.state == "acknowledged" and row.ack_due_at is None

        await eventually(acknowledged, 60)

        again = await web.post(path)
        assert again.status_code == 200 and "already acknowledged" in again.text
        assert "already acknowledged" in (await web.get(path)).text
        # One acknowledgement message, however often the button is pressed.
        assert await outbox_messages() == 1

        for text in (page.text, done.text, again.text):
            assert "Amelia" not in text and "O'Neill" not in text and "2013" not in text

        # Signed 15 days ago: expired (links last 14 days by default).
        old = AckLinks(
            secret_key(settings), settings.public_url, now=lambda: clock() - timedelta(days=15)
        )
        expired = await web.get(old.url("some-alert").removeprefix(settings.public_url))
        assert expired.status_code == 410 and "This link has expired" in expired.text
        # An answer posted through an expired link is refused too, and sends nothing.
        stale = old.url(message.alert_id).removeprefix(settings.public_url)
        late = await web.post(stale, data={"answer": "here-now"})
        assert late.status_code == 410 and "This link has expired" in late.text
        assert await outbox_messages() == 1
        assert (await web.post(f"{path[:-3]}xyz")).status_code == 404
        other = AckLinks("another partnership's secret", settings.public_url)
        forged = await web.post(other.url(message.alert_id).removeprefix(settings.public_url))
        assert forged.status_code == 404 and "Link not recognised" in forged.text


async def test_answers_acknowledge_once_each_and_bad_information_is_kept_to_fix(
    settings: RelaySettings, smtp_server: tuple[str, SinkHandler]
) -> None:
    _, sink = smtp_server
    clock = MovableClock()
    await asyncio.to_thread(upgrade, "console", settings.database_url_for("console"))
    console = console_app(settings, clock=clock)
    message = request(episode(), "100001", OrgKind.SCHOOL, "dsl@hillside.example")
    async with (
        notifier(settings, clock=clock) as notifier_app,
        console.router.lifespan_context(console),
        httpx.AsyncClient(transport=httpx.ASGITransport(console), base_url="http://c") as web,
    ):
        await publish(notifier_app, settings, ALERTS_REQUESTED, "k", message)
        await eventually(lambda: sink.received, 60)
        [link] = links_in(sink.received[0].data)
        path = link.removeprefix(settings.public_url)
        runtime: ServiceRuntime = console.state.runtime

        async def console_knows_the_alert() -> bool:
            async with runtime.db.transaction() as session:
                return bool(
                    await session.scalar(
                        select(func.count())
                        .select_from(console_alerts)
                        .where(console_alerts.c.alert_id == message.alert_id)
                    )
                )

        await eventually(console_knows_the_alert, 60)

        too_long = "Seen at the park. " * 120  # over 2,000 characters
        refused = await web.post(path, data={"answer": "information", "information": too_long})
        assert refused.status_code == 422
        assert "2,000 characters or fewer" in refused.text
        assert "Seen at the park." in refused.text  # what was typed is kept
        control = await web.post(path, data={"answer": "information", "information": "a\x1bb"})
        assert control.status_code == 422 and "control characters" in control.text
        empty = await web.post(path, data={"answer": "information", "information": " "})
        assert empty.status_code == 422 and "Type the information" in empty.text

        here = await web.post(path, data={"answer": "here-now"})
        assert here.status_code == 200 and "You told the police" in here.text
        again = await web.post(path, data={"answer": "here-now"})
        assert "You gave that answer already" in again.text
        words = "With two older boys\nat the bus station"
        info = await web.post(path, data={"answer": "information", "information": words})
        assert info.status_code == 200 and "answer sent" in info.text

        async with runtime.db.transaction() as session:
            topics = [
                t
                for (t,) in await session.execute(
                    select(console_messaging.outbox.c.topic).order_by(console_messaging.outbox.c.id)
                )
            ]
            audited = [
                a
                for (a,) in await session.execute(
                    select(console_audit.c.action).order_by(console_audit.c.seq)
                )
            ]
        # One acknowledgement (by the first answer), one message per distinct answer.
        assert topics == [
            settings.topic("acknowledgements.v1"),
            settings.topic("alert-answers.v1"),
            settings.topic("alert-answers.v1"),
        ]
        assert audited == ["answer-here-now", "answer-information"]

        async def the_notifier_has_the_answer() -> bool:
            row = (await alert_rows(notifier_app))[message.alert_id]
            return row.state == "acknowledged" and row.answer == "information"

        await eventually(the_notifier_has_the_answer, 60)
        for page in (refused, control, here, again, info):
            assert "Amelia" not in page.text and "O'Neill" not in page.text
