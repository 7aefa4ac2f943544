"""Alembic, one migration history per service (its own version table), driven from code:
``relay db upgrade`` and ``relay up`` call :func:`upgrade`. Each service's
``migrations/env.py`` calls :func:`run_env` with its metadata."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from alembic import command, context
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from services.runtime.database import UtcDateTime, create_engine

SERVICES_DIR = Path(__file__).resolve().parent.parent


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["service"] = service
    return config


def upgrade(service: str, url: str, revision: str = "head") -> None:
    """Bring ``service``'s tables at ``url`` to ``revision``. Call outside an event loop
    (or through ``asyncio.to_thread``)."""
    command.upgrade(alembic_config(service, url), revision)


def revision(service: str, url: str, message: str) -> None:
    """Autogenerate a migration from the difference between the models and ``url``."""
    command.revision(alembic_config(service, url), message=message, autogenerate=True)


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Our own column type, rendered with its import so generated migrations run as-is.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        autogen_context.imports.add("from services.runtime.database import UtcDateTime")
        return "UtcDateTime()"
    return False


def run_env(metadata: MetaData, service: str) -> None:
    """The body of every service's ``env.py``."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    version_table = f"alembic_version_{service}"

    def _migrate(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",
            render_item=_render_item,
            include_name=lambda name, type_, _parent: (
                type_ != "table" or name is None or name in metadata.tables
            ),
        )
        with context.begin_transaction():
            context.run_migrations()

    async def _run() -> None:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(_migrate)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(_run())
