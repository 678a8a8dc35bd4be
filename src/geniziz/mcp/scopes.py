"""Geniziz-Scope: the header that says what an MCP connection may do (the ``Scope`` actions declare)."""

from __future__ import annotations

from geniziz.api.action import Scope
from geniziz.api.errors import APIError

SCOPE_HEADER = "geniziz-scope"

__all__ = ["SCOPE_HEADER", "Scope", "from_header"]


def from_header(value: str | None) -> Scope:
    """A missing header means read; anything but the three values is a 400."""
    if value is None:
        return Scope.READ
    try:
        return Scope(value.strip())
    except ValueError:
        raise APIError(400, f"Invalid Geniziz-Scope header {value!r}: send one of "
                            + ", ".join(s.value for s in Scope),
                       {"Geniziz-Scope": "one of " + ", ".join(s.value for s in Scope)}) from None

