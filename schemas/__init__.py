"""The one contract every service shares: topic messages, the ingest payload, identifiers."""
