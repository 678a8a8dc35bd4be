"""Genesy's custom-CRM interface: a thin adapter that translates Genesy's requests into calls on the
same services the REST API uses, mounted at /genesy (see the README)."""
