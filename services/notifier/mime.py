"""An alert email's bytes, written directly (issue 18): ``multipart/alternative`` with a
plain-text and an HTML part, UTF-8 and quoted-printable, CRLF line ends.

The ``email`` package took most of the time an email costs to build (its generator
folds every header through ``Header`` objects and encodes bodies in Python). This writes
what it wrote: the same headers in the same order, non-ASCII runs of words as RFC 2047
encoded words (base64 UTF-8), lines folded at 78 characters, bodies quoted-printable
(``binascii``'s C encoder), a boundary that quoted-printable text can never contain.
tests/unit/test_notifier_mime.py parses both with the ``email`` package and compares.

Header values come here single-line and free of control characters
(rendering.header_value), so nothing in a value can start a header of its own.
"""

from __future__ import annotations

import base64
import binascii
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

LINESEP = b"\r\n"
MAX_LINE = 78
# Bytes of UTF-8 per encoded word: 45 bytes are 60 base64 characters, 72 with the
# ``=?utf-8?b?…?=`` around them, within RFC 2047's 75.
_WORD_BYTES = 45


@dataclass(frozen=True)
class TextPart:
    subtype: str  # "plain" or "html"
    text: str


def encoded(value: str) -> str:
    """``value`` with each run of words that are not ASCII as encoded words; ASCII words
    stay readable (as the ``email`` package writes them)."""
    if value.isascii():
        return value
    runs = []
    for plain, words in groupby(value.split(" "), key=str.isascii):
        run = " ".join(words)
        runs.append(run if plain else " ".join(_encoded_words(run)))
    return " ".join(runs)


def _encoded_words(text: str) -> list[str]:
    """``text`` (spaces included: a decoder drops the space between two encoded words)
    as encoded words, split between characters."""
    words: list[str] = []
    chunk = bytearray()
    for char in text:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > _WORD_BYTES:
            words.append(_word(bytes(chunk)))
            chunk.clear()
        chunk += data
    if chunk:
        words.append(_word(bytes(chunk)))
    return words


def _word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


def header(name: str, value: str) -> bytes:
    """One header, folded at spaces to lines of at most 78 characters where it can be."""
    if len(name) + 2 + len(value) <= MAX_LINE:  # one line: what folding would give
        return f"{name}: {value}\r\n".encode("ascii")
    tokens = value.split(" ")
    lines = [f"{name}: {tokens[0]}"]
    for token in tokens[1:]:
        if len(lines[-1]) + 1 + len(token) > MAX_LINE:
            lines.append(f" {token}")
        else:
            lines[-1] += f" {token}"
    return "\r\n".join(lines).encode("ascii") + LINESEP


def quoted_printable(text: str) -> bytes:
    """UTF-8, quoted-printable, lines of at most 76 characters, CRLF line ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(lines, istext=True).replace(b"\n", LINESEP)


def boundary() -> str:
    """As the ``email`` package makes it: ``==`` can never occur in quoted-printable."""
    return f"==============={random.randrange(10**18, 10**19)}=="


def alternative(headers: Sequence[tuple[str, str]], parts: Sequence[TextPart]) -> bytes:
    """The message: ``headers`` (name, value already encoded) after its MIME headers,
    then ``parts`` as the alternatives, simplest first."""
    mark = boundary()
    out = [
        b'Content-Type: multipart/alternative;\r\n boundary="' + mark.encode("ascii") + b'"\r\n',
        b"MIME-Version: 1.0\r\n",
        *(header(name, value) for name, value in headers),
    ]
    separator = b"--" + mark.encode("ascii")
    for part in parts:
        out += [
            LINESEP,
            separator,
            LINESEP,
            f'Content-Type: text/{part.subtype}; charset="utf-8"\r\n'.encode("ascii"),
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            quoted_printable(part.text),
        ]
    out += [LINESEP, separator, b"--", LINESEP]
    return b"".join(out)
