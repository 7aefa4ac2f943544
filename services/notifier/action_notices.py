"""Overdue MSET panel actions, emailed to the owner organisation (issue 20; pure).

The panel gives an organisation an action with a due date (the console publishes it on
``panel-actions.v1``). Still open on the morning after it fell due, the organisation's
escalation contact is told, once: which meeting, when it was due, and where the panel
chair keeps it. Never the action's words or the child: those sit behind the console's
login (DESIGN §7, minimal content).
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from schemas.base import derived_id
from services.notifier.delivery import MESSAGE_ID_DOMAIN
from services.notifier.rendering import LONDON, OutgoingEmail, header_value, long_date

NOTICE_AT = time(9, 0)  # the morning after the due date, London time
_SMTP = email.policy.SMTP


@dataclass(frozen=True)
class OverdueAction:
    action_id: str
    meeting_on: date
    owner_name: str
    due_on: date


def notice_due_at(due_on: date) -> datetime:
    """When an action still open is chased: 09:00 the day after it fell due."""
    return datetime.combine(due_on + timedelta(days=1), NOTICE_AT, tzinfo=LONDON)


def notice_message_id(action_id: str) -> str:
    return f"<{derived_id('panel-action-overdue', action_id)}@{MESSAGE_ID_DOMAIN}>"


def notice_text(action: OverdueAction, console_url: str) -> str:
    link = f"{console_url.rstrip('/')}/panel/actions/{action.action_id}"
    return (
        f"Dear {header_value(action.owner_name)},\n"
        "\n"
        f"At its meeting on {long_date(action.meeting_on)} the missing children (MSET) "
        "panel gave your organisation an action about a child, due on "
        f"{long_date(action.due_on)}. It is not marked done.\n"
        "\n"
        "Please complete it, or tell the panel's chair what stands in the way; the chair "
        "marks it done in Relay's console:\n"
        f"  {link}\n"
        "\n"
        "This email holds no child's details: the action is read in the console, behind "
        "its login.\n"
    )


def compose_notice(
    action: OverdueAction, to: str, sender: str, console_url: str, now: datetime
) -> OutgoingEmail:
    message = EmailMessage(policy=_SMTP)
    message["Subject"] = header_value(f"MSET panel action overdue: due {long_date(action.due_on)}")
    message["From"] = header_value(sender)
    message["To"] = header_value(to)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = notice_message_id(action.action_id)
    message["X-Relay-Panel-Action"] = header_value(action.action_id)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(notice_text(action, console_url), charset="utf-8")
    return OutgoingEmail(parseaddr(header_value(sender))[1], message.as_bytes())
