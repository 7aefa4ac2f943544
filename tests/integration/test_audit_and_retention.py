"""The audit a DPO relies on, on the real broker, database and SMTP server: each sent
alert records what it disclosed, to whom and under which rule; the chains verify, and
any change, insertion or removal is found; a subject access request gathers a child's
disclosures and record views; retention removes old data and leaves the chains whole."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from typer.testing import CliRunner

from relay.cli import app as relay_cli
from relay.smtp_sink import SinkHandler
from relay.subject_access import legacy_key
from schemas.catalogue import ALERTS_REQUESTED
from schemas.messages import OrgKind
from services.console import audit as console_audit
from services.console.tables import audit
from services.ingest.tables import events, rejects
from services.notifier.tables import alerts, disclosures
from services.runtime.database import Database
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.conftest import eventually
from tests.integration.test_notifier_delivery import (
    CHILD,
    alert_rows,
    episode,
    notifier,
    publish,
    request,
)

# The router's id of the child (issue 20), and the key of before that older audit entries
# name the child by.
CHILD_ID = "5b1f8a3c-2e4d-5f60-8a1b-9c0d7e6f5a42"
KEY = legacy_key(CHILD.given_name, CHILD.family_name, CHILD.date_of_birth)


async def relay(settings: RelaySettings, *args: str, policy: Path | None = None) -> Any:
    """A ``relay`` command as a user runs it (in a thread: it runs its own loop)."""
    env = {
        f"RELAY_{s.upper()}_DATABASE_URL": settings.database_url_for(s)  # type: ignore[arg-type]
        for s in ("ingest", "router", "notifier", "console")
    }
    if policy is not None:
        env["RELAY_POLICY_FILE"] = str(policy)
    return await asyncio.to_thread(CliRunner().invoke, relay_cli, list(args), env=env)


async def _execute(url: str, *statements: Any) -> None:
    db = Database(url)
    try:
        async with db.transaction() as session:
            for statement in statements:
                await session.execute(statement)
    finally:
        await db.dispose()


async def _rows(url: str, statement: Any) -> list[Any]:
    db = Database(url)
    try:
        async with db.transaction() as session:
            return list((await session.execute(statement)).all())
    finally:
        await db.dispose()


async def _sent_alerts(settings: RelaySettings) -> list[str]:
    ep = episode()
    requests = [
        request(ep, code, kind, email).model_copy(update={"child_id": CHILD_ID})
        for code, kind, email in (
            ("100001", OrgKind.SCHOOL, "dsl@hillside.example"),
            ("A81001", OrgKind.GP_PRACTICE, "safeguarding@surgery.example"),
            ("E06000057", OrgKind.LOCAL_AUTHORITY, "missing@council.example"),
        )
    ]
    async with notifier(settings) as app:
        for message in requests:
            await publish(app, settings, ALERTS_REQUESTED, f"10:{ep.episode_ref}", message)

        async def all_sent() -> bool:
            rows = await alert_rows(app)
            return len(rows) == 3 and all(r.state == "sent" for r in rows.values())

        await eventually(all_sent, 60)
    return [m.alert_id for m in requests]


async def test_disclosures_are_recorded_chained_verified_and_exported(
    settings: RelaySettings, smtp_server: tuple[str, SinkHandler], tmp_path: Path
) -> None:
    notifier_url = settings.database_url_for("notifier")
    console_url = settings.database_url_for("console")
    await asyncio.to_thread(upgrade, "console", console_url)
    alert_ids = await _sent_alerts(settings)

    rows = await _rows(notifier_url, select(disclosures).order_by(disclosures.c.seq))
    assert [r.seq for r in rows] == [1, 2, 3]
    assert {r.alert_id for r in rows} == set(alert_ids)
    school = next(r for r in rows if r.recipient_kind == "school")
    assert school.recipient_email == "dsl@hillside.example"
    assert school.policy_rule == "reported.default" and school.reason == "on roll"
    assert school.child_key is None  # found by episode: the child's id, issue 20
    fields = school.fields.split(",")
    assert {"child.given_name", "child.family_name", "child.date_of_birth"} <= set(fields)
    assert "police_contact.name" in fields and "police_contact.phone" in fields
    assert "police_contact.email" not in fields  # the request had none
    assert not any("risk" in f or "location" in f or "found_with" in f for f in fields)
    # Names of fields only: no value of the child's record is in the audit.
    assert CHILD.given_name not in repr(rows) and CHILD.family_name not in repr(rows)

    # The console's views of the child, chained in the console's own audit.
    now = datetime.now(UTC)
    db = Database(console_url)
    try:
        async with db.transaction() as session:
            await console_audit.record_as(
                session, "chair", "mset-chair", "view-child", CHILD_ID, now
            )
            # A view from before the child's id: named by the key of those days.
            await console_audit.record_as(session, "chair", "mset-chair", "view-child", KEY, now)
            await console_audit.record_as(
                session, "chair", "mset-chair", "view-network", "2026-01-01..2026-02-01", now
            )
    finally:
        await db.dispose()

    verified = await relay(settings, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "notifier_disclosures: intact, 3 entries (1..3)" in verified.output
    assert "console_audit: intact, 3 entries (1..3)" in verified.output

    out = tmp_path / "sar.json"
    exported = await relay(
        settings,
        "audit",
        "export",
        "--given-name",
        "amelia",
        "--family-name",
        "O'NEILL",
        "--date-of-birth",
        "2013-04-07",
        "--out",
        str(out),
    )
    assert exported.exit_code == 0, exported.output
    answer = json.loads(out.read_text())
    assert CHILD_ID in answer["child_ids"] and answer["earlier_keys"] == [KEY]
    assert sorted(d["recipient"]["email"] for d in answer["disclosures"]) == [
        "dsl@hillside.example",
        "missing@council.example",
        "safeguarding@surgery.example",
    ]
    assert all("child.date_of_birth" in d["fields_disclosed"] for d in answer["disclosures"])
    assert [(v["who"], v["action"]) for v in answer["record_views"]] == [
        ("chair", "view-child"),
        ("chair", "view-child"),
    ]
    assert all(chain["intact"] for chain in answer["audit_chains"])
    # The export itself is audited, by the operator who ran it.
    latest = await _rows(console_url, select(audit).order_by(audit.c.seq.desc()).limit(1))
    assert latest[0].action == "subject-access-export" and latest[0].subject == answer["child_id"]
    assert latest[0].username.startswith("cli:")
    # By the child's id (the console's child page), the same disclosures and views.
    by_id = await relay(settings, "audit", "export", "--child", CHILD_ID)
    assert by_id.exit_code == 0, by_id.output
    answer = json.loads(by_id.stdout)
    assert (answer["child_id"], answer["earlier_keys"]) == (CHILD_ID, [KEY])
    assert len(answer["disclosures"]) == 3
    # The two views, and the export before this one (itself a disclosure of the record).
    assert [v["action"] for v in answer["record_views"]] == [
        "view-child",
        "view-child",
        "subject-access-export",
    ]
    refused = await relay(settings, "audit", "export", "--child", "not-an-id")
    assert refused.exit_code == 1 and "a child's id (a UUID" in refused.output
    assert (await relay(settings, "audit", "verify")).exit_code == 0

    # Tampering: a changed recipient, a removed entry, each found and named.
    await _execute(
        notifier_url,
        update(disclosures).where(disclosures.c.seq == 2).values(recipient_email="x@y.example"),
    )
    changed = await relay(settings, "audit", "verify")
    assert changed.exit_code == 1
    assert "notifier_disclosures: BROKEN" in changed.output
    assert "entry 2: content changed since it was written" in changed.output
    assert "console_audit: intact" in changed.output
    await _execute(console_url, delete(audit).where(audit.c.seq == 2))
    removed = await relay(settings, "audit", "verify", "--json")
    assert removed.exit_code == 1
    console_report = next(r for r in json.loads(removed.stdout) if r["chain"] == "console_audit")
    assert console_report["intact"] is False
    assert "entry 2 missing" in console_report["problems"]
    assert "entry 3: does not follow the entry before it" in console_report["problems"]


async def test_retention_removes_old_data_and_keeps_the_chains_whole(
    settings: RelaySettings, smtp_server: tuple[str, SinkHandler], tmp_path: Path
) -> None:
    for service in ("ingest", "router", "console"):
        await asyncio.to_thread(upgrade, service, settings.database_url_for(service))
    await _sent_alerts(settings)
    ingest_url = settings.database_url_for("ingest")
    notifier_url = settings.database_url_for("notifier")
    console_url = settings.database_url_for("console")
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=40)

    # Two of the three alerts (and their disclosures) are made 40 days old.
    sent = await _rows(notifier_url, select(disclosures.c.alert_id).order_by(disclosures.c.seq))
    old_alerts = [r.alert_id for r in sent[:2]]
    await _execute(
        notifier_url,
        update(alerts).where(alerts.c.alert_id.in_(old_alerts)).values(created_at=long_ago),
        update(disclosures).where(disclosures.c.alert_id.in_(old_alerts)).values(at=long_ago),
    )
    # The tampering above breaks the chain (the time is hashed): rebuild it as if the
    # entries had been written then, so that only retention is tested here.
    await _rehash(notifier_url)
    db = Database(console_url)
    try:
        async with db.transaction() as session:
            for at in (long_ago, long_ago, now):
                await console_audit.record_as(session, "chair", "mset-chair", "view-child", KEY, at)
    finally:
        await db.dispose()
    await _execute(
        ingest_url,
        insert(events).values(
            message_id="m-old",
            force_code="10",
            event_id="E-old",
            episode_ref="R1",
            type="reported",
            occurred_at=long_ago,
            accepted_at=long_ago,
            payload="{}",
        ),
        insert(events).values(
            message_id="m-new",
            force_code="10",
            event_id="E-new",
            episode_ref="R1",
            type="reported",
            occurred_at=now,
            accepted_at=now,
            payload="{}",
        ),
        insert(rejects).values(
            id="r-old",
            received_at=now - timedelta(days=8),
            channel="http",
            source="bridge",
            errors="[]",
            payload="{}",
        ),
    )
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "[retention]\naccepted_events_days = 30\nrejects_days = 7\n"
        "alerts_days = 30\naudit_days = 30\n"
    )
    ran = await relay(settings, "retention", "run", "--json", policy=policy)
    assert ran.exit_code == 0, ran.output
    removed = json.loads(ran.stdout)["removed"]
    assert removed["ingest"] == {"accepted_events": 1, "rejects": 1}
    assert removed["notifier"] == {"alerts": 2, "rhi_tasks": 0, "audit": 2}
    assert removed["console"]["audit"] == 2
    assert removed["router"]["person_index"] == 0  # tests/integration/test_router_retention.py

    assert [r.message_id for r in await _rows(ingest_url, select(events.c.message_id))] == ["m-new"]
    assert len(await _rows(notifier_url, select(alerts.c.alert_id))) == 1
    verified = await relay(settings, "audit", "verify", "--json")
    assert verified.exit_code == 0, verified.output
    reports = {r["chain"]: r for r in json.loads(verified.stdout)}
    assert reports["notifier_disclosures"]["entries"] == 1
    assert reports["notifier_disclosures"]["first_seq"] == 3
    assert reports["console_audit"]["entries"] == 1
    # Run again: nothing more to remove.
    again = json.loads((await relay(settings, "retention", "run", "--json", policy=policy)).stdout)
    assert all(not any(counts.values()) for counts in again["removed"].values())

    bad = tmp_path / "bad.toml"
    bad.write_text("[retention]\nalert_days = 30\n")
    refused = await relay(settings, "retention", "run", policy=bad)
    assert refused.exit_code == 1
    assert "[retention] alert_days: unknown; known: accepted_events_days" in refused.output


async def _rehash(url: str) -> None:
    from services.notifier.tables import audit_chains
    from services.runtime.audit_chain import GENESIS, content_of, entry_hash

    db = Database(url)
    try:
        async with db.transaction() as session:
            prev = GENESIS
            for row in (
                await session.execute(select(disclosures).order_by(disclosures.c.seq))
            ).all():
                digest = entry_hash(prev, row.seq, content_of(disclosures, row))
                await session.execute(
                    update(disclosures)
                    .where(disclosures.c.seq == row.seq)
                    .values(prev_hash=prev, entry_hash=digest)
                )
                prev = digest
            await session.execute(update(audit_chains).values(last_hash=prev))
    finally:
        await db.dispose()
