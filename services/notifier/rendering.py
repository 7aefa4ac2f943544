"""Building an alert email, pure (templates to subject, text and HTML; no sending).

Templates live in ``templates/<recipient kind>/{subject.txt,body.txt,body.html}``
(DESIGN §7); a partnership may give folders searched first. Autoescape is on for HTML,
undefined variables are errors, and every header value is stripped of control
characters so nothing in an alert can add a header.
"""

from __future__ import annotations

import email.policy
import functools
import re
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    meta,
    select_autoescape,
)
from markupsafe import Markup, escape

from schemas.messages import NOTIFIER_KINDS, AlertKind, OrgKind
from services.notifier import mime
from services.notifier.content import AlertContent
from services.notifier.deadlines import school_day_open
from services.notifier.delivery import message_id
from services.notifier.escalation import AUTHORITY, CONTACT, UNDELIVERED, step_after
from services.notifier.policy import DeliveryPolicy

TEMPLATES = Path(__file__).resolve().parent / "templates"
LONDON = ZoneInfo("Europe/London")

_BLANK_LINE = re.compile(r"\n\s*\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
_ADDR_SPEC = re.compile(r"^[^@\s,;<>()\[\]\"\\]+@[^@\s,;<>()\[\]\"\\]+$")


# Context variables that carry the child's record or episode, and the fields they show.
_DISCLOSED = (
    ("child_name", "child.given_name"),
    ("child_name", "child.family_name"),
    ("date_of_birth", "child.date_of_birth"),
    ("police_ref", "episode.force_code"),
    ("police_ref", "episode.episode_ref"),
    ("occurred", "episode.occurred_at"),
    ("event_type", "episode.event_type"),
    ("about_recipient_name", "alert.not_acknowledged_by"),
    ("respond_by", "rhi_task.due_at"),
)


# How each answer reads to the police (schemas.messages.Answer).
ANSWER_WORDS = {
    "here-now": "The child is with us now.",
    "not-known": "We do not know this child.",
    "information": "We have information that may help.",
}


@dataclass(frozen=True)
class OutgoingEmail:
    """An alert email ready to send: the envelope sender and the message's bytes."""

    envelope_from: str
    raw: bytes


class RenderError(ValueError):
    """The alert cannot be made into an email (bad address, missing wording)."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def header_value(value: str) -> str:
    """One line, no control characters: CR/LF in any value cannot start a new header."""
    return " ".join(_CONTROL.sub(" ", value).split())


def police_ref(force_code: str, episode_ref: str) -> str:
    return header_value(f"{force_code}/{episode_ref}")


@functools.lru_cache(maxsize=4096)  # birthdays and the days of the episodes in flight
def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


@functools.lru_cache(maxsize=4096)  # an episode's alerts share their times
def deadline_time(at: datetime) -> str:
    """E.g. ``08:30 on Monday 7 December``, in Europe/London time: a deadline is days
    away at most, so the year would only be noise."""
    local = at.astimezone(LONDON)
    return f"{local:%H:%M} on {local:%A} {local.day} {local:%B}"


def nhs_number_text(digits: str) -> str:
    """The NHS number as practices write it: 943 476 5919."""
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if len(digits) == 10 else digits


@functools.lru_cache(maxsize=4096)  # an episode's alerts share their times
def local_time(at: datetime) -> str:
    """E.g. ``Monday 23 November 2026 at 17:39 (GMT)``, in Europe/London time."""
    local = at.astimezone(LONDON)
    return f"{local:%A} {long_date(local.date())} at {local:%H:%M} ({local.tzname()})"


def _one_line(value: str | None) -> str | None:
    return header_value(value) if value else None


def _fail(message: str) -> NoReturn:
    raise RenderError(message)


def _paragraphs(text: str) -> Markup:
    """Plain text (blank-line separated) to escaped HTML paragraphs. Always escaped: the
    wording macros live in .txt files and escape nothing, yet Jinja marks a macro's
    output safe when an HTML template calls it (``str`` drops that mark)."""
    parts = [" ".join(p.split()) for p in _BLANK_LINE.split(str(text))]
    # What ``Markup("<p>{}</p>").format(escape(p))`` joined by ``Markup("\n")`` gives,
    # without Jinja's escaping formatter for each paragraph (every part escaped once).
    return Markup("\n".join(f"<p>{escape(p)}</p>" for p in parts if p))


class _Environment(Environment):
    """Jinja2's environment with each template's globals a plain dict. Jinja2 makes
    them a ``ChainMap`` over the environment's (so globals added after a template loads
    still reach it), which every render and every ``{% import %}`` then walks in Python:
    about a tenth of an email's rendering. The renderer sets its globals before any
    template loads and never after, so a copy sees exactly what the chain would."""

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**self.globals, **(d or {})}


# The folders an alert's email comes from (Renderer.folder).
_EMAIL_FOLDERS = frozenset({k.value for k in NOTIFIER_KINDS} | {k.value for k in OrgKind})


class Renderer:
    """Renders alerts with one Jinja2 environment. ``template_dirs`` (a partnership's
    own templates) are searched before the built-in ones."""

    def __init__(
        self,
        public_url: str,
        sender: str,
        template_dirs: Sequence[Path] = (),
        link: Callable[[str], str] | None = None,
        policy: DeliveryPolicy | None = None,
    ) -> None:
        self.public_url = public_url.rstrip("/")
        # The school day, for wording that fits the clock ("check today's register").
        self.policy = policy or DeliveryPolicy()
        # The acknowledgement link of an alert (signed by the notifier's app); the plain
        # console address of the alert without one (tests of wording).
        self._link = link or (lambda alert_id: f"{self.public_url}/alerts/{alert_id}")
        self.sender = header_value(sender)
        name, self._envelope_from = parseaddr(self.sender)
        self._from = formataddr((name, self._envelope_from), "utf-8")
        self.env = _Environment(
            loader=FileSystemLoader([*map(str, template_dirs), str(TEMPLATES)]),
            # Asked of every template context a render makes (five an email): the answer
            # for each template name kept.
            autoescape=functools.cache(
                select_autoescape(
                    enabled_extensions=("html",), default=False, default_for_string=False
                )
            ),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,  # templates are read once; no stat of each file per email
            # Every template kept in a plain dict (a few dozen): the bounded cache moves a
            # template to the front of a deque on each of an email's nine look-ups
            # (imports, includes, extends).
            cache_size=-1,
        )
        self.env.globals["fail"] = _fail
        self.env.filters["paragraphs"] = _paragraphs
        self._templates: dict[tuple[str, str], Template] = {}

    def link(self, alert_id: str) -> str:
        return self._link(alert_id)

    def folders(self) -> list[str]:
        """Every folder of templates (the built-in ones and a partnership's)."""
        return sorted({n.split("/")[0] for n in self.env.list_templates() if "/" in n})

    def prepare(self, folder: str) -> None:
        """Compile every template of ``folder`` (and, for a folder emails come from, read
        what they refer to) now rather than on the first email that uses it: a one-off
        of about 0.1 s a folder (Jinja2's parse and compile), which a service otherwise
        pays while its first alerts wait. Templates that include or extend others load
        them when they render, so the shared ones are compiled here too."""
        for name in self.env.list_templates(filter_func=lambda n: n.startswith(f"{folder}/")):
            self.env.get_template(name)
        if folder in _EMAIL_FOLDERS:
            self._variables(folder)

    def context(self, alert: AlertContent, now: datetime | None = None) -> dict[str, Any]:
        """What the templates see; ``now`` (when the email is written) decides wording
        that depends on the clock."""
        kind = AlertKind(alert.kind)  # an unknown kind is an error, not an odd email
        OrgKind(alert.recipient_kind)
        deadline = _deadline(alert, kind)
        then, authority_name = _if_missed(alert) if deadline else ("", "")
        # Every value on one line: a value cannot fake a line of the email either.
        contact = {
            "name": _one_line(alert.police_contact_name),
            "phone": _one_line(alert.police_contact_phone),
            "email": _one_line(alert.police_contact_email),
        }
        return {
            "kind": alert.kind,
            "recipient_kind": alert.recipient_kind,
            "recipient_name": header_value(alert.recipient_name),
            "child_name": header_value(f"{alert.child_given_name} {alert.child_family_name}"),
            "date_of_birth": long_date(alert.child_date_of_birth),
            "occurred": local_time(alert.occurred_at),
            "police_ref": police_ref(alert.force_code, alert.episode_ref),
            "contact": contact,
            "has_contact": any(contact.values()),
            "link": self.link(alert.alert_id),
            "alert_id": alert.alert_id,
            "event_type": alert.event_type or alert.kind,
            "about_recipient_name": header_value(alert.about_recipient_name or ""),
            "delivered": UNDELIVERED not in alert.reason,
            "respond_by": local_time(alert.respond_by) if alert.respond_by else "",
            "answer": ANSWER_WORDS.get(alert.answer or "", ""),
            # The organisation's own words for the police: lines kept, nothing else.
            "information": (alert.answer_information or "").strip(),
            "answered": local_time(alert.answered_at) if alert.answered_at else "",
            "withdrawn_alerts": (alert.about_alert_ids or "").split(),
            "public_url": self.public_url,
            "notifier_kind": kind in NOTIFIER_KINDS,
            "urgent": alert.urgent,
            "nhs_number": _nhs_number(alert, kind),
            "deadline": deadline_time(deadline) if deadline else "",
            # What happens at the deadline: "contact" (the escalation contact),
            # "authority" (the responsible local authority, by name), or "" (nothing).
            "if_missed": then,
            "authority_name": header_value(authority_name),
            "register_today": school_day_open(now or datetime.now(UTC), self.policy),
        }

    def folder(self, alert: AlertContent) -> str:
        # The notifier's own kinds have their own wording; requested alerts are worded
        # for the kind of organisation they go to.
        return alert.kind if AlertKind(alert.kind) in NOTIFIER_KINDS else alert.recipient_kind

    def disclosed_fields(self, alert: AlertContent) -> tuple[str, ...]:
        """Which fields of the child's record and episode the email for ``alert``
        discloses (names, not values): what its templates refer to, and of the police
        contact and the NHS number only what the alert has."""
        used = self._variables(self.folder(alert))
        fields = [field for name, field in _DISCLOSED if name in used]
        if "nhs_number" in used and _nhs_number(alert, AlertKind(alert.kind)):
            fields.append("child.nhs_number")
        if "contact" in used:
            contact = {
                "name": alert.police_contact_name,
                "phone": alert.police_contact_phone,
                "email": alert.police_contact_email,
            }
            fields += [f"police_contact.{part}" for part, value in contact.items() if value]
        return tuple(fields)

    @functools.cache  # noqa: B019 (one renderer per service; templates do not change)
    def _variables(self, folder: str) -> frozenset[str]:
        """Every context variable the folder's templates (and what they extend, include
        or import) refer to."""
        seen: set[str] = set()
        todo = [f"{folder}/{name}" for name in ("subject.txt", "body.txt", "body.html")]
        used: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            source = self.env.loader.get_source(self.env, name)[0]  # type: ignore[union-attr]
            tree = self.env.parse(source)
            used |= meta.find_undeclared_variables(tree)
            todo += [n for n in meta.find_referenced_templates(tree) if isinstance(n, str)]
        return frozenset(used)

    def render(self, alert: AlertContent, now: datetime | None = None) -> RenderedEmail:
        ctx = self.context(alert, now)
        folder = self.folder(alert)
        subject = header_value(self._template(folder, "subject.txt").render(ctx))
        if alert.urgent and not subject.upper().startswith("URGENT"):
            # A rule, not wording: no template (a partnership's included) can leave it out.
            subject = f"URGENT: {subject}"
        return RenderedEmail(
            subject=subject,
            text=self._template(folder, "body.txt").render(ctx),
            html=self._template(folder, "body.html").render(ctx),
        )

    def _template(self, folder: str, name: str) -> Template:
        """A folder's template, looked up once (the environment's own look-up builds
        its name and cache key, a weak reference to the loader, on every call); one that
        is missing is not kept, and raises each time as the environment does."""
        key = (folder, name)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = self.env.get_template(f"{folder}/{name}")
        return template

    def compose(self, alert: AlertContent, now: datetime) -> OutgoingEmail:
        """The message as it goes on the wire; raises :class:`RenderError` for a bad
        address. Written as bytes (mime.py), what the ``email`` package wrote at a
        fraction of its cost: every value is made one line by :func:`header_value`
        first, and anything not ASCII is RFC 2047-encoded."""
        address = header_value(alert.recipient_email)
        if not _single_address(address):
            raise RenderError("recipient email is not a single valid address")
        rendered = self.render(alert, now)
        headers = (
            ("Subject", mime.encoded(rendered.subject)),
            ("From", self._from),
            ("To", _to(header_value(alert.recipient_name), address)),
            ("Date", format_datetime(now)),
            ("Message-ID", mime.encoded(message_id(header_value(alert.alert_id)))),
            ("X-Relay-Alert-Id", mime.encoded(header_value(alert.alert_id))),
            ("Auto-Submitted", "auto-generated"),
        )
        raw = mime.alternative(
            headers, (mime.TextPart("plain", rendered.text), mime.TextPart("html", rendered.html))
        )
        return OutgoingEmail(self._envelope_from, raw)

    def build(self, alert: AlertContent, now: datetime) -> EmailMessage:
        """The composed message parsed back, for reading its headers and parts (tests,
        previews): exactly what :meth:`compose` puts on the wire."""
        message = message_from_bytes(self.compose(alert, now).raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


@functools.lru_cache(maxsize=4096)  # the same few thousand recipients, again and again
def _to(name: str, address: str) -> str:
    return formataddr((name, address), "utf-8")


@functools.lru_cache(maxsize=4096)  # the same few thousand recipients, again and again
def _single_address(address: str) -> bool:
    if not _ADDR_SPEC.match(address):
        return False
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError):
        return False
    return True


def _deadline(alert: AlertContent, kind: AlertKind) -> datetime | None:
    """The deadline the email states: a requested alert's own; an escalation's is on its
    row as ``respond_by`` (its original alert's ``ack_due_at`` holds the same time)."""
    if kind not in NOTIFIER_KINDS:
        return alert.ack_due_at
    return alert.respond_by if kind is AlertKind.ESCALATION else None


def _if_missed(alert: AlertContent) -> tuple[str, str]:
    """Who is told if the deadline passes (services/notifier/escalation.py decides the
    chain; this only names its next step) and the authority's name for that step."""
    step = step_after(alert, alert.escalation_level)
    if step is None:
        return "", ""
    if step.level == CONTACT:
        return "contact", ""
    assert step.level == AUTHORITY
    return "authority", step.to.name


def _nhs_number(alert: AlertContent, kind: AlertKind) -> str:
    """Only on an alert the router addressed to a GP practice: the router sends it to
    no one else, and this keeps any other email from showing it."""
    if (
        not alert.child_nhs_number
        or kind in NOTIFIER_KINDS
        or alert.recipient_kind != OrgKind.GP_PRACTICE.value
    ):
        return ""
    return nhs_number_text(alert.child_nhs_number)
