"""The MSET panel's actions, as the notifier chases them (issue 20):
``panel-actions.v1`` (console -> notifier, keyed by action).

The console cannot send mail (DESIGN §1: services talk only through topics). When the
panel gives an organisation an action, and again when the action is marked done, the
console publishes the action's state with a revision (the highest wins). The notifier
keeps a row due the morning after the action falls due and, if it is still open then,
emails the owner organisation's escalation address (the address it sends that
organisation's alerts to). The message carries no child's details and no action text:
the email points to the console, where the action is read behind a login.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from schemas.base import Message, derived_id


class PanelActionState(StrEnum):
    OPEN = "open"
    DONE = "done"


class PanelActionV1(Message):
    """``panel-actions.v1``: action ``action_id`` of the meeting held ``meeting_on`` is
    owned by ``owner_code`` and due ``due_on``; ``state`` as of ``revision``."""

    action_id: str
    meeting_id: str
    meeting_on: date
    owner_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    owner_name: Annotated[str, StringConstraints(max_length=300)]
    due_on: date
    state: PanelActionState
    revision: int = Field(ge=1)
    changed_at: datetime

    @staticmethod
    def id_for(action_id: str, revision: int) -> str:
        return derived_id("panel-action", action_id, str(revision))
