"""What the people in the demo's story do (relay/demo_story.py), by the paths real people
use: a recipient opens the link in the alert email that landed in ``var/outbox/`` and
presses a button on the acknowledgement page; an RHI worker records an interview with
``relay tasks complete``. Nothing here writes to a service's store or a topic directly.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import httpx

from relay.demo_data import FORCE_CODE
from relay.demo_story import Interview, Reply

T = TypeVar("T")
WAIT_S = 90.0  # for the alert to reach the outbox, or the task the notifier
_LINK = re.compile(r"https?://\S+/ack/[A-Za-z0-9_.~-]+")
INTERVIEWER_ORG = "Northumberland Return Interview Service"
ANSWERS = {
    "here-now": "the child is with us now",
    "not-known": "we do not know this child",
    "information": "we have information for the police",
}

Relay = Callable[..., str]  # runs a relay command, returns its output


def ack_link(outbox: Path, recipient_email: str, episode_ref: str) -> str | None:
    """The acknowledgement link of the first alert to ``recipient_email`` about the
    episode, once its email is in the outbox."""
    address = recipient_email.encode()
    police_ref = f"{FORCE_CODE}/{episode_ref}"
    for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime):
        raw = path.read_bytes()
        if address not in raw:
            continue
        mail = message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
        if recipient_email not in str(mail["To"]) or police_ref not in str(mail["Subject"]):
            continue
        body = mail.get_body(("plain",))
        found = _LINK.search(body.get_content()) if body is not None else None
        if found:
            return found.group(0)
    return None


def reply(outbox: Path, act: Reply, stopping: threading.Event) -> str:
    """Press the button on the alert's acknowledgement page; what happened, in words."""
    link = wait_for(lambda: ack_link(outbox, act.recipient_email, act.episode_ref), stopping)
    if link is None:
        return f"no alert to {act.recipient} about {act.episode_ref} arrived"
    form = {} if act.answer is None else {"answer": act.answer}
    if act.information:
        form["information"] = act.information

    def press() -> httpx.Response | None:
        answer = httpx.post(link, data=form, timeout=30)
        # 422 "still being recorded": the console has not read the alert yet.
        return None if answer.status_code == 422 else answer

    answer = wait_for(press, stopping)
    if answer is None or answer.status_code != 200:
        status = "no answer" if answer is None else f"HTTP {answer.status_code}"
        return f"{act.recipient} could not answer about {act.episode_ref} ({status})"
    did = f"answered {ANSWERS[act.answer]!r} to" if act.answer else "acknowledged"
    return f"{act.recipient} {did} its alert about {act.episode_ref}"


def record_interview(relay: Relay, act: Interview, stopping: threading.Event) -> str:
    """Record the interview of the episode's RHI task as its worker would."""

    def task() -> dict[str, str] | None:
        rows = json.loads(relay("tasks", "list", "--json"))
        return next((t for t in rows if t["episode_ref"] == act.episode_ref), None)

    found = wait_for(task, stopping)
    if found is None:
        return f"no RHI task for {act.episode_ref} appeared"
    if found["state"] not in ("open", "reminded", "escalated"):
        return f"the interview for {act.episode_ref} was recorded before"
    interviewed = act.interviewed_at.isoformat(timespec="minutes")
    relay(
        "tasks",
        "complete",
        found["task_id"],
        "--outcome",
        "completed",
        "--by",
        f"{act.interviewer} (RHI worker)",
        "--offered-at",
        interviewed,
        "--interviewed-at",
        interviewed,
        "--interviewer",
        act.interviewer,
        "--interviewer-org",
        INTERVIEWER_ORG,
        "--independent",
        "--no-harm",
    )
    return f"the return home interview for {act.episode_ref} was recorded"


def wait_for(
    attempt: Callable[[], T | None], stopping: threading.Event, seconds: float = WAIT_S
) -> T | None:
    """``attempt()``'s first answer that is not None, tried every half second for up to
    ``seconds`` (an HTTP error counts as no answer yet); None when time or the demo ran
    out."""
    waited = 0.0
    while not stopping.is_set() and waited < seconds:
        try:
            result = attempt()
        except httpx.HTTPError:
            result = None
        if result is not None:
            return result
        stopping.wait(0.5)
        waited += 0.5
    return None
