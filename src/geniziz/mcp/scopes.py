"""Geniziz-Scope: what an MCP request may do. Each scope includes the ones before it."""

from __future__ import annotations

from enum import Enum

from geniziz.api.errors import APIError

SCOPE_HEADER = "geniziz-scope"


class Scope(str, Enum):
    READ = "read"  # list, get, search, score
    WRITE_SAFE = "write_safe"  # + create, update, log, complete
    WRITE_DESTRUCTIVE = "write_destructive"  # + delete, merge and other irreversible actions

    @property
    def rank(self) -> int:
        return list(Scope).index(self)

    def allows(self, needed: Scope) -> bool:
        return self.rank >= needed.rank

    @classmethod
    def from_header(cls, value: str | None) -> Scope:
        """A missing header means read; anything but the three values is a 400."""
        if value is None:
            return cls.READ
        try:
            return cls(value.strip())
        except ValueError:
            raise APIError(400, f"Invalid Geniziz-Scope header {value!r}: send one of "
                                + ", ".join(s.value for s in cls),
                           {"Geniziz-Scope": "one of " + ", ".join(s.value for s in cls)}) from None
