"""The console in a real browser (Debian's Chromium, driven by Playwright) against the
whole stack as a user runs it (`relay up`): each role signs in; police events posted
through the ingest API appear in the chair's stream without a reload; an RHI worker
records an interview's outcome and sees the task close; roles are kept to their pages; a
school answers an alert on its acknowledgement page, the police contact is emailed and the
child's `found` stands down what nobody acknowledged (issue 17). The main pages are saved
under docs/screenshots/ for the README."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.e2e.test_relay_up import AMELIA, Stack, api_key, event, post, stack  # noqa: F401

pytestmark = pytest.mark.e2e
T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
# Under var/ (ignored), so a test run leaves the work tree clean; `make screenshots`
# points this at docs/screenshots/ to refresh the README's pictures.
SCREENSHOTS = Path(
    os.environ.get("RELAY_SCREENSHOTS_DIR")
    or Path(__file__).resolve().parents[2] / "var" / "screenshots"
)
PASSWORD = "a long browser test password"
USERS = (
    ("chair", "mset-chair", None),
    ("rhi", "rhi-worker", "E06000057"),
    ("rhi-newcastle", "rhi-worker", "E08000021"),
    ("mash", "mash", None),
    ("admin", "admin", None),
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        message = "the browser tests need Debian's chromium: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def console(stack: Stack) -> str:  # noqa: F811
    for username, role, la_code in USERS:
        extra = ["--la", la_code] if la_code else []
        stack.relay(
            "users", "create", "--username", username, "--role", role, *extra, stdin=PASSWORD
        )
    return f"http://127.0.0.1:{stack.env['RELAY_CONSOLE_PORT']}"


def sign_in(browser: Browser, console: str, username: str) -> Page:
    page = browser.new_page(base_url=console, viewport={"width": 1280, "height": 900})
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"{username} (")).to_be_visible()
    return page


def reload_until(page: Page, found: Locator, timeout_s: float = 30) -> None:
    """Reload ``page`` until ``found`` is on it (pages without a live feed)."""
    deadline = time.monotonic() + timeout_s
    while not found.count() and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.reload()
    expect(found.first).to_be_visible()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_wrong_password_is_refused_and_the_login_page_is_plain(
    browser: Browser, console: str
) -> None:
    page = browser.new_page(base_url=console, viewport={"width": 1280, "height": 700})
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.get_by_label("Username").fill("chair")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The username or password is not right.")
    shot(page, "login")
    page.close()


def test_the_chair_sees_posted_events_arrive_live(
    browser: Browser,
    console: str,
    stack: Stack,  # noqa: F811
    api_key: str,  # noqa: F811
) -> None:
    page = sign_in(browser, console, "chair")
    expect(page.get_by_role("heading", level=1)).to_contain_text("episodes", ignore_case=True)
    assert post(stack, api_key, event("W1-reported", "reported", AMELIA)).status_code == 202
    row = page.locator("tbody.episode", has_text="10-E2E-W1")
    expect(row).to_be_visible(timeout=20_000)  # no reload: the page updates itself
    expect(row).to_contain_text("A.H. (born 2012)")
    expect(row).to_contain_text("Ashington Academy", timeout=20_000)
    shot(page, "stream")

    row.get_by_role("link", name="A.H. (born 2012)").click()  # the child's timeline
    expect(page.get_by_role("heading", level=1)).to_have_text("Amelia Hart")
    expect(page.get_by_text("This view is recorded in the audit.")).to_be_visible()
    expect(page.get_by_role("heading", name="Episode 10 / 10-E2E-W1")).to_be_visible()
    shot(page, "child-timeline")
    page.close()


def test_the_chair_sees_a_repeat_missing_child_on_the_watchlist_and_the_network(
    browser: Browser,
    console: str,
    stack: Stack,  # noqa: F811
    api_key: str,  # noqa: F811
) -> None:
    noah = {"given_name": "Noah", "family_name": "Bell", "date_of_birth": "2011-06-06"}
    haymarket = {"postcode": "NE1 4XF", "description": "Haymarket bus station"}
    with_amelia = [{**AMELIA}]
    for n in (4, 5, 6):
        body = event(f"W{n}-reported", "reported", noah)
        body["risk"] = {"grade": "high", "factors": ["cce"]}
        assert post(stack, api_key, body).status_code == 202
        found = event(f"W{n}-found", "found", noah, location=haymarket, found_with=with_amelia)
        assert post(stack, api_key, found).status_code == 202
    page = sign_in(browser, console, "chair")
    page.goto("/watchlist")
    row = page.locator("#watchlist tr", has_text="N.B. (born 2011)")
    reload_until(page, row)
    expect(row).to_contain_text("CCE")
    shot(page, "watchlist")
    page.goto("/network")
    link = page.locator("#links tr", has_text="Noah Bell")
    reload_until(page, link)
    expect(link).to_contain_text("Amelia Hart")
    expect(link).to_contain_text("Haymarket bus station, NE1 4XF")
    shot(page, "network")
    page.close()


def test_an_rhi_worker_records_an_outcome_and_sees_the_task_close(
    browser: Browser,
    console: str,
    stack: Stack,  # noqa: F811
    api_key: str,  # noqa: F811
) -> None:
    assert post(stack, api_key, event("W2-returned", "returned", AMELIA)).status_code == 202
    page = sign_in(browser, console, "rhi")
    expect(page).to_have_url(re.compile(r"/rhi$"))
    waiting = page.locator("#waiting tr", has_text="10-E2E-W2")
    reload_until(page, waiting)
    shot(page, "rhi-queue")
    waiting.get_by_role("link").click()
    page.get_by_role("radio", name="Not possible").check()
    page.get_by_role("button", name="Record the outcome").click()
    expect(page.get_by_role("alert")).to_contain_text("Say why an interview was not possible.")
    # The interview as an RHI team records it (issue 21): when it took place, by whom,
    # what pushed and pulled the child; a time before the return is refused by name.
    page.get_by_role("radio", name="Completed").check()
    page.get_by_label("When the interview took place").fill("2020-01-01T10:00")
    page.get_by_label("Who interviewed the child").fill("Sam Okafor")
    page.get_by_label("Their organisation").fill("Barnardo's")
    page.locator("#interviewer_independent-yes").check()
    page.get_by_label("Family conflict").check()
    page.get_by_label("Peer pressure").check()
    page.get_by_label("In the child's own words").fill("I wanted to be somewhere quiet.")
    page.get_by_role("button", name="Record the outcome").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "When the interview took place: is before the child's return"
    )
    shot(page, "rhi-record")
    now = datetime.now(ZoneInfo("Europe/London")).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("When the interview took place").fill(now)
    page.get_by_role("button", name="Record the outcome").click()
    expect(page.locator("#recorded")).to_contain_text("Outcome recorded: Completed")
    shot(page, "rhi-task")
    closed = page.locator("#closed tr", has_text="10-E2E-W2")
    page.goto("/rhi")
    reload_until(page, closed)
    expect(closed).to_contain_text("Completed")
    expect(page.locator("#waiting tr", has_text="10-E2E-W2")).to_have_count(0)

    closed.get_by_role("link").click()
    task_url, timeline_url = page.url, None
    # The child's timeline is open to them: the task is their authority's.
    page.get_by_role("link", name="The child's timeline").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Amelia Hart")
    timeline_url = page.url

    # Another authority's worker can open neither.
    other = sign_in(browser, console, "rhi-newcastle")
    for url in (task_url, timeline_url):
        answer = other.goto(url)
        assert answer is not None and answer.status == 403, url
        expect(other.get_by_text("another local authority")).to_be_visible()
    other.close()

    # Done within 72 hours: this month's share for their authority.
    page.get_by_role("link", name="Compliance").click()
    expect(page.locator("#compliance")).to_contain_text("Northumberland CC")
    expect(page.locator("#compliance")).to_contain_text("100%")
    shot(page, "compliance")

    # Their authority's figures, month by month, drawn as charts.
    page.get_by_role("link", name="Figures", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("E06000057")
    expect(page.locator("#totals")).to_contain_text("completed within 72 hours")
    expect(page.locator("figure.chart svg")).to_have_count(4)
    shot(page, "returns")

    # Kept to their own work: the partnership's stream is not theirs.
    answer = page.goto("/")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot open this page")
    page.close()


def test_mash_decides_an_identity_review_and_the_school_is_told(
    browser: Browser,
    console: str,
    stack: Stack,  # noqa: F811
    api_key: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    # The same child twice on one roll (a duplicate entry): the router cannot tell
    # which record is the child, so Blyth High waits for a person; the authority is told.
    roll = tmp_path / "blyth.csv"
    roll.write_text(
        "org_code,record_id,given_name,family_name,date_of_birth,sex,nhs_number,upn,"
        "postcode,address,from,to\n"
        "100002,S-R1,Ruby,Lane,2013-05-05,F,,,NE24 2BB,,2021-09-01,\n"
        "100002,S-R2,Ruby,Lane,2013-05-05,F,,,NE24 2BB,,2021-09-01,\n"
    )
    stack.relay("directory", "import", "roll", str(roll))
    ruby = {"given_name": "Ruby", "family_name": "Lane", "date_of_birth": "2013-05-05"}
    assert post(stack, api_key, event("W3-reported", "reported", ruby)).status_code == 202
    # Found before anyone decided: a review of its own, until the first is decided.
    assert post(stack, api_key, event("W3-found", "found", ruby)).status_code == 202

    page = sign_in(browser, console, "mash")
    expect(page).to_have_url(re.compile(r"/reviews$"))
    pending = page.locator("#pending tr", has_text="10-E2E-W3")
    deadline = time.monotonic() + 30
    while pending.count() < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.reload()
    expect(pending).to_have_count(2)
    shot(page, "reviews")
    pending.first.get_by_role("link").click()
    expect(page.locator("#police-record")).to_contain_text("Ruby Lane")
    expect(page.locator("#candidates")).to_contain_text("S-R2")
    page.get_by_role("button", name="Send the decision").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose a record, or none of them.")
    page.get_by_label("Record S-R1").check()
    shot(page, "review")
    page.get_by_role("button", name="Send the decision").click()
    expect(page.locator("#decided-now")).to_contain_text("Decision sent: record S-R1")

    def to_school() -> list[str]:
        return [
            str(m["Subject"])
            for m in stack.mail()
            if "10-E2E-W3" in m.get_body(("plain",)).get_content()
            and "dsl@blyth.example.org" in str(m["To"])
        ]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("found" in s for s in to_school()):
        time.sleep(0.5)
    # Off the browser's event loop: the stack's own check runs one of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(stack.settled).result()
    # The found's review was decided with the reported's (services/router/
    # person_decisions.py): the school hears the child is found, once; the reported alert
    # goes out at most once (stood down if the found came first: nothing to acknowledge).
    school = to_school()
    assert sum("Missing child found" in s for s in school) == 1, school
    assert len(school) <= 2, school
    page.goto("/reviews")
    reload_until(page, page.locator("#decided tr", has_text="mash (review "))
    expect(page.locator("#pending tr", has_text="10-E2E-W3")).to_have_count(0)

    answer = page.goto("/rhi")
    assert answer is not None and answer.status == 403
    page.close()


def test_admin_lands_on_operational_pages_and_reads_the_audit(
    browser: Browser, console: str
) -> None:
    admin = sign_in(browser, console, "admin")
    expect(admin).to_have_url(re.compile(r"/dead-letters$"))
    answer = admin.goto("/")
    assert answer is not None and answer.status == 403
    admin.get_by_role("link", name="Audit").click()
    expect(admin.locator("#audit")).to_contain_text("View child")  # the chair's view
    shot(admin, "audit")
    admin.close()


# The acknowledgement link in an alert's text: `relay up` points RELAY_PUBLIC_URL at the
# console it started, whatever its port.
ACK_LINK = re.compile(r"(https?://[^\s\"<>/]+)(/ack/[A-Za-z0-9_.\-]+)")
SCHOOL = "dsl@ashington.example.org"
GP = "safeguarding@wansbeck.example.org"
AUTHORITY = "missing@northumberland.example.org"
POLICE = "jones@northumbria.police.example"  # the event's police_contact.email
ANSWERED = 20  # episodes answered in the browser, for answer -> police email p50 and p95


def outbox(stack: Stack) -> list[tuple[Path, EmailMessage]]:  # noqa: F811
    files = sorted((stack.var / "outbox").glob("*.eml"))
    return [
        (p, message_from_bytes(p.read_bytes(), _class=EmailMessage, policy=email_policy.default))
        for p in files
    ]


def text_of(message: EmailMessage) -> str:
    return str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def addressee(message: EmailMessage) -> str:
    return str(message["To"].addresses[0].addr_spec)


def wait_for(what: str, found: Callable[[], T | None], timeout_s: float) -> T:
    """``found()`` once it is truthy, polled until ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = found()
        if value:
            return value
        assert time.monotonic() < deadline, f"waited {timeout_s:.0f} s for {what}"
        time.sleep(0.05)


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def test_a_school_answers_here_now_the_police_are_told_and_found_stands_the_rest_down(
    browser: Browser,
    console: str,
    stack: Stack,  # noqa: F811
    api_key: str,  # noqa: F811
) -> None:
    # Issue 17's loop through `relay up`: a reported child on Ashington Academy's roll;
    # the school's designated safeguarding lead answers "the child is with us now" on the
    # alert's acknowledgement page; the police contact is emailed; `found` stands down the
    # alerts nobody acknowledged; the police's status endpoint and the chair's episode
    # page show both. Twenty episodes, to measure answer -> police email (p95 of 20).
    refs = [f"10-E2E-K{n:02}" for n in range(1, ANSWERED + 1)]
    for n in range(1, ANSWERED + 1):
        assert (
            post(stack, api_key, event(f"K{n:02}-reported", "reported", AMELIA)).status_code == 202
        )

    def alerts_of(ref: str) -> list[EmailMessage] | None:
        # The report's alerts (the same child missing again also earns the authority a
        # "repeatedly missing" notice: not one of these).
        told = [
            m for _, m in outbox(stack) if f"Missing child: police ref 10/{ref} " in m["Subject"]
        ]
        return told if len(told) >= 3 else None

    links: dict[str, str] = {}
    for ref in refs:
        told = wait_for(f"the three alerts of {ref}", partial(alerts_of, ref), 30)
        assert sorted(addressee(m) for m in told) == [SCHOOL, AUTHORITY, GP]
        (school,) = [m for m in told if addressee(m) == SCHOOL]
        link = ACK_LINK.search(text_of(school))
        assert link is not None, text_of(school)
        assert link.group(1) == console
        links[ref] = link.group(0)

    latencies: list[float] = []
    for ref in refs:
        first = ref == refs[0]
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(links[ref])
        # Until the console has the alert's request it cannot name the episode (seconds).
        reload_until(page, page.get_by_text(f"10/{ref}", exact=True))
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Confirm you have received this alert"
        )
        expect(page.locator("h1")).to_have_count(1)  # one page, not two run together
        expect(page.locator("dl.summary")).to_contain_text("Ashington Academy")
        expect(
            page.get_by_role("button", name="Confirm I have received this alert")
        ).to_be_visible()
        expect(page.get_by_text("Amelia")).to_have_count(0)  # the page never names the child
        page.get_by_label("The child is with us now").check()
        if first:
            shot(page, "acknowledge")
        before = {p for p, _ in outbox(stack)}
        pressed = time.time()
        page.get_by_role("button", name="Send my answer").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: answer sent")
        expect(page.locator("#answer-sent")).to_contain_text(
            "You told the police: The child is with us now."
        )
        if first:
            shot(page, "acknowledge-answered")
        page.close()

        def police_mail(
            ref: str = ref, before: set[Path] = before
        ) -> tuple[Path, EmailMessage] | None:
            for p, m in outbox(stack):
                if p not in before and addressee(m) == POLICE and m["Subject"].endswith(ref):
                    return p, m
            return None

        mail_file, mail = wait_for(f"the police's mail about {ref}", police_mail, timeout_s=60)
        latencies.append(mail_file.stat().st_mtime - pressed)
        assert mail["Subject"] == (
            f"Ashington Academy answered your missing-child alert: police ref 10/{ref}"
        )
        assert "The child is with us now." in text_of(mail)
        # The answer went to the police only.
        answered = [m for _, m in outbox(stack) if "answered" in str(m["Subject"])]
        assert [addressee(m) for m in answered if str(m["Subject"]).endswith(ref)] == [POLICE]

    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    print(
        f"\nanswer -> police email on relay up, n={len(latencies)}: "
        f"p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(latencies):.2f} s; "
        f"each {', '.join(f'{s:.2f}' for s in latencies)} s"
    )
    assert max(latencies) < 60  # the issue: "emailed within a minute"

    # Found: the alerts of the report nobody acknowledged are stood down.
    ref = refs[0]
    assert post(stack, api_key, event("K01-found", "found", AMELIA)).status_code == 202
    key = {"Authorization": f"Bearer {api_key}"}

    def reported_alerts() -> dict[str, dict[str, Any]] | None:
        answer = httpx.get(f"{stack.ingest}/v1/episodes/10/{ref}", headers=key, timeout=30)
        assert answer.status_code == 200, answer.text
        alerts = {
            r["organisation_code"]: a
            for r in answer.json()["recipients"]
            for a in r["alerts"]
            if a["event_type"] == "reported"
        }
        settled = (
            alerts.get("A81001", {}).get("state") == "stood-down"
            and alerts.get("E06000057", {}).get("state") == "stood-down"
            and alerts.get("100001", {}).get("answer") == "here-now"
            and alerts.get("100001", {}).get("state") == "acknowledged"  # every answer does
        )
        return alerts if settled else None

    alerts = wait_for("the report's alerts stood down", reported_alerts, timeout_s=30)
    school_alert = alerts["100001"]
    assert school_alert["acknowledged_at"] and school_alert["answered_at"]
    for code in ("A81001", "E06000057"):
        assert alerts[code]["acknowledged_at"] is None and alerts[code]["answer"] is None
    status = httpx.get(f"{stack.ingest}/v1/episodes/10/{ref}", headers=key, timeout=30)
    assert [e["type"] for e in status.json()["events"]] == ["reported", "found"]
    assert "Amelia" not in status.text and "Hart" not in status.text

    # Another force's key may not read it; an episode never sent is not there.
    other = json.loads(
        stack.relay("keys", "create", "--force-code", "01", "--name", "e2e-other", "--json")
    )
    refused = httpx.get(
        f"{stack.ingest}/v1/episodes/10/{ref}",
        headers={"Authorization": f"Bearer {other['key']}"},
        timeout=30,
    )
    assert refused.status_code == 403, refused.text
    unknown = httpx.get(f"{stack.ingest}/v1/episodes/10/10-E2E-NEVER", headers=key, timeout=30)
    assert unknown.status_code == 404, unknown.text

    # A forged link records nothing and says so.
    page = browser.new_page()
    refused_page = page.goto(console + "/ack/" + "x" * 40)
    assert refused_page is not None and refused_page.status == 404
    expect(page.locator("h1")).to_have_text(["Link not recognised"])
    expect(page.get_by_role("button")).to_have_count(0)
    page.close()

    # The chair's episode page: the answer, and the alerts stood down.
    page = sign_in(browser, console, "chair")
    page.goto(f"/episodes/10/{ref}")
    stood_down = page.locator("table.table--alerts tbody tr", has_text="Stood down")
    reload_until(page, stood_down.filter(has_text="Northumberland CC"))
    reload_until(page, stood_down.filter(has_text="Wansbeck Surgery"))
    answer_row = page.locator("table.table--answers tbody tr")
    expect(answer_row).to_have_count(1)
    expect(answer_row).to_contain_text("Ashington Academy")
    expect(answer_row).to_contain_text("Here now")
    school_row = page.locator("table.table--alerts tbody tr", has_text="Ashington Academy")
    expect(school_row.filter(has_text="Reported")).to_contain_text("Acknowledged")
    shot(page, "episode-answers")
    page.close()
