"""Geniziz: an open-source sales CRM server."""

__version__ = "0.1.0"
