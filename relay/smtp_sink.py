"""The embedded SMTP sink (aiosmtpd): every message it accepts lands in a folder as an
``.eml`` file named after its Message-ID, so a message sent twice overwrites itself and
a count of files is a count of distinct alerts."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def eml_name(message_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9@._-]", "", message_id.strip("<>"))[:150]
    return safe or hashlib.sha256(message_id.encode()).hexdigest()


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float = field(default_factory=time.time)  # when accepted (for latency figures)

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)


@dataclass
class SinkHandler:
    """Keeps every accepted message in ``received``; writes it to ``folder`` if given.
    ``refuse`` maps an address to an SMTP reply, to act out a bad mailbox. It offers
    PIPELINING (RFC 2920), as mail servers do: aiosmtpd reads commands in turn, however
    they arrive, but does not say so itself."""

    folder: Path | None = None
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    pipelining: bool = True

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does when no handler answers EHLO
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        item = Received(envelope.mail_from, list(envelope.rcpt_tos), data)
        self.received.append(item)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = eml_name(item.message.get("Message-ID", "")) + ".eml"
            tmp = self.folder / (name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(self.folder / name)
        return "250 Message accepted for delivery"


def start_sink(host: str, port: int, folder: Path | None = None) -> tuple[Controller, SinkHandler]:
    handler = SinkHandler(folder=folder)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return controller, handler
