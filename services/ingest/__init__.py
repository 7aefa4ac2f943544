"""Ingest: police events in (HTTP, files, Kafka), accepted events out to ``episode-events``."""
