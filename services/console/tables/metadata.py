"""The console's one ``MetaData``: every table module registers its tables here."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
