"""``relay policy check [FILE]``: validate a partnership's policy file as the services
will at start-up, and say what it means."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.notifier.app import load_policy as notifier_policy
from services.router.app import load_policy as router_policy
from services.runtime.retention import load_retention
from services.runtime.settings import RelaySettings


def describe(settings: RelaySettings) -> list[str]:
    """What the policy says, in a few lines; raises the services' policy errors."""
    routing = router_policy(settings)
    delivery = notifier_policy(settings)
    calendar = delivery.calendar
    told = [
        f"{situation}: the responsible local authority"
        + "".join(f", {k}" for k in sorted(k.value for k in kinds))
        for situation, kinds in routing.recipients.items()
    ]
    return [
        *told,
        f"repeat missing: {routing.repeat_threshold} episodes in "
        f"{routing.repeat_window_days} days; default authority {routing.default_la or 'none'}",
        f"school alerts: acknowledge before {delivery.school_day_start:%H:%M} on the next "
        f"school day ({calendar.nation} bank holidays, {len(calendar.terms)} term(s), "
        f"{len(calendar.closures)} closure day(s))",
        f"other alerts: {delivery.default_ack_hours:g} h"
        + "".join(f", {kind} {hours:g} h" for kind, hours in sorted(delivery.ack_hours.items())),
        f"escalation contact, then the local authority after {delivery.escalation_hours:g} h",
        f"RHI: reminder at {delivery.rhi_reminder_hours:g} h, due at {routing.rhi_due_hours} h",
        f"SMTP retries for {delivery.retry.window.total_seconds() / 3600:g} h",
        "kept for: "
        + ", ".join(f"{kind} {days} days" for kind, days in load_retention(settings).days.items()),
    ]


def register(app: typer.Typer) -> None:
    policy_app = typer.Typer(no_args_is_help=True, help="The partnership's policy file.")
    app.add_typer(policy_app, name="policy")

    @policy_app.command("check")
    def check(
        file: Annotated[
            Path | None,
            typer.Argument(help="the policy file; default RELAY_POLICY_FILE"),
        ] = None,
    ) -> None:
        """Validate a policy file as the router and notifier will, and summarise it."""
        settings = RelaySettings()
        if file is not None:
            settings = settings.model_copy(update={"policy_file": file})
        try:
            lines = describe(settings)
        except ValueError as exc:  # PolicyError, PolicyFileError: they name table and key
            typer.echo(f"policy: {exc}", err=True)
            raise typer.Exit(1) from exc
        typer.echo(f"{settings.policy_file or 'no policy file: the defaults'}: OK")
        for line in lines:
            typer.echo(f"  {line}")
