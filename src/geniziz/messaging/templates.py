"""Rendering email templates: Jinja2's immutable sandbox, strict about undefined names, fed plain dicts.

The variables are dicts of documented fields only (VARIABLES), never ORM objects, so a template can
reach nothing but those values; the sandbox refuses ``__class__``-style attributes and methods that
change data, and we cap string/list repetition and powers, the sandbox's one way to exhaust memory.
"""

from __future__ import annotations

import operator
from typing import Any

import nh3
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from geniziz.api.errors import APIError, field_error

# What each variable holds: the README's table, and the only keys the dicts below carry.
VARIABLES: dict[str, tuple[str, ...]] = {
    "lead": ("id", "name", "url", "description", "industry", "status", "email", "phone"),
    "contact": ("id", "name", "first_name", "last_name", "title", "email", "phone"),
    "user": ("id", "name", "first_name", "email"),
    "organization": ("id", "name"),
}
MAX_OUTPUT = 1_000_000  # characters of any repeated string or list


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > 100:
                raise SecurityError("exponent too large")
            return operator.pow(left, right)
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_OUTPUT:
                raise SecurityError("result too large")
        return operator.mul(left, right)


_TEXT = _Sandbox(undefined=StrictUndefined, autoescape=False)
_HTML = _Sandbox(undefined=StrictUndefined, autoescape=True)  # values are escaped inside HTML


def check_syntax(field: str, source: str | None) -> None:
    if source:
        try:
            (_HTML if field == "body_html" else _TEXT).parse(source)
        except TemplateSyntaxError as exc:
            raise field_error(field, f"template syntax error on line {exc.lineno}: {exc.message}") from None


def _render(field: str, source: str | None, variables: dict[str, Any]) -> str | None:
    if source is None:
        return None
    try:
        return (_HTML if field == "body_html" else _TEXT).from_string(source).render(variables)
    except UndefinedError as exc:
        raise APIError(400, f"Cannot render {field}: {exc.message}", {field: f"undefined: {exc.message}"}) from None
    except SecurityError as exc:
        raise APIError(400, f"Cannot render {field}: not allowed ({exc})", {field: f"not allowed: {exc}"}) from None
    except TemplateError as exc:
        raise field_error(field, f"cannot render: {exc}") from None
    except (ArithmeticError, TypeError, ValueError, LookupError) as exc:  # e.g. {{ 1 / 0 }}
        raise field_error(field, f"cannot render: {type(exc).__name__}: {exc}") from None


def render(subject: str, body_text: str | None, body_html: str | None, variables: dict[str, Any]) -> dict[str, Any]:
    out = {"subject": _render("subject", subject, variables) or "",
           "body_text": _render("body_text", body_text, variables)}
    html = _render("body_html", body_html, variables)
    return {**out, "body_html": nh3.clean(html) if html is not None else None}


def _first(entries: list[dict[str, Any]] | None, key: str) -> str | None:
    return entries[0].get(key) if entries else None


def lead_vars(lead: Any, status_label: str | None) -> dict[str, Any]:
    return {"id": lead.id, "name": lead.name, "url": lead.url, "description": lead.description,
            "industry": lead.industry, "status": status_label, "email": _first(lead.emails, "email"),
            "phone": _first(lead.phones, "phone")}


def contact_vars(contact: Any) -> dict[str, Any]:
    first, _, last = (contact.name or "").partition(" ")
    return {"id": contact.id, "name": contact.name, "first_name": first or None, "last_name": last or None,
            "title": contact.title, "email": _first(contact.emails, "email"), "phone": _first(contact.phones, "phone")}


def user_vars(user: Any) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "first_name": (user.name or "").partition(" ")[0] or None,
            "email": user.email}


def organization_vars(organization: Any) -> dict[str, Any]:
    return {"id": organization.id, "name": organization.name}
