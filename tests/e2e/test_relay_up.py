"""The whole stack as a user runs it: `relay up` on the embedded default, organisations
and a roll imported, a key created, events posted over HTTP, mail found in var/outbox."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from unittest import mock

import httpx
import pytest

from relay.embedded import free_port
from services.runtime.settings import RelaySettings
from tests.conftest import EMBEDDED_GROUP_ENV, eventually
from tests.settled import pipeline_settled

pytestmark = pytest.mark.e2e

ORGANISATIONS = """code,kind,name,email,escalation_email,phone,la_code
100001,school,Ashington Academy,dsl@ashington.example.org,head@ashington.example.org,,E06000057
100002,school,Blyth High,dsl@blyth.example.org,,,E06000057
A81001,gp-practice,Wansbeck Surgery,safeguarding@wansbeck.example.org,,,E06000057
YOT01,yot,Northumberland YOT,yot@northumberland.example.org,,,E06000057
E06000057,local-authority,Northumberland CC,missing@northumberland.example.org,,,E06000057
"""
ROLL = (
    (
        "org_code,record_id,given_name,family_name,date_of_birth,sex,nhs_number,upn,postcode,"
        "address,from,to\n"
    )
    + """100001,S1,Amelia,Hart,2012-03-04,F,,B801200005001,NE61 1AA,,2020-09-01,
A81001,G1,Amelia,Hart,2012-03-04,F,9434765919,,NE61 1AA,,,
100002,S2,Oliver,Reed,2011-07-19,M,,,NE24 2BB,,2019-09-01,2025-07-20
"""
)


@dataclass
class Stack:
    env: dict[str, str]
    var: Path
    ingest: str
    process: subprocess.Popen[bytes]

    def relay(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "relay", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            input=stdin,
        )
        assert done.returncode == 0, f"relay {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    def settled(self) -> None:
        """Wait until the stack has done all it was given: what it would still send
        (rightly or not) is in var/outbox by then."""
        with mock.patch.dict(os.environ, self.env, clear=True):
            settings = RelaySettings()
        asyncio.run(eventually(lambda: pipeline_settled(settings), 60, 0.2))

    def mail(self) -> list[EmailMessage]:
        folder = self.var / "outbox"
        return [
            message_from_bytes(p.read_bytes(), _class=EmailMessage, policy=policy.default)
            for p in sorted(folder.glob("*.eml"))
        ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    var = tmp_path_factory.mktemp("relay") / "var"
    ports = {
        name: free_port()
        for name in ("INGEST", "CONSOLE", "ROUTER", "NOTIFIER", "EMBEDDED_KAFKA", "EMBEDDED_SMTP")
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update({f"RELAY_{name}_PORT": str(port) for name, port in ports.items()})
    env.update(RELAY_VAR_DIR=str(var), RELAY_POLL_INTERVAL_S="0.2", PYTHONUNBUFFERED="1")
    env.update(EMBEDDED_GROUP_ENV)
    log = open(var.parent / "up.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "relay", "up"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    ingest = f"http://127.0.0.1:{ports['INGEST']}"
    deadline = time.monotonic() + 120
    while b"Ready." not in (var.parent / "up.log").read_bytes():
        assert process.poll() is None, (var.parent / "up.log").read_text()
        assert time.monotonic() < deadline, (var.parent / "up.log").read_text()
        time.sleep(0.3)
    try:
        yield Stack(env, var, ingest, process)
    finally:
        process.send_signal(signal.SIGTERM)  # drains as Ctrl-C does (relay/up.py)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def api_key(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    files = tmp_path_factory.mktemp("directory")
    (files / "organisations.csv").write_text(ORGANISATIONS)
    (files / "roll.csv").write_text(ROLL)
    stack.relay("directory", "import", "organisations", str(files / "organisations.csv"))
    stack.relay("directory", "import", "roll", str(files / "roll.csv"))
    created = json.loads(
        stack.relay("keys", "create", "--force-code", "10", "--name", "e2e", "--json")
    )
    return str(created["key"])


def event(event_id: str, kind: str, child: dict[str, object], **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_id": event_id,
        "type": kind,
        "force_code": "10",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "episode_ref": f"10-E2E-{event_id.split('-')[0]}",
        "child": child,
        "police_contact": {
            "name": "PC Jones",
            "phone": "101",
            "email": "jones@northumbria.police.example",
        },
    }
    if kind in ("reported", "risk-changed"):
        body["risk"] = {"grade": "medium", "factors": ["county-lines"]}
    body.update(extra)
    return body


AMELIA = {"given_name": "Amelia", "family_name": "Hart", "date_of_birth": "2012-03-04"}
NOBODY = {"given_name": "Zara", "family_name": "Quill", "date_of_birth": "2013-01-01"}


def to(message: EmailMessage) -> str:
    return str(message["To"].addresses[0].addr_spec)


def post(stack: Stack, key: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(
        f"{stack.ingest}/v1/episode-events",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def wait_for_mail(
    stack: Stack, episode_ref: str, count: int, timeout_s: float = 10
) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = [m for m in stack.mail() if episode_ref in m.get_body(("plain",)).get_content()]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_reported_child_on_rolls_alerts_school_gp_and_authority_once(
    stack: Stack, api_key: str
) -> None:
    body = event(
        "A1-reported",
        "reported",
        {**AMELIA, "nhs_number": "9434765919"},
        location={"postcode": "NE61 1AA", "description": "seen near the bus station"},
        found_with=[{"given_name": "Kai", "family_name": "Stone"}],
    )
    answer = post(stack, api_key, body)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "accepted", "event_id": "A1-reported"}

    mail = wait_for_mail(stack, "10-E2E-A1", 3, timeout_s=10)  # within 10 s of the 202
    recipients = sorted(to(m) for m in mail)
    assert recipients == [
        "dsl@ashington.example.org",
        "missing@northumberland.example.org",
        "safeguarding@wansbeck.example.org",
    ]
    for message in mail:
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "Amelia" in text and "Hart" in text
        for secret in ("county-lines", "bus station", "Kai", "Stone", "NE61"):
            assert secret not in text and secret not in html, secret

    again = post(stack, api_key, body)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    stack.settled()  # nothing may arrive: a wrong second send would be in by now
    assert len(wait_for_mail(stack, "10-E2E-A1", 4, timeout_s=0)) == 3


def test_returned_creates_rhi_task_due_72_hours_after_return(stack: Stack, api_key: str) -> None:
    body = event("B1-returned", "returned", AMELIA)
    assert post(stack, api_key, body).status_code == 202
    deadline = time.monotonic() + 15
    while True:
        tasks = [
            t
            for t in json.loads(stack.relay("tasks", "list", "--json"))
            if t["episode_ref"] == "10-E2E-B1"
        ]
        if tasks or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(tasks) == 1
    returned = datetime.fromisoformat(str(body["occurred_at"]))
    assert datetime.fromisoformat(tasks[0]["due_at"]) == returned + timedelta(hours=72)
    assert tasks[0]["authority_code"] == "E06000057"


def test_invalid_nhs_number_is_refused_naming_the_field_and_kept(
    stack: Stack, api_key: str
) -> None:
    answer = post(
        stack, api_key, event("C1-reported", "reported", {**AMELIA, "nhs_number": "9434765918"})
    )
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["child.nhs_number"]
    rejects = json.loads(stack.relay("rejects", "list", "--json"))
    assert any(r["event_id"] == "C1-reported" for r in rejects)


def test_child_on_no_roll_reaches_only_the_local_authority(stack: Stack, api_key: str) -> None:
    assert post(stack, api_key, event("D1-reported", "reported", NOBODY)).status_code == 202
    wait_for_mail(stack, "10-E2E-D1", 1, timeout_s=10)
    stack.settled()
    mail = wait_for_mail(stack, "10-E2E-D1", 2, timeout_s=0)
    assert [to(m) for m in mail] == ["missing@northumberland.example.org"]


def test_pupil_who_left_school_is_not_alerted_to_that_school(stack: Stack, api_key: str) -> None:
    oliver = {"given_name": "Oliver", "family_name": "Reed", "date_of_birth": "2011-07-19"}
    assert post(stack, api_key, event("F1-reported", "reported", oliver)).status_code == 202
    wait_for_mail(stack, "10-E2E-F1", 1, timeout_s=10)
    stack.settled()
    mail = wait_for_mail(stack, "10-E2E-F1", 2, timeout_s=0)
    assert [to(m) for m in mail] == ["missing@northumberland.example.org"]


def test_unknown_key_is_refused(stack: Stack) -> None:
    assert post(stack, "mer_10_nope", event("E1-reported", "reported", AMELIA)).status_code == 401


def _serve_processes(parent: int) -> dict[str, int]:
    """``relay serve <service>`` children of ``parent``: service -> niceness."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[1]) == parent and b"serve" in argv:
            found[argv[argv.index(b"serve") + 1].decode()] = int(fields[16])
    return found


def test_the_console_yields_the_cores_to_the_delivery_path(stack: Stack) -> None:
    own = os.getpriority(os.PRIO_PROCESS, stack.process.pid)
    assert _serve_processes(stack.process.pid) == {
        "ingest": own,
        "router": own,
        "notifier": own,
        "console": min(own + 10, 19),
    }


def test_every_service_runs_on_uvloop(stack: Stack) -> None:
    """``RELAY_EVENT_LOOP``'s default: uvloop, installed with the project on Linux."""
    for service in ("ingest", "router", "notifier", "console"):
        log = (stack.var / "logs" / f"{service}.log").read_text()
        assert f"{service} runs on the uvloop event loop" in log, service


def test_relay_status_says_all_is_well_and_names_what_is_not(stack: Stack, api_key: str) -> None:
    status = json.loads(stack.relay("status", "--json"))
    assert status["needs_attention"] is False, status["problems"]
    assert {name: s["up"] for name, s in status["services"].items()} == dict.fromkeys(
        ("ingest", "router", "notifier", "console"), True
    )
    assert status["consumer_lag"]["router"]["episode-events.v1"] == 0
    assert status["outbox_backlog"]["notifier"]["messages"] == 0
    assert status["dead_letters"] == {} and status["unsent_alerts"] == 0
    assert 0 <= status["directory_import_age_s"] < 3600

    gone = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "relay", "status", "--url", f"console={gone}"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"console is not up (unreachable) at {gone}/healthz" in done.stdout


def test_a_busy_port_stops_relay_up_naming_it_and_its_holder(tmp_path: Path) -> None:
    ports = {
        name: free_port()
        for name in ("INGEST", "ROUTER", "NOTIFIER", "EMBEDDED_KAFKA", "EMBEDDED_SMTP")
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update({f"RELAY_{name}_PORT": str(port) for name, port in ports.items()})
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        env.update(RELAY_CONSOLE_PORT=str(taken), RELAY_VAR_DIR=str(tmp_path / "var"))
        done = subprocess.run(
            [sys.executable, "-m", "relay", "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert f"port {taken} (console) is in use, held by process {os.getpid()}" in done.stderr
    assert "RELAY_CONSOLE_PORT" in done.stderr
    assert "Starting the embedded broker" not in done.stdout  # nothing was started
