"""The ``relay`` command and what it runs on one machine (embedded broker, SMTP sink)."""
