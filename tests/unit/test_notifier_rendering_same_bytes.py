"""The renderer's and the SMTP exchange's shortcuts (issue 18) change no byte: every
template folder renders, through the renderer's own environment (plain-dict globals,
templates kept, cached dates and addresses, the cheaper ``paragraphs`` filter), exactly
what Jinja2's stock environment renders with the filter as it was; a header written on
one line is what folding writes; a message already in CRLF goes on the wire as
aiosmtplib's normalisation would send it."""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtplib.protocol import normalize_message_line_endings
from jinja2 import Environment, StrictUndefined, Template, select_autoescape
from markupsafe import Markup, escape

from schemas.messages import AlertKind, OrgKind
from services.notifier import mime
from services.notifier.rendering import Renderer, _fail
from services.notifier.smtp_pipelining import _line_ends_normalized
from tests.unit.test_notifier_rendering import alert


def _paragraphs_as_it_was(text: str) -> Markup:
    parts = [" ".join(p.split()) for p in re.split(r"\n\s*\n", str(text))]
    return Markup("\n").join(Markup("<p>{}</p>").format(escape(p)) for p in parts if p)


class StockRenderer(Renderer):
    """The renderer on Jinja2's own environment, each template looked up every time."""

    def __init__(self, public_url: str, sender: str) -> None:
        super().__init__(public_url, sender)
        self.env = Environment(
            loader=self.env.loader,
            autoescape=select_autoescape(
                enabled_extensions=("html",), default=False, default_for_string=False
            ),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self.env.globals["fail"] = _fail
        self.env.filters["paragraphs"] = _paragraphs_as_it_was

    def _template(self, folder: str, name: str) -> Template:
        return self.env.get_template(f"{folder}/{name}")


DEADLINE = datetime(2026, 7, 3, 8, 30, tzinfo=UTC)
VARIATIONS: list[dict[str, Any]] = [
    {},
    {"urgent": True},
    {
        "child_given_name": "Zoë Ångström",
        "child_family_name": "Nguyễn Thị Minh Khai, a family name long enough to fold",
        "recipient_name": "École Saint-Jérôme — the Ærø islands' school with a long name",
    },
    {"police_contact_name": None, "police_contact_phone": None, "police_contact_email": None},
    {"ack_due_at": DEADLINE, "recipient_escalation_email": "head@x.example"},
    {
        "ack_due_at": DEADLINE,
        "authority_code": "E06",
        "authority_name": "Northumberland Council",
        "authority_email": "la@x.example",
        "escalation_level": 1,
    },
    {"child_nhs_number": "9434765919"},
    {
        "event_type": "returned",
        "reason": "alert to Hillside not acknowledged by its deadline",
        "about_recipient_name": "Hillside Primary",
        "respond_by": datetime(2026, 7, 3, 21, 5, tzinfo=UTC),
    },
    {
        "event_type": "reported",
        "reason": "alert to Hillside was undelivered",
        "about_recipient_name": "Hillside Primary",
        "respond_by": datetime(2026, 7, 3, 21, 5, tzinfo=UTC),
        "urgent": True,
    },
    {
        "answer": "here-now",
        "answer_information": "  She is in the office.\n\nSafe & <well>.  ",
        "answered_at": datetime(2026, 7, 2, 9, 0, tzinfo=UTC),
        "about_recipient_name": "Hillside",
    },
    {"about_alert_ids": "a1 a2 a3", "event_type": "withdrawn"},
]
CLOCKS = [
    datetime(2026, 11, 23, 9, 0, tzinfo=UTC),  # a school day's morning
    datetime(2026, 11, 23, 17, 0, tzinfo=UTC),  # its evening
    datetime(2026, 11, 28, 11, 0, tzinfo=UTC),  # a Saturday
]


def _outcome(renderer: Renderer, content: Any, now: datetime, seed: int) -> tuple[str, Any]:
    random.seed(seed)  # the MIME boundary
    try:
        email = renderer.compose(content, now)
        return "sent", (email.envelope_from, email.raw, renderer.disclosed_fields(content))
    except Exception as exc:  # the same refusal, word for word
        return "refused", (type(exc).__name__, str(exc))


@pytest.mark.parametrize("kind", [k.value for k in AlertKind])
def test_every_folder_renders_the_bytes_of_the_stock_environment(kind: str) -> None:
    ours = Renderer("https://console.example/", "Relay Ünïon <relay@relay.example>")
    stock = StockRenderer("https://console.example/", "Relay Ünïon <relay@relay.example>")
    sent = 0
    cases = itertools.product(OrgKind, VARIATIONS, CLOCKS)
    for seed, (recipient, changes, now) in enumerate(cases):
        content = replace(alert(recipient=recipient), kind=kind, **changes)
        # Twice: the second time from the renderer's caches.
        for _ in range(2):
            mine, theirs = _outcome(ours, content, now, seed), _outcome(stock, content, now, seed)
            assert mine == theirs, (recipient, changes, now)
        sent += mine[0] == "sent"
    assert sent > 0  # the folder renders at all (not only refusals compared)


def _folded(name: str, value: str) -> bytes:
    tokens = value.split(" ")
    lines = [f"{name}: {tokens[0]}"]
    for token in tokens[1:]:
        if len(lines[-1]) + 1 + len(token) > mime.MAX_LINE:
            lines.append(f" {token}")
        else:
            lines[-1] += f" {token}"
    return "\r\n".join(lines).encode("ascii") + b"\r\n"


def test_a_header_on_one_line_is_what_folding_writes() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        words = [
            rng.choice(["a", "bb", "", "x" * rng.randint(1, 90)]) for _ in range(rng.randint(1, 9))
        ]
        value = " ".join(words)
        for name in ("To", "Subject", "X-Relay-Alert-Id"):
            assert mime.header(name, value) == _folded(name, value)


def test_line_ends_already_crlf_are_sent_as_aiosmtplib_would() -> None:
    for length in range(7):
        for chars in itertools.product([b"a", b"\r", b"\n", b"."], repeat=length):
            message = b"".join(chars)
            assert _line_ends_normalized(message) == normalize_message_line_endings(message)
    raw = (
        Renderer("https://console.example/", "Relay <relay@relay.example>")
        .compose(alert(), CLOCKS[0])
        .raw
    )
    assert _line_ends_normalized(raw) is raw  # the renderer's own bytes: no copy, no pass
