"""No child's details in any log (issue "Security and data protection", point 4).

`relay up` as a user runs it (started as test_relay_up starts it, but logging at DEBUG),
a child with distinctive details posted over HTTP through a whole episode (reported, a
refused event, found with a location and associates, returned), the alerts waited for
in the outbox, the CLI commands that touch children run. Then everything logged is
read: the output of `relay up`, each service's log and the broker's under the var dir,
and the output of every command. None of it may show the child's name, date of birth,
NHS number or postcode (nor the address, the associates or the place found). The
outbox's mail and the databases hold them by design and are not read.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from relay.embedded import free_port
from schemas.episode import episode_message_id
from tests.conftest import EMBEDDED_GROUP_ENV
from tests.e2e import test_relay_up
from tests.e2e.test_relay_up import Stack, event, post, to, wait_for_mail

# The organisations of test_relay_up imported and a police key created, on the stack below.
api_key = test_relay_up.api_key
EMAILS = {
    row.split(",")[0]: row.split(",")[3]
    for row in test_relay_up.ORGANISATIONS.strip().splitlines()[1:]
}

pytestmark = pytest.mark.e2e

GIVEN, FAMILY = "Ysolde", "Bramblethwaite"
DOB = "2011-11-27"
NHS = "7382619451"  # Modulus 11: check digit 1
POSTCODE = "NE61 9ZQ"
CHILD: dict[str, object] = {
    "given_name": GIVEN,
    "family_name": FAMILY,
    "date_of_birth": DOB,
    "sex": "F",
    "nhs_number": NHS,
    "postcode": POSTCODE,
    "address": "17 Quillfeather Lane, Morpeth",
}
# The child on the school's, the GP's and the YOT's rolls, so every matcher sees her.
ROLL = (
    "org_code,record_id,given_name,family_name,date_of_birth,sex,nhs_number,upn,postcode,"
    "address,from,to\n"
    f"100001,S-LOG1,{GIVEN},{FAMILY},{DOB},F,,,{POSTCODE},,2020-09-01,\n"
    f"A81001,G-LOG1,{GIVEN},{FAMILY},{DOB},F,{NHS},,{POSTCODE},,,\n"
    f"YOT01,Y-LOG1,{GIVEN},{FAMILY},{DOB},F,,,{POSTCODE},,2025-01-01,\n"
    # A child close to her at another school: her events are reviewed against both.
    "100002,S-LOG2,Ysolda,Bramblethwaite,2011-11-28,F,,,NE24 2BB,,2020-09-01,\n"
)
FOUND_AT: dict[str, object] = {"postcode": "DH1 7QX", "description": "behind the Quokka Arcade"}
FOUND_WITH = [
    {"given_name": "Wilhelmina", "family_name": "Drabblecote", "date_of_birth": "2010-06-07"}
]

# (what, pattern): the child's details, as a log line might write them.
SECRETS = [
    ("given name", GIVEN),
    ("family name", FAMILY),
    ("near-miss given name", "Ysolda"),
    ("date of birth (ISO)", r"2011-11-2[78]"),
    ("date of birth (long)", r"2[78] November 2011|November 2[78],? 2011"),
    ("date of birth (repr or UK)", r"2011, 11, 2[78]|2[78]/11/2011|2011/11/2[78]"),
    ("NHS number", r"738\s*261\s*9451|738\s*261\s*9450"),  # the good one and the bad one
    ("postcode", r"NE61\s*9ZQ"),
    ("address", "Quillfeather"),
    ("place found", r"DH1\s*7QX|Quokka Arcade"),
    ("associate", r"Wilhelmina|Drabblecote"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`relay up` as test_relay_up starts it (its own var dir and ports), but logging at
    DEBUG: the most any service can log is what is read."""
    var = tmp_path_factory.mktemp("relay") / "var"
    ports = {
        name: free_port()
        for name in ("INGEST", "CONSOLE", "ROUTER", "NOTIFIER", "EMBEDDED_KAFKA", "EMBEDDED_SMTP")
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update({f"RELAY_{name}_PORT": str(port) for name, port in ports.items()})
    env.update(
        RELAY_VAR_DIR=str(var),
        RELAY_POLL_INTERVAL_S="0.2",
        RELAY_LOG_LEVEL="DEBUG",
        PYTHONUNBUFFERED="1",
        **EMBEDDED_GROUP_ENV,
    )
    up_log = var.parent / "up.log"
    with up_log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "relay", "up"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 120
    while b"Ready." not in up_log.read_bytes():
        assert process.poll() is None, up_log.read_text()
        assert time.monotonic() < deadline, up_log.read_text()
        time.sleep(0.3)
    try:
        yield Stack(env, var, f"http://127.0.0.1:{ports['INGEST']}", process)
    finally:
        process.send_signal(signal.SIGTERM)  # drains as Ctrl-C does; see below
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()


def leaks(text: str) -> list[str]:
    return [what for what, pattern in SECRETS if re.search(pattern, text, re.IGNORECASE)]


def relay(stack: Stack, *commands: tuple[str, ...]) -> list[str]:
    """Run CLI commands side by side (each start costs seconds); the whole output of
    each (stdout and stderr, both read for leaks), in order."""
    running = [
        (
            args,
            subprocess.Popen(
                [sys.executable, "-m", "relay", *args],
                env=stack.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for args in commands
    ]
    outputs = []
    for args, process in running:
        stdout, stderr = process.communicate(timeout=60)
        output = f"$ relay {' '.join(args)}\n{stdout}{stderr}"
        assert process.returncode == 0, output
        outputs.append(output)
    return outputs


def rows(output: str, episode_ref: str) -> list[dict[str, Any]]:
    """The rows of a ``--json`` listing about one episode."""
    listing: list[dict[str, Any]] = json.loads(output.split("\n", 1)[1])
    return [row for row in listing if row["episode_ref"] == episode_ref]


def told(stack: Stack, episode_ref: str) -> set[str]:
    """Who has mail about an episode in the outbox now."""
    return {to(m) for m in wait_for_mail(stack, episode_ref, 10**6, timeout_s=0)}


def log_files(stack: Stack) -> dict[str, str]:
    """Everything the stack logged: `relay up`'s output beside the var dir, and every
    log file under the var dir (the services', the broker's). Not the outbox's mail nor
    the databases, which hold the child's details by design."""
    files = {"up.log": (stack.var.parent / "up.log").read_text(errors="replace")}
    for path in sorted(stack.var.rglob("*.log")):
        files[str(path.relative_to(stack.var))] = path.read_text(errors="replace")
    return files


def test_no_child_details_in_any_log(stack: Stack, api_key: str, tmp_path: Path) -> None:
    outputs: list[str] = []
    (tmp_path / "roll.csv").write_text(ROLL)
    outputs += relay(stack, ("directory", "import", "roll", str(tmp_path / "roll.csv")))

    ref = "10-E2E-LOG1"
    reported = event(
        "LOG1-reported",
        "reported",
        CHILD,
        risk={"grade": "high", "factors": ["cse", "county-lines"]},
        missing_from="home",
    )
    answer = post(stack, api_key, reported)
    assert answer.status_code == 202, answer.text
    # Refused: the NHS number fails its check digit. Kept as a reject, logged by id.
    bad = event("LOG1-bad", "still-missing", {**CHILD, "nhs_number": "7382619450"})
    answer = post(stack, api_key, bad)
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["child.nhs_number"]
    # The reported alerts go out before she is found: alerts still queued when the child
    # is found are stood down, never sent (issue 17).
    assert len(wait_for_mail(stack, ref, 4, timeout_s=30)) == 4
    found = event("LOG1-found", "found", CHILD, location=FOUND_AT, found_with=FOUND_WITH)
    assert post(stack, api_key, found).status_code == 202
    returned = event("LOG1-returned", "returned", CHILD, location=FOUND_AT)
    assert post(stack, api_key, returned).status_code == 202
    # The close child: her own school is told, her near-namesake's records are reviewed.
    near = {k: v for k, v in CHILD.items() if k != "nhs_number"}
    near.update(given_name="Ysolda", date_of_birth="2011-11-28")
    later = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert (
        post(
            stack,
            api_key,
            event("LOG2-reported", "reported", near, occurred_at=later, risk={"grade": "low"}),
        ).status_code
        == 202
    )

    # School, GP, YOT and authority for each of the three events reach the outbox.
    mail = wait_for_mail(stack, ref, 12, timeout_s=30)
    assert len(mail) == 12, [str(m["Subject"]) for m in mail]
    for m in mail:
        text = m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        # The scan's patterns find the child where she belongs: in the mail.
        assert {"given name", "family name", "date of birth (long)"} <= set(leaks(text))

    # The close child's first alert is out: the router held her reviews with it.
    wait_for_mail(stack, "10-E2E-LOG2", 1, timeout_s=15)
    (tmp_path / "records.csv").write_text(ROLL)
    # The commands that show children's records, alerts, tasks, reviews and rejects,
    # and matching files without any store.
    listed = relay(
        stack,
        ("rejects", "list"),
        ("rejects", "list", "--json"),
        ("alerts", "list", "--json"),
        ("reviews", "list"),
        ("reviews", "list", "--json"),
        ("tasks", "list", "--json"),
        (
            "link",
            "--roll",
            str(tmp_path / "roll.csv"),
            "--records",
            str(tmp_path / "records.csv"),
            "--out",
            str(tmp_path / "decisions.csv"),
        ),
    )
    outputs += listed
    assert "LOG1-bad" in listed[1]
    # The roll-record reviews (a same-child review of the episode may be listed too).
    reviews = [r for r in rows(listed[4], "10-E2E-LOG2") if r["kind"] == "roll-record"]
    assert reviews and reviews[0]["state"] == "pending", reviews
    tasks = rows(listed[5], ref)
    deadline = time.monotonic() + 30
    while not tasks:  # the task request may trail the alerts a little
        assert time.monotonic() < deadline, "the RHI task never came"
        tasks = rows(relay(stack, ("tasks", "list", "--json"))[0], ref)
    assert len(tasks) == 1, tasks
    record = reviews[0]["candidates"][0]["roll_record_id"]
    reviewed = EMAILS[reviews[0]["org_code"]]
    assert reviewed not in told(stack, "10-E2E-LOG2")
    outputs += relay(
        stack,
        ("reviews", "decide", reviews[0]["review_id"], "--record", record),
        (
            "tasks",
            "complete",
            tasks[0]["task_id"],
            "--outcome",
            "completed",
            "--by",
            "rhi worker",
            "--interviewed-at",
            datetime.now(UTC).isoformat(),
            "--interviewer",
            "Sam Okafor",
            "--independent",
            "--child-words",
            "I wanted to be somewhere quiet",
        ),
    )
    # The decided review's alert reaches the outbox: the router and notifier logged it.
    deadline = time.monotonic() + 15
    while reviewed not in told(stack, "10-E2E-LOG2"):
        assert time.monotonic() < deadline, "the decided review's alert never came"
        time.sleep(0.3)

    # Stop the stack, so what the services log as they drain is read too. SIGTERM drains
    # as Ctrl-C does (relay/up.py); a SIGINT is ignored by a stack whose test run was
    # started in the background without job control (it inherits SIGINT ignored).
    stack.process.send_signal(signal.SIGTERM)
    stack.process.wait(timeout=90)

    logs = log_files(stack)
    for service in ("ingest", "router", "notifier", "console"):
        assert f"logs/{service}.log" in logs, sorted(logs)
    # The scan reads real log lines: the services did log this flow, by id.
    assert "LOG1-bad" in logs["logs/ingest.log"]
    assert episode_message_id("10", "LOG1-found") in logs["logs/router.log"]
    assert "Stopped." in logs["up.log"]
    found_in = {name: leaks(text) for name, text in logs.items() if leaks(text)}
    found_in |= {output.splitlines()[0]: leaks(output) for output in outputs if leaks(output)}
    assert not found_in, found_in
