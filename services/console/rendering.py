"""Jinja2 for the console's pages: autoescaped, strict about undefined names."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.console.accounts import Role
from services.console.days import LONDON
from services.console.organisation_names import OrganisationNames
from services.console.privacy import describe
from services.console.state import state

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def when(moment: datetime | None) -> str:
    """A time as people in England and Wales read it: ``5 Jan 2025 14:03``."""
    if moment is None:
        return "—"
    local = moment.astimezone(LONDON)
    return f"{local.day} {local:%b %Y %H:%M}"


def iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


# Words written in capitals wherever they stand in a label.
_ACRONYMS = {"gp": "GP", "rhi": "RHI", "mset": "MSET", "yot": "YOT", "la": "LA"}


def label(value: str | None) -> str:
    """``"no-apparent-risk"`` -> ``"No apparent risk"``; ``"gp-practice"`` -> ``"GP
    practice"``, ``"rhi-escalation"`` -> ``"RHI escalation"``."""
    if not value:
        return "—"
    words = [_ACRONYMS.get(word, word) for word in value.split("-")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


# Risk factors written as the police and panels write them.
_FACTOR_NAMES = {"cse": "CSE", "cce": "CCE"}


def factor(value: str) -> str:
    """``"cse"`` -> ``"CSE"``, ``"county-lines"`` -> ``"County lines"``."""
    return _FACTOR_NAMES.get(value) or label(value)


def url_part(value: str) -> str:
    return quote(value, safe="")


# The header's links for each role: the pages it may open.
MENU = {
    Role.MSET_CHAIR: (
        ("/", "Episodes"),
        ("/watchlist", "Watchlist"),
        ("/network", "Links"),
        ("/meeting-pack", "Meeting pack"),
        ("/panel", "Panel"),
        ("/analytics", "Analytics"),
        ("/rhi", "Return home interviews"),
        ("/compliance", "RHI compliance"),
        ("/returns", "Figures"),
        ("/reviews", "Identity reviews"),
        ("/dead-letters", "Dead letters"),
        ("/rejects", "Rejects"),
        ("/help", "Help"),
    ),
    Role.RHI_WORKER: (
        ("/rhi", "Return home interviews"),
        ("/compliance", "Compliance"),
        ("/returns", "Figures"),
        ("/analytics", "Analytics"),
        ("/help", "Help"),
    ),
    Role.MASH: (("/reviews", "Identity reviews"), ("/help", "Help")),
    Role.ADMIN: (
        ("/dead-letters", "Dead letters"),
        ("/rejects", "Rejects"),
        ("/admin/audit", "Audit"),
        ("/help", "Help"),
    ),
}


def signed_in(request: Request) -> Any:
    """Who is signed in, for the header (None on pages outside the login)."""
    return getattr(request.state, "signed_in", None)


def templates(organisation: OrganisationNames | None = None) -> Jinja2Templates:
    """``organisation``: names for codes (``organisation(code)`` in templates)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, iso=iso, label=label, factor=factor, url_part=url_part)
    env.globals.update(
        child=describe,
        signed_in=signed_in,
        menu=MENU.__getitem__,
        organisation=organisation or OrganisationNames(),
    )
    return Jinja2Templates(env=env)


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """``template`` rendered with ``context`` by the app's templates."""
    response: HTMLResponse = state(request).templates.TemplateResponse(
        request, template, context, status_code=status_code
    )
    return response


def not_found(request: Request, title: str, text: str) -> HTMLResponse:
    """The 404 page, saying what was not found and why that may be."""
    who = signed_in(request)
    home = who.user.home if who is not None else "/login"
    return render(request, "not_found.html", {"title": title, "text": text, "home": home}, 404)
