"""The console in a real browser (Debian's Chromium, driven by Playwright) against the
whole stack as a user runs it (`relay up`): each role signs in; police events posted
through the ingest API appear in the chair's stream without a reload; an RHI worker
records an interview's outcome and sees the task close; roles are kept to their pages.
The main pages are saved under docs/screenshots/ for the README."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.e2e.test_relay_up import AMELIA, Stack, api_key, event, post, stack  # noqa: F401

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
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
    page.get_by_role("radio", name="Completed").check()
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

    page = sign_in(browser, console, "mash")
    expect(page).to_have_url(re.compile(r"/reviews$"))
    pending = page.locator("#pending tr", has_text="10-E2E-W3")
    reload_until(page, pending)
    shot(page, "reviews")
    pending.get_by_role("link").click()
    expect(page.locator("#police-record")).to_contain_text("Ruby Lane")
    expect(page.locator("#candidates")).to_contain_text("S-R2")
    page.get_by_role("button", name="Send the decision").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose a record, or none of them.")
    page.get_by_label("Record S-R1").check()
    shot(page, "review")
    page.get_by_role("button", name="Send the decision").click()
    expect(page.locator("#decided-now")).to_contain_text("Decision sent: record S-R1")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        school = [
            m
            for m in stack.mail()
            if "10-E2E-W3" in m.get_body(("plain",)).get_content()
            and "dsl@blyth.example.org" in str(m["To"])
        ]
        if school:
            break
        time.sleep(0.5)
    assert len(school) == 1  # the held alert went out once decided

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
