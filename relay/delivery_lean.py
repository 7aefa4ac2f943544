"""The lean reference for ``relay bench delivery`` (issue 18's rule): the notifier's
delivery done with the standard library's ``sqlite3`` and aiosmtplib, the same rows in
the same transactions (``BEGIN IMMEDIATE`` each, WAL, ``synchronous=NORMAL``).

Per batch: the follow-ups poll (three SELECTs in two transactions), the claim (a SELECT,
then an UPDATE and an INSERT per alert, each as one ``executemany``). Per alert: the
email rendered by the notifier's own renderer (the same code: what the reference
measures is the database and SMTP work around it), sent on one open aiosmtplib
connection, and the outcome transaction: the attempt finished, the chain head moved on
(``RETURNING``), the disclosure inserted with its hash, the head's hash set, the alert
marked sent (``RETURNING``), its ``alert-status`` in the outbox. After the batch the
outbox rows read and marked published."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiosmtplib

from relay.delivery_bench import BATCH, StageClock
from services.notifier.content import AlertContent
from services.notifier.delivery import message_id, status_message_id
from services.notifier.model import Alert
from services.notifier.rendering import Renderer
from services.runtime.audit_chain import entry_hash

_POLL = (
    "SELECT * FROM notifier_alerts WHERE ack_due_at <= ? AND acknowledged_at IS NULL"
    " AND state IN ('queued','sending','sent','temporary_failure','permanent_failure',"
    "'escalated') ORDER BY ack_due_at, alert_id LIMIT ?",
    "SELECT * FROM notifier_rhi_tasks WHERE state = 'open' AND reminder_due_at <= ?"
    " AND reminded_at IS NULL AND due_at > ? ORDER BY reminder_due_at, task_id LIMIT ?",
    "SELECT * FROM notifier_rhi_tasks WHERE state IN ('open','reminded') AND due_at <= ?"
    " AND escalated_at IS NULL ORDER BY due_at, task_id LIMIT ?",
)
_CLAIM_SELECT = (
    "SELECT * FROM notifier_alerts WHERE state IN ('queued','temporary_failure')"
    " AND due_at <= ? ORDER BY due_at, created_at LIMIT ?"
)
_CLAIM = (
    "UPDATE notifier_alerts SET state = 'sending', attempts = ?, updated_at = ?,"
    " first_attempt_at = coalesce(first_attempt_at, ?) WHERE alert_id = ?"
)
_OPEN_ATTEMPT = (
    "INSERT INTO notifier_attempts (alert_id, attempt, started_at, outcome)"
    " VALUES (?, ?, ?, 'sending')"
)
_FINISH = (
    "UPDATE notifier_attempts SET outcome = 'sent', finished_at = ?, smtp_code = NULL,"
    " detail = NULL WHERE alert_id = ? AND attempt = ?"
)
_ADVANCE = (
    "UPDATE notifier_audit_chains SET last_seq = last_seq + 1 WHERE chain = ?"
    " RETURNING last_seq, last_hash"
)
_DISCLOSE = (
    "INSERT INTO notifier_disclosures (at, alert_id, kind, recipient_code, recipient_kind,"
    " recipient_name, recipient_email, policy_rule, reason, fields, child_key, force_code,"
    " episode_ref, event_type, smtp_message_id, seq, prev_hash, entry_hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SEAL = "UPDATE notifier_audit_chains SET last_hash = ? WHERE chain = ?"
_SENT = (
    "UPDATE notifier_alerts SET state = 'sent', sent_at = ?, last_error = NULL,"
    " updated_at = ?, smtp_message_id = ? WHERE alert_id = ? AND attempts = ?"
    " AND state IN ('sending','queued') RETURNING alert_id"
)
_STATUS = (
    "INSERT INTO notifier_outbox (topic, key, message_id, payload, created_at)"
    " VALUES ('alert-status', ?, ?, ?, ?)"
)
_PENDING = (
    "SELECT id, topic, key, message_id, payload FROM notifier_outbox"
    " WHERE published_at IS NULL ORDER BY id LIMIT 200"
)


def _stamp(at: datetime) -> str:
    """A UTC time as SQLAlchemy's SQLite DateTime stores it."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _alert(row: sqlite3.Row) -> Alert:
    """The claimed row as the renderer's input (the renderer is the same code)."""
    values = dict(row)
    for name, value in values.items():
        if (isinstance(value, str) and name.endswith("_at")) or name == "respond_by":
            values[name] = datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None
    values["child_date_of_birth"] = datetime.fromisoformat(values["child_date_of_birth"]).date()
    values["urgent"] = bool(values["urgent"])
    return Alert(**values)


def _outcome(db: sqlite3.Connection, alert: Alert, attempt: int, fields: tuple[str, ...]) -> None:
    now = datetime.now(UTC)
    at = _stamp(now)
    db.execute("BEGIN IMMEDIATE")
    db.execute(_FINISH, (at, alert.alert_id, attempt))
    seq, prev = db.execute(_ADVANCE, ("notifier_disclosures",)).fetchone()
    mid = message_id(alert.alert_id)
    content = {
        "at": now, "alert_id": alert.alert_id, "kind": alert.kind,
        "recipient_code": alert.recipient_code, "recipient_kind": alert.recipient_kind,
        "recipient_name": alert.recipient_name, "recipient_email": alert.recipient_email,
        "policy_rule": alert.policy_rule, "reason": alert.reason, "fields": ",".join(fields),
        "child_key": None, "force_code": alert.force_code, "episode_ref": alert.episode_ref,
        "event_type": alert.event_type, "smtp_message_id": mid,
    }  # fmt: skip
    digest = entry_hash(prev, seq, content)
    db.execute(_DISCLOSE, (at, *list(content.values())[1:], seq, prev, digest))
    db.execute(_SEAL, (digest, "notifier_disclosures"))
    if db.execute(_SENT, (at, at, mid, alert.alert_id, attempt)).fetchone() is not None:
        status = {
            "message_id": status_message_id(alert.alert_id, "sent", attempt),
            "alert_id": alert.alert_id, "state": "sent", "kind": alert.kind,
            "recipient_code": alert.recipient_code, "recipient_kind": alert.recipient_kind,
            "force_code": alert.force_code, "episode_ref": alert.episode_ref,
            "event_message_id": alert.event_message_id, "attempt": attempt, "detail": None,
            "at": now.isoformat(), "recipient_name": alert.recipient_name,
            "event_type": alert.event_type,
        }  # fmt: skip
        db.execute(_STATUS, (alert.alert_id, status["message_id"], json.dumps(status), at))
    db.execute("COMMIT")


def _claim(db: sqlite3.Connection) -> list[tuple[Alert, int]]:
    at = _stamp(datetime.now(UTC))
    db.execute("BEGIN IMMEDIATE")
    rows = db.execute(_CLAIM_SELECT, (at, BATCH)).fetchall()
    claimed = [(_alert(row), row["attempts"] + 1) for row in rows]
    db.executemany(_CLAIM, [(n, at, at, a.alert_id) for a, n in claimed])
    db.executemany(_OPEN_ATTEMPT, [(a.alert_id, n, at) for a, n in claimed])
    db.execute("COMMIT")
    return claimed


def _poll(db: sqlite3.Connection) -> None:
    at = _stamp(datetime.now(UTC))
    db.execute("BEGIN IMMEDIATE")
    db.execute(_POLL[0], (at, BATCH)).fetchall()
    db.execute("COMMIT")
    db.execute("BEGIN IMMEDIATE")
    db.execute(_POLL[1], (at, at, BATCH)).fetchall()
    db.execute(_POLL[2], (at, BATCH)).fetchall()
    db.execute("COMMIT")


def _relay(db: sqlite3.Connection) -> None:
    while True:
        db.execute("BEGIN IMMEDIATE")
        rows = db.execute(_PENDING).fetchall()
        db.execute("COMMIT")
        if not rows:
            return
        ids = [row["id"] for row in rows]
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            f"UPDATE notifier_outbox SET published_at = ? WHERE id IN ({','.join('?' * len(ids))})",
            (_stamp(datetime.now(UTC)), *ids),
        )
        db.execute("COMMIT")


async def lean_delivery(url: str, smtp_url: str, render: Renderer) -> StageClock:
    """Deliver every due alert of the SQLite database at ``url`` the lean way."""
    clock = StageClock()
    db = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    target = urlsplit(smtp_url)
    smtp = aiosmtplib.SMTP(hostname=target.hostname, port=target.port)
    await smtp.connect()
    try:
        while True:
            clock.batches += 1
            with clock.stage("poll"):
                _poll(db)
            with clock.stage("claim"):
                claimed = _claim(db)
            if not claimed:
                break
            for alert, attempt in claimed:
                with clock.stage("render"):
                    content = AlertContent.from_alert(alert)
                    email = render.compose(content, datetime.now(UTC))
                    fields = render.disclosed_fields(content)
                with clock.stage("send"):
                    await smtp.sendmail(email.envelope_from, [alert.recipient_email], email.raw)
                with clock.stage("outcome"):
                    _outcome(db, alert, attempt, fields)
                clock.alerts += 1
            with clock.stage("relay"):
                _relay(db)
    finally:
        await smtp.quit()
        db.close()
    return clock
