"""Dead letters on the routing path, emailed to the policy's ``operations_email``
(issue 17): within a minute, then every day until the letter is sent back.

How it fits together:

- :class:`DeadLetterWatch` reads the ``.dlq`` topics of ``episode-events``,
  ``alerts-requested`` and ``rhi-tasks-requested``, and the marker topic that
  ``relay dlq retry`` writes once it has sent a letter back
  (:data:`services.runtime.dead_letters.RETRIED_TOPIC`). It stores each letter's id,
  topic, consumer and reason (never the payload) in ``notifier_dead_letters``, and
  commits its offsets only after that transaction. A letter's id is its place on its
  ``.dlq`` topic, which the service's consumers do not hand a handler; so this is a
  consumer of its own, in a group of its own, and everything it stores is keyed by
  letter id: a redelivery changes nothing.
- "Resolved" is that marker: it is what ``relay dlq retry`` records, on the broker, from
  whichever machine it runs, so the notifier needs nothing from another service's tables
  and nothing new from the command. A letter sent back that fails again is a new letter
  (a new place on the ``.dlq`` topic) and is notified afresh.
- :class:`OperationsNotices` claims the letters whose notice is due (copies of the
  notifier share the table), sends each notice through the notifier's mailer with a
  Message-ID derived from (letter, notice number), and records the send: the next notice
  is due a day later, so a restart sends nothing again that day. A crash between sending
  and recording repeats that notice, with the same Message-ID, once the claim lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import DeadLetterV1
from services.notifier.dead_letter_notices import (
    WATCHED,
    DeadLetterSummary,
    compose_notice,
    operations_email,
)
from services.notifier.dead_letter_store import (
    claim_due,
    record_letter,
    record_notice,
    record_retry,
    release,
)
from services.notifier.settings import NotifierSettings
from services.notifier.smtp import Mailer
from services.runtime.database import Database
from services.runtime.dead_letters import RETRIED_TOPIC
from services.runtime.kafka import ensure_topic, group_options, security_options
from services.runtime.policy_file import read_policy_file
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)

CHECK_EVERY_S = 20.0  # due notices are looked for this often (a new letter wakes it at once)
SEND_RETRY = timedelta(minutes=1)  # after an SMTP failure
_WATCHED_DLQS = tuple(t.dlq for t in WATCHED)


def load_operations_email(settings: RelaySettings) -> str | None:
    """The policy file's ``operations_email``; raises ``PolicyError`` or
    ``PolicyFileError`` naming the key."""
    source = str(settings.policy_file) if settings.policy_file else "policy"
    return operations_email(read_policy_file(settings.policy_file), source)


def watch_dead_letters(
    runtime: ServiceRuntime,
    settings: NotifierSettings,
    mailer: Mailer,
    now: Callable[[], datetime],
) -> OperationsNotices | None:
    """Add the watch and the notices to the runtime's loops; None, with a warning, when
    the policy names no ``operations_email``."""
    address = load_operations_email(settings)
    if address is None:
        log.warning(
            "notifier: no operations_email in the policy file: dead letters on %s will not "
            "be emailed (only `relay dlq list` and the console show them)",
            ", ".join(t.wire for t in WATCHED),
        )
        return None
    notices = OperationsNotices(runtime.db, mailer, address, settings.smtp_from, now)
    watch = DeadLetterWatch(runtime.db, settings, now, notices.wake)
    runtime.loops += [watch.run, notices.run]
    log.info("notifier: dead letters on the routing path are emailed to operations_email")
    return notices


class DeadLetterWatch:
    """Records dead letters on the watched topics, and their retries."""

    def __init__(
        self,
        db: Database,
        settings: RelaySettings,
        now: Callable[[], datetime],
        on_new: Callable[[], None],
    ) -> None:
        self.db = db
        self.settings = settings
        self.now = now
        self.on_new = on_new

    async def run(self) -> None:
        settings = self.settings
        # The marker topic appears with the first retry; made now, so the group is
        # subscribed to it from the start rather than after a metadata refresh. A broker
        # whose ACLs forbid creating it only delays seeing the first retry.
        try:
            await ensure_topic(settings, settings.topic(RETRIED_TOPIC))
        except Exception as exc:
            log.warning(
                "notifier: %s not created (%s); retries are seen once it exists",
                RETRIED_TOPIC,
                type(exc).__name__,
            )
        consumer = AIOKafkaConsumer(
            *(settings.topic(name) for name in (*_WATCHED_DLQS, RETRIED_TOPIC)),
            bootstrap_servers=settings.bootstrap,
            group_id=f"{settings.topic_prefix}relay-notifier-operations",
            client_id="relay-notifier-operations",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **group_options(settings),
            **security_options(settings),
        )
        await consumer.start()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=200)
                records = [record for records in batch.values() for record in records]
                if not records:
                    continue
                async with self.db.transaction() as session:
                    new = await self.store(session, records)
                await consumer.commit()  # only once the letters are stored
                if new:
                    self.on_new()
        finally:
            await consumer.stop()

    async def store(self, session: AsyncSession, records: Sequence[Any]) -> int:
        """Store a batch of aiokafka records; how many letters were new."""
        prefix = len(self.settings.topic_prefix)
        new = 0
        for record in records:
            topic = record.topic[prefix:]
            if topic == RETRIED_TOPIC:
                await self._retried(session, record.value)
            else:
                letter = _summary(f"{topic}:{record.partition}:{record.offset}", record.value)
                new += await record_letter(session, letter, self.now())
        return new

    async def _retried(self, session: AsyncSession, value: bytes | None) -> None:
        try:
            mark = json.loads(value or b"")
            letter_id, at = str(mark["letter_id"]), datetime.fromisoformat(mark["retried_at"])
        except (ValueError, KeyError, TypeError):
            log.warning("notifier: a retry record that does not parse; ignored")
            return
        if letter_id.startswith(_WATCHED_DLQS):
            await record_retry(session, letter_id, at, self.now())


def _summary(letter_id: str, value: bytes | None) -> DeadLetterSummary:
    """What a notice may say of the letter at ``letter_id``: never its payload."""
    topic = letter_id.split(".dlq:", 1)[0]
    try:
        letter = DeadLetterV1.model_validate_json(value or b"")
    except ValidationError:
        return DeadLetterSummary(
            letter_id, topic, "unknown consumer", "the dead letter itself does not parse", None
        )
    return DeadLetterSummary(letter_id, topic, letter.consumer, letter.error, letter.failed_at)


class OperationsNotices:
    """Sends the due notices to ``address``; ``passes`` counts the looks (for tests)."""

    def __init__(
        self,
        db: Database,
        mailer: Mailer,
        address: str,
        sender: str,
        now: Callable[[], datetime],
        check_every_s: float = CHECK_EVERY_S,
    ) -> None:
        self.db = db
        self.mailer = mailer
        self.address = address
        self.sender = sender
        self.now = now
        self.check_every_s = check_every_s
        self.passes = 0
        self.sent = 0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Send every notice now due; returns how many were sent."""
        async with self.db.transaction() as session:
            due = await claim_due(session, self.now())
        sent = 0
        for letter, number in due:
            notice = compose_notice(letter, number, self.address, self.sender, self.now())
            async with self.mailer.session() as smtp:
                failure = await smtp.send(notice, self.address)
            async with self.db.transaction() as session:
                if failure is None:
                    await record_notice(session, letter.letter_id, number, self.now())
                else:
                    await release(session, letter.letter_id, self.now() + SEND_RETRY)
            if failure is None:
                sent += 1
                log.info("notifier: dead letter %s: notice %d sent", letter.letter_id, number)
            else:
                log.warning(
                    "notifier: dead letter %s: notice %d not sent (%s); again in %s",
                    letter.letter_id,
                    number,
                    failure.detail,
                    SEND_RETRY,
                )
        self.sent += sent
        self.passes += 1
        return sent

    async def run(self) -> None:
        while True:
            await self.run_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.check_every_s)
            self._wake.clear()
