"""The error envelope: ``{"error": "message", "field-errors": {"field": "why"}}`` on every non-2xx."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class APIError(Exception):
    """A failure the client can act on. Raised by services; rendered by the REST, MCP and Genesy layers."""

    def __init__(self, status: int, message: str, field_errors: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field_errors = field_errors or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        extra = {key: value for key, value in self.extra.items() if key != "headers"}  # HTTP's, not the body's
        return {"error": self.message, "field-errors": self.field_errors, **extra}


def field_error(field: str, why: str) -> APIError:
    return APIError(400, f"Invalid {field}: {why}", {field: why})


def not_found(what: str) -> APIError:
    return APIError(404, f"{what} not found")


def forbidden(message: str = "Only workspace admins can do this") -> APIError:
    return APIError(403, message)


class ErrorBody(BaseModel):
    """Every non-2xx response has this shape."""

    error: str
    field_errors: dict[str, str] = Field(default_factory=dict, alias="field-errors")


_REASONS = {
    400: "Bad request", 401: "Authentication required", 402: "Payment required", 403: "Forbidden",
    404: "Not found", 405: "Method not allowed", 406: "Not acceptable", 413: "Request body too large",
    415: "Unsupported media type", 429: "Rate limit exceeded", 500: "Internal server error",
}

# Declared on every operation so the OpenAPI document admits the envelope for each status we use.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": reason}
    for status, reason in _REASONS.items()
    if status in (400, 401, 403, 404, 405, 415, 429)
}


_TYPE_TAGS = {"str", "int", "float", "bool", "none", "list", "dict", "date", "datetime", "decimal"}


def _loc_name(loc: tuple[Any, ...]) -> str:
    """("body", "emails", 0, "email") -> "emails.0.email"; ("query", "_limit") -> "_limit"."""
    parts = [str(p) for p in loc]
    # Only a leading part says where the value came from (REST); a field may itself be named "query".
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    # Pydantic names union branches and type tags in the location; they mean nothing to a client.
    parts = [p for p in parts if "[" not in p and p not in _TYPE_TAGS]
    return ".".join(parts) or "body"


def validation_field_errors(errors: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in errors:
        name = _loc_name(tuple(err.get("loc", ())))
        message = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            message = "Unknown field"
        elif err.get("type") == "json_invalid":
            name, message = "body", "Malformed JSON: " + str(err.get("ctx", {}).get("error", "cannot be parsed"))
        message = message.removeprefix("Value error, ")
        out.setdefault(name, message)
    return out
