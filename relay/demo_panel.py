"""The MSET panel in the demo's story (issues 20 and 23): the panel met yesterday, and its
chair records the meeting in the console by its forms, as a chair would: who was there,
and for the first child on the watchlist a decision, the panel's view of the risk, a
review date and an action for the youth justice service, due tomorrow. Nothing here
writes to a store or a topic directly; what the console does with the forms is the same
as for a person."""

from __future__ import annotations

import re
import threading
from contextlib import closing
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from relay.demo_recipients import wait_for

WAIT_S = 180.0  # for the story's repeat child to reach the watchlist
CHAIR_NAME = "Sam Okafor (MSET chair, demo)"
_LONDON = ZoneInfo("Europe/London")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CHILD = re.compile(r'href="/children/([0-9a-f-]{36})"')
_CHECKBOX = re.compile(
    r'name="organisations" id="([^"]+)" value="([^"]+)"[^>]*> <label for="\1">([^<]+)</label>'
)
_OPTION = re.compile(r'<option value="([^"]+)"[^>]*>([^<]+)</option>')
_PRESENT = ("Council", "Youth Justice", "Police")


def signed_in(console_url: str, username: str, password: str) -> httpx.Client:
    """A client signed in to the console. The session cookie is Secure, which a browser
    sends to 127.0.0.1 over HTTP but httpx's cookie jar does not: it is carried by hand."""
    client = httpx.Client(base_url=console_url, timeout=30)
    form = client.get("/login")
    token = _csrf(form.text)
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        headers={"Cookie": f"relay_login={form.cookies.get('relay_login', '')}"},
    )
    session = re.search(r"relay_session=([^;]+)", answer.headers.get("set-cookie", ""))
    if answer.status_code != 303 or session is None:
        client.close()
        raise httpx.HTTPError(f"signing in as {username} failed (HTTP {answer.status_code})")
    client.cookies.clear()
    client.headers["Cookie"] = f"relay_session={session.group(1)}"
    return client


def hold_meeting(console_url: str, password: str, stopping: threading.Event, now: datetime) -> str:
    """Record yesterday's panel meeting, once; what happened, in words."""
    today = now.astimezone(_LONDON).date()
    with closing(signed_in(console_url, "chair", password)) as client:
        home = client.get("/panel").text
        if "No meeting recorded yet." not in home:
            return "the MSET panel's meeting was recorded before"
        ready = wait_for(lambda: _ready(client), stopping, WAIT_S)
        if ready is None:
            return "no child reached the watchlist: the panel's meeting is not recorded"
        child_id, home = ready
        present = [code for _, code, name in _CHECKBOX.findall(home) if _is_present(name)]
        made = client.post(
            "/panel/meetings",
            data={
                "csrf_token": _csrf(home),
                "held_on": (today - timedelta(days=1)).isoformat(),
                "chair": CHAIR_NAME,
                "organisations": present,
            },
        )
        if made.status_code != 303:
            return f"the panel's meeting was refused (HTTP {made.status_code})"
        review_path = f"{made.headers['location']}/children/{child_id}"
        return _review(client, review_path, today)


def _review(client: httpx.Client, path: str, today: date) -> str:
    page = client.get(path)
    if page.status_code != 200:
        return f"the panel's meeting was recorded; its review page answered {page.status_code}"
    owner = next((code for code, name in _OPTION.findall(page.text) if "Youth Justice" in name), "")
    done = client.post(
        path,
        data={
            "csrf_token": _csrf(page.text),
            "decision": "Keep on the MSET list. Youth justice to visit at home with the "
            "family; school to share attendance weekly.",
            "risk_view": "high",
            "next_review": (today + timedelta(days=14)).isoformat(),
            "action-1-text": "Home visit with the family and a safety plan",
            "action-1-owner": owner,
            "action-1-due": (today + timedelta(days=1)).isoformat(),
        },
    )
    if done.status_code != 200:  # 400: the form names its problems
        return f"the panel's decision was refused (HTTP {done.status_code})"
    return "the MSET panel's meeting of yesterday was recorded, with a decision and an action"


def _ready(client: httpx.Client) -> tuple[str, str] | None:
    """The first child on the watchlist and the panel's page, once the console knows the
    youth justice service too (the action's owner: it learns organisations from alerts)."""
    found = _CHILD.search(client.get("/watchlist").text)
    if found is None:
        return None
    home = client.get("/panel").text
    if not any("Youth Justice" in name for _, _, name in _CHECKBOX.findall(home)):
        return None
    return found.group(1), home


def _is_present(name: str) -> bool:
    return any(part in name for part in _PRESENT)


def _csrf(page: str) -> str:
    found = _CSRF.search(page)
    if found is None:
        raise httpx.HTTPError("the console's form carries no CSRF token")
    return found.group(1)
