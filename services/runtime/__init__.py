"""Wiring every service shares: settings, database, broker, inbox/outbox, process life."""
