"""``relay reviews ...``: the identity-review queue (DESIGN §6): list the reviews, decide
one by publishing a decision the router applies."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from services.router.cli_db import with_router_db
from services.runtime.database import Database
from services.runtime.settings import RelaySettings

if TYPE_CHECKING:
    from schemas.messages import IdentityDecisionV1

reviews_app = typer.Typer(
    no_args_is_help=True, help="Identity reviews: children the router could not match surely."
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print the summary as JSON")]


@reviews_app.command("list")
def reviews_list(
    state: Annotated[
        str | None, typer.Option(help="pending, matched or no-match; default: every review")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            help="roll-record (which roll record is this child?) or same-child (the same "
            "child as one seen before?); default: both"
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="show at most this many")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List identity reviews, oldest first: roll-record reviews (which roll record an
    organisation's child is) and same-child reviews (the same child as an earlier one?),
    each with its kind.

    Review ids, candidate roll records or children, scores and which fields agreed:
    never the child's name or date of birth (those sit behind the console's login).
    """
    _check_filters(state, kind)

    async def work(db: Database) -> list[dict[str, Any]]:
        return await _listed(db, state, kind, limit)

    rows: list[dict[str, Any]] = with_router_db(work)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no {state + ' ' if state else ''}{kind + ' ' if kind else ''}identity reviews")
        return
    # Plain lines, not a table: review, record and child ids must print whole, to be
    # copied into `relay reviews decide`.
    for r in rows:
        if r["kind"] == "same-child":
            _same_child_lines(r)
        else:
            _roll_record_lines(r)
    typer.echo(f"{len(rows)} review(s)")


def _check_filters(state: str | None, kind: str | None) -> None:
    from services.router import review_store

    if state is not None and state not in review_store.STATES:
        raise typer.BadParameter(
            f"{state!r} is not a review state; one of {', '.join(review_store.STATES)}",
            param_hint="--state",
        )
    if kind is not None and kind not in review_store.KINDS:
        raise typer.BadParameter(
            f"{kind!r} is not a kind of review; one of {', '.join(review_store.KINDS)}",
            param_hint="--kind",
        )


async def _listed(
    db: Database, state: str | None, kind: str | None, limit: int | None
) -> list[dict[str, Any]]:
    from services.router import review_store

    held: list[dict[str, Any]] = []
    async with db.transaction() as session:
        if kind in (None, "roll-record"):
            held += [
                r.summary()
                for r in await review_store.listing(session, state, limit)  # type: ignore[arg-type]
            ]
        if kind in (None, "same-child"):
            held += [
                r.summary()
                for r in await review_store.same_child_listing(session, state, limit)  # type: ignore[arg-type]
            ]
    held.sort(key=lambda r: (r["created_at"], r["review_id"]))
    return held[:limit] if limit is not None else held


def _roll_record_lines(r: dict[str, Any]) -> None:
    decided = (
        f" {r['roll_record_id'] or ''} by {r['decided_by']} at {r['decided_at'][:19]}"
        if r["state"] != "pending"
        else ""
    )
    typer.echo(
        f"{r['review_id']}  roll-record  {r['state']}{decided}  created "
        f"{r['created_at'][:19]}  org {r['org_code']}  episode "
        f"{r['force_code']}:{r['episode_ref']} ({r['event_type']})"
    )
    for c in r["candidates"]:
        # Fields with nothing to compare add noise: show what agreed or not.
        why = " ".join(
            f"{k}={v}" for k, v in c["explanation"].items() if not str(v).startswith("missing")
        )
        typer.echo(f"    {c['roll_record_id']}  score {c['score']:.2f}  {why}")


def _same_child_lines(r: dict[str, Any]) -> None:
    decided = (
        f" {r['decided_child_id'] or ''} by {r['decided_by']} at {r['decided_at'][:19]}"
        if r["state"] != "pending"
        else ""
    )
    typer.echo(
        f"{r['review_id']}  same-child  {r['state']}{decided}  created {r['created_at'][:19]}  "
        f"episode {r['force_code']}:{r['episode_ref']}  child {r['child_id']}"
    )
    for c in r["candidates"]:
        typer.echo(f"    the same child as {c['child_id']}?  {c['episodes']} episode(s)")


@reviews_app.command("decide")
def reviews_decide(
    review_id: Annotated[str, typer.Argument(help="the review id (relay reviews list)")],
    record: Annotated[
        str | None,
        typer.Option("--record", help="the candidate roll record id that is this child"),
    ] = None,
    child: Annotated[
        str | None,
        typer.Option("--child", help="a same-child review: the earlier child (id) this child is"),
    ] = None,
    none: Annotated[
        bool, typer.Option("--none", help="none of the candidates is this child")
    ] = False,
    by: Annotated[str | None, typer.Option("--by", help="who decides; default: your login")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Decide a pending identity review.

    Publishes the decision to identity-decisions; the router then routes the held event
    to the organisation (--record) or tells nobody (--none), decides the child's other
    pending reviews at that organisation that the decision answers alike, and holds no
    review there again for the child's later events that it answers; for a same-child
    review (issue 20) --child merges the episode's child into the earlier child chosen.
    """
    import getpass

    if [record is not None, child is not None, none].count(True) != 1:
        raise typer.BadParameter(
            "give exactly one of --record ROLL_RECORD_ID, --child CHILD_ID or --none"
        )
    if record is not None and not record.strip():
        raise typer.BadParameter("an empty roll record id", param_hint="--record")
    decision: str = "no-match" if none else "match"
    decided_by = (by or "").strip() or getpass.getuser()
    settings = RelaySettings()
    err = Console(stderr=True, soft_wrap=True)  # whole lines: ids must stay copyable

    async def check(db: Database) -> tuple[str, str | None]:
        return await _refusal(db, review_id, decision, record, child)

    option, refused = with_router_db(check)
    if refused is not None:
        err.print(f"[red]{option}: {refused}[/red]", highlight=False)
        raise typer.Exit(2)
    message = _decision(review_id, decision, record, child, decided_by)
    _publish(settings, message, review_id, err)
    if as_json:
        typer.echo(json.dumps(message.model_dump(mode="json"), indent=2))
        return
    _told(settings, review_id, record, child, decided_by)


async def _refusal(
    db: Database, review_id: str, decision: str, record: str | None, child: str | None
) -> tuple[str, str | None]:
    """The option to blame and why the decision cannot apply (None: it can)."""
    from services.router import person_moves, review_store

    async with db.transaction() as session:
        if await person_moves.is_child_review(session, review_id):
            refused = await person_moves.child_review_refusal(session, review_id, decision, child)
            return ("--child" if child else "REVIEW_ID"), refused
        if child is not None:
            return "--child", f"review {review_id} asks for a roll record: use --record"
        held = await review_store.get(session, review_id)
    # A pending review refuses only the record; otherwise the review id is wrong.
    option = "--record" if held is not None and held.state == "pending" else "REVIEW_ID"
    return option, review_store.refusal(held, review_id, decision, record)


def _decision(
    review_id: str, decision: str, record: str | None, child: str | None, decided_by: str
) -> IdentityDecisionV1:
    from schemas.base import derived_id
    from schemas.messages import IdentityDecisionV1
    from services.runtime.database import utcnow

    # The id derives from the review: deciding twice before the router has applied the
    # first publishes the same message again, which the router skips.
    return IdentityDecisionV1(
        message_id=derived_id(review_id, "decision"),
        review_id=review_id,
        decision=decision,  # type: ignore[arg-type]
        roll_record_id=record,
        child_id=child,
        decided_by=decided_by,
        decided_at=utcnow(),
    )


def _publish(
    settings: RelaySettings, message: IdentityDecisionV1, review_id: str, err: Console
) -> None:
    from schemas.catalogue import IDENTITY_DECISIONS
    from services.runtime.kafka import create_broker, ensure_topics

    async def publish() -> None:
        await ensure_topics(settings, timeout_s=15)
        broker = create_broker(settings, client_id="relay-reviews")
        await broker.start()
        try:
            await broker.publish(
                message.model_dump_json().encode(),
                topic=settings.topic(IDENTITY_DECISIONS.wire),
                key=review_id.encode(),
                headers={"message_id": message.message_id, "content-type": "application/json"},
            )
        finally:
            await broker.stop()

    try:
        asyncio.run(publish())
    except Exception as exc:  # the broker did not take it: nothing was decided
        err.print(
            f"[red]Kafka at {settings.bootstrap}: decision not published "
            f"({type(exc).__name__}: {exc}); nothing changed, try again[/red]"
        )
        raise typer.Exit(1) from exc


def _told(
    settings: RelaySettings,
    review_id: str,
    record: str | None,
    child: str | None,
    decided_by: str,
) -> None:
    from schemas.catalogue import IDENTITY_DECISIONS

    what = (
        f"match to roll record {record}"
        if record
        else f"the same child as {child}"
        if child
        else "no match"
    )
    Console().print(
        f"review {review_id}: {what} published by {decided_by}; the router applies it "
        f"when it reads {settings.topic(IDENTITY_DECISIONS.wire)}"
    )
