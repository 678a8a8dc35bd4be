"""A create answers with what a read of the new record returns, byte for byte: the lead's create answers
from the record it flushed instead of re-reading it (LeadService.empty_when_created)."""

from __future__ import annotations

from tests.conftest import Api


def test_a_lead_create_answers_what_a_read_returns(api: Api) -> None:
    fields = {name: api.create("custom_field/lead", name=name, type=type_, **extra)["id"] for name, type_, extra in [
        ("size", "number", {}), ("ratio", "number", {}), ("tiny", "number", {}), ("zero", "number", {}), ("note", "text", {}),
        ("since", "date", {}), ("met_at", "datetime", {}), ("vip", "boolean", {}),
        ("tags", "choices", {"choices": ["b", "a", "c"], "accepts_multiple": True}),
    ]}
    values = {"size": 1_000_000_000_000_000, "ratio": 2.5, "tiny": 1e-05, "zero": -0.0, "note": "Zoë  \u2028 ✓ ",
              "since": "2024-02-29", "met_at": "2024-02-29T23:59:59.123456+02:00", "vip": False, "tags": ["c", "a"]}
    body = {"name": "  Ünïcode Lead ", "url": "https://example.com/a?b=c", "description": "two\nlines",
            "mrr": 123456, "emails": [{"email": "Hello@Example.COM", "type": "office"}],
            "phones": [{"phone": "+1 (555) 123-4567", "type": "mobile"}],
            "addresses": [{"city": "Austin", "country": "US"}],
            # sent in an order unlike the fields' own (a JSONB column keeps its keys in its own order)
            "custom": {name: values[name] for name in reversed(list(values))}}
    created = api.post("/lead/", json=body)
    assert created.status_code == 201, created.text
    read = api.get(f"/lead/{created.json()['id']}/")
    assert created.content == read.content
    lead = created.json()
    assert lead["contacts"] == [] and lead["custom"]["tags"] == ["c", "a"] and lead["custom"]["tiny"] == 1e-05
    assert [key for key in lead if key.startswith("custom.")] == [f"custom.{fields[name]}" for name in values]
    # a contact created afterwards is in the lead's next read (nothing stale was kept)
    contact = api.create("contact", lead_id=lead["id"], name="Ann")
    assert [c["id"] for c in api.ok("GET", f"/lead/{lead['id']}/")["contacts"]] == [contact["id"]]

    # _fields on a create: the same selection a read makes
    created = api.post("/lead/?_fields=id,name,contacts,custom", json={"name": "Selected"})
    assert created.status_code == 201, created.text
    assert created.content == api.get(f"/lead/{created.json()['id']}/?_fields=id,name,contacts,custom").content
