"""Overdue MSET panel actions (issue 20) on the real database and SMTP server, under a
moved clock: an open action is emailed to the owner organisation's escalation address
(as the notifier last alerted it) the morning after it falls due, once, with no child's
details; an action marked done, or an older state arriving late, sends nothing; a new
due date, or a reopened action, is chased again."""

from __future__ import annotations

import asyncio
import email.policy
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

from relay.smtp_sink import SinkHandler
from schemas.messages import OrgKind
from schemas.panel import PanelActionState, PanelActionV1
from services.notifier.handlers import on_alert_requested
from services.notifier.panel_actions import PanelActionNotices, on_panel_action
from services.notifier.smtp import SmtpMailer
from services.runtime.database import Database
from services.runtime.migrations import upgrade
from tests.clock import MovableClock
from tests.integration.test_notifier_delivery import CHILD, episode, request
from tests.integration.test_router_handler import FakeOutbox

YOT = "YOT-E06000057"
DUE = date(2026, 12, 17)  # a Thursday


def action(action_id: str, state: PanelActionState, revision: int) -> PanelActionV1:
    return PanelActionV1(
        message_id=PanelActionV1.id_for(action_id, revision),
        action_id=action_id,
        meeting_id="m1",
        meeting_on=date(2026, 12, 3),
        owner_code=YOT,
        owner_name="Northumberland Youth Justice Service",
        due_on=DUE,
        state=state,
        revision=revision,
        changed_at=datetime(2026, 12, 3, 15, tzinfo=UTC),
    )


async def test_an_open_action_is_emailed_to_its_owner_the_morning_after_it_falls_due(
    tmp_path: Path,
    database_url: Callable[[str], str],
    smtp_server: tuple[str, SinkHandler],
) -> None:
    url = await asyncio.to_thread(database_url, "notifier")
    await asyncio.to_thread(upgrade, "notifier", url)
    smtp_url, sink = smtp_server
    clock = MovableClock(datetime(2026, 12, 17, 17, 0, tzinfo=UTC))
    db = Database(url)
    mailer = SmtpMailer(smtp_url)
    try:
        async with db.transaction() as session:
            # The notifier knows the YOT's addresses from an alert it sent it.
            alert = request(episode(), YOT, OrgKind.YOT, "yot@council.example").model_copy(
                update={
                    "recipient": request(
                        episode(), YOT, OrgKind.YOT, "yot@council.example"
                    ).recipient.model_copy(update={"escalation_email": "yot-head@council.example"})
                }
            )
            await on_alert_requested(session, alert, FakeOutbox(), now=clock)  # type: ignore[arg-type]
            await on_panel_action(session, action("a-open", PanelActionState.OPEN, 1), None)  # type: ignore[arg-type]
            await on_panel_action(session, action("a-done", PanelActionState.OPEN, 1), None)  # type: ignore[arg-type]
            await on_panel_action(session, action("a-done", PanelActionState.DONE, 2), None)  # type: ignore[arg-type]
            # The open state again, late (a replay): the done one stands.
            await on_panel_action(session, action("a-done", PanelActionState.OPEN, 1), None)  # type: ignore[arg-type]
        notices = PanelActionNotices(
            db, mailer, "Relay <relay@council.example>", "https://relay.council.example", clock
        )
        assert await notices.run_once() == 0  # the due day itself: not yet
        clock.set(datetime(2026, 12, 18, 8, 59, tzinfo=UTC))  # 08:59 London: not yet
        assert await notices.run_once() == 0
        clock.set(datetime(2026, 12, 18, 9, 0, tzinfo=UTC))
        assert await notices.run_once() == 1
        assert await notices.run_once() == 0  # once
        clock.advance(timedelta(days=3))
        assert await notices.run_once() == 0
        [received] = [r for r in sink.received if "yot-head@council.example" in r.rcpt_tos]
        message = message_from_bytes(received.data, policy=email.policy.default)
        assert "MSET panel action overdue" in str(message["Subject"])
        body = message.get_content()
        assert "https://relay.council.example/panel/actions/a-open" in body
        assert "17 December 2026" in body and "3 December 2026" in body
        assert CHILD.given_name not in received.data.decode()
        assert CHILD.family_name not in received.data.decode()

        # The chair gives the overdue action a new due date: chased again after it, once.
        later = action("a-open", PanelActionState.OPEN, 2).model_copy(
            update={"due_on": date(2026, 12, 29)}
        )
        async with db.transaction() as session:
            await on_panel_action(session, later, None)  # type: ignore[arg-type]
        assert await notices.run_once() == 0  # 21 December: not due any more
        clock.set(datetime(2026, 12, 30, 9, 0, tzinfo=UTC))
        assert await notices.run_once() == 1
        assert await notices.run_once() == 0
        # Done, then reopened: chased again at once (it is overdue).
        async with db.transaction() as session:
            for state, revision in ((PanelActionState.DONE, 3), (PanelActionState.OPEN, 4)):
                moved = later.model_copy(
                    update={
                        "state": state,
                        "revision": revision,
                        "message_id": PanelActionV1.id_for("a-open", revision),
                    }
                )
                await on_panel_action(session, moved, None)  # type: ignore[arg-type]
        assert await notices.run_once() == 1
        assert await notices.run_once() == 0
    finally:
        await mailer.close()
        await db.dispose()
