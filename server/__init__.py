"""Lureguard central server (gRPC ingest, storage, rule publishing, console)."""

__version__ = "0.1.0"
