"""Jinja2 for the console's pages: autoescaped, strict about undefined names."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from fastapi.templating import Jinja2Templates

from services.console.privacy import describe

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
LONDON = ZoneInfo("Europe/London")


def when(moment: datetime | None) -> str:
    """A time as people in England and Wales read it: ``5 Jan 2025 14:03``."""
    if moment is None:
        return "—"
    local = moment.astimezone(LONDON)
    return f"{local.day} {local:%b %Y %H:%M}"


def iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def label(value: str | None) -> str:
    """``"no-apparent-risk"`` -> ``"No apparent risk"``."""
    if not value:
        return "—"
    text = value.replace("-", " ")
    return text[:1].upper() + text[1:]


def url_part(value: str) -> str:
    return quote(value, safe="")


def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, iso=iso, label=label, url_part=url_part)
    env.globals["child"] = describe
    return Jinja2Templates(env=env)
