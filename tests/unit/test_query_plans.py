"""Look-ups that run once an event or once a delivery batch search an index, whatever
the size of the table they read: a full scan or sort there costs more with every row,
which a short benchmark never shows and a backlog of 100,000 events did (the router at
25 ms a query at 97,000 roll links; the notifier's claim at 190 ms and its escalation
look-up at 250 ms with 328,000 alerts queued). Checked with SQLite's own EXPLAIN QUERY
PLAN on the services' real tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import create_engine
from sqlalchemy.sql import ClauseElement

from services.ingest import repository as ingest_repository
from services.ingest import status_repository
from services.ingest.tables import metadata as ingest_metadata
from services.notifier.repository import alerts as notifier_alerts
from services.notifier.repository import sending
from services.notifier.tables import metadata as notifier_metadata
from services.router import blocking, person_evidence
from services.router import repository as router_repository
from services.router.tables import metadata as router_metadata
from services.runtime import messaging
from services.runtime.database import Database


def _plan(metadata: Any, statement: ClauseElement, params: dict[str, Any]) -> list[str]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    compiled: Any = statement.compile(dialect=engine.dialect)
    state = compiled.construct_expanded_state(params)
    ordered = [state.parameters[name] for name in state.positiontup]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        rows = cursor.execute(f"EXPLAIN QUERY PLAN {state.statement}", ordered).fetchall()
    finally:
        raw.close()
    return [row[3] for row in rows]


def test_the_children_of_roll_records_are_found_through_the_links_key() -> None:
    params: dict[str, Any] = {"force_code": "01", "ref": "E1"}
    for i in range(3):
        params[f"org_{i}"], params[f"record_{i}"] = "100001", f"R{i}"
    plan = _plan(router_metadata, person_evidence._by_records(True, 3), params)
    assert not any(step.startswith("SCAN router_person_roll_links") for step in plan), plan
    assert any("router_person_roll_links" in step and "INDEX" in step for step in plan), plan


def test_a_batch_of_events_is_checked_for_duplicates_through_the_unique_index() -> None:
    params = {"b_forces": ["01", "02"], "b_event_ids": ["a", "b", "c"]}
    plan = _plan(ingest_metadata, ingest_repository._SEEN, params)
    assert not any(step.startswith("SCAN ingest_events") for step in plan), plan
    assert any("INDEX" in step and "(force_code=? AND event_id=?)" in step for step in plan), plan


def test_the_next_due_alerts_are_read_in_order_from_the_due_index() -> None:
    params = {"b_state": "queued", "b_now": datetime.now(UTC), "b_limit": 8}
    plan = _plan(notifier_metadata, sending._DUE.statement, params)
    assert any("ix_notifier_alerts_due (state=? AND due_at<?)" in step for step in plan), plan
    assert not any(step == "USE TEMP B-TREE FOR ORDER BY" for step in plan), plan


def test_alerts_due_for_escalation_are_found_through_their_deadline() -> None:
    params = {"b_now": datetime.now(UTC), "b_limit": 50}
    plan = _plan(notifier_metadata, notifier_alerts.ESCALATION_DUE, params)
    assert any("ix_notifier_alerts_ack_due (ack_due_at<?)" in step for step in plan), plan


def test_a_roll_lookup_reads_each_blocking_key_through_its_index() -> None:
    # Issue 22: the address and initials keys are more branches of the OR, each through
    # its own index; a scan of the roll would cost 1,000,000 rows a lookup.
    params: dict[str, Any] = {column: '["x"]' for column in blocking.ROLL_KEY_COLUMNS}
    params.update(
        key_address="63|SXL|w",
        nhs_number=None,
        upn=None,
        born_year=2014,
        born_month=1,
        born_day=14,
        postcode=None,
    )
    plan = _plan(router_metadata, router_repository._CANDIDATES_JSON, params)
    assert not any(step.startswith("SCAN router_roll") for step in plan), plan
    assert any("ix_router_roll_key_address (key_address=?)" in step for step in plan), plan
    for column in blocking.ROLL_KEY_COLUMNS:
        assert any(f"ix_router_roll_{column}" in step for step in plan), (column, plan)


def test_a_batch_of_statuses_reads_its_alerts_through_their_key() -> None:
    params = {"b_alert_ids": ["a1", "a2", "a3"]}
    plan = _plan(ingest_metadata, status_repository._ALERTS, params)
    assert not any(step.startswith("SCAN ingest_episode_alerts") for step in plan), plan
    assert any("ingest_episode_alerts" in step and "(alert_id=?)" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_a_new_episodes_similar_children_are_found_through_each_keys_index() -> None:
    # The blocking keys and the UPN, OR'd: with no index on the UPN the whole person
    # index was read once a new episode (2.3 ms at 20,000 episodes, growing).
    columns = ("key_family_dob", "key_names", "key_place", "key_given_dob")
    params: dict[str, Any] = {column: ["x", "y"] for column in columns}
    params.update(upn="A123456789012", force_code="01", ref="E1")
    plan = _plan(router_metadata, person_evidence._similar(columns, True), params)
    assert not any(step.startswith("SCAN router_person_episodes") for step in plan), plan
    assert any("ix_router_person_episodes_upn (upn=?)" in step for step in plan), plan


def test_a_batch_is_looked_up_in_the_inbox_through_its_key() -> None:
    inbox = router_metadata.tables["router_inbox"]
    plan = _plan(
        router_metadata, messaging._inbox_lookup_array(inbox).statement, {"ids": '["a", "b"]'}
    )
    assert not any(step.startswith("SCAN router_inbox") for step in plan), plan
    assert any("router_inbox" in step and "INDEX" in step for step in plan), plan


def test_the_relay_marks_its_rows_through_the_outbox_key() -> None:
    outbox = router_metadata.tables["router_outbox"]
    relay = messaging.OutboxRelay(
        cast(Database, None),
        messaging.MessagingTables(router_metadata.tables["router_inbox"], outbox),
        cast(messaging.Publisher, None),
    )
    plan = _plan(
        router_metadata,
        relay._mark_array.statement,
        {"b_ids": "[1, 2]", "b_now": datetime.now(UTC)},
    )
    assert not any(step.startswith("SCAN router_outbox") for step in plan), plan
    assert any("router_outbox" in step and "PRIMARY KEY" in step for step in plan), plan
