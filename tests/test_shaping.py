"""The compiled serializers (geniziz.api.shaping) against pydantic, in process, on the edge cases: each case
shapes records with the compiled plan and with pydantic and wants the same JSON bytes (key order and
types included). The rest of the suite runs every server with GENIZIZ_CHECK_SHAPES=1, which makes the same
comparison on every response of every resource."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from geniziz.activities.schemas import CustomActivityTypeRead
from geniziz.api import shaping
from geniziz.api.schemas import PhoneOut, format_phone, format_timestamp
from geniziz.api.shaping import ShapeMismatch, Unshaped, compiled, shape_all, shape_with_pydantic
from geniziz.contacts.schemas import ContactRead
from geniziz.leads.schemas import LeadRead
from geniziz.messaging.schemas import ConnectedAccountRead
from geniziz.opportunities.schemas import LineItemRead, OpportunityRead
from geniziz.worker.schemas import JobRead

NOW = datetime(2026, 1, 15, 9, 30, 0, 123456, tzinfo=UTC)


def contact(**changes: Any) -> SimpleNamespace:
    values = dict(id="cont_1", lead_id="lead_1", name="Ada", title=None,
                  emails=[{"email": "ada@example.com", "type": "office", "is_primary": True}],  # extra key dropped
                  phones=[{"phone": "+15551234567", "type": "mobile", "phone_formatted": "stale"}],
                  urls=[], custom={"cf_1": "gold"}, date_created=NOW, date_updated=NOW, created_by=None,
                  updated_by="user_1")
    return SimpleNamespace(**{**values, **changes})


def lead(**changes: Any) -> SimpleNamespace:
    values = dict(id="lead_1", name="Acme", url=None, description="Big", industry=None, status_id="stat_1",
                  owner_id=None, mrr=1500, emails=[], phones=[{"phone": "+442071838750", "type": "office"}],
                  addresses=[{"city": "Paris", "country": "FR", "note": "extra"}], contacts=[contact()],
                  custom={"cf_2": [1, 2.5, None, {"deep": True}]}, date_created=NOW,
                  date_updated=NOW.replace(tzinfo=None), created_by="user_1", updated_by=None)
    return SimpleNamespace(**{**values, **changes})


def compiled_rows(schema: type, objs: list[Any], fields: set[str] | None = None) -> list[dict[str, Any]]:
    """Shaped by the compiled plan alone (no pydantic fallback), and the same JSON as pydantic's."""
    plan = compiled(schema)
    assert plan is not None, f"{schema.__name__} is not compiled"
    rows = plan.rows(objs, fields)
    assert orjson.dumps(rows) == orjson.dumps(shape_with_pydantic(schema, objs, fields))
    return rows


def test_lead_with_nested_contacts_and_json_lists() -> None:
    rows = compiled_rows(LeadRead, [lead(), lead(id="lead_2", contacts=[], addresses=[])])
    first = rows[0]
    assert list(first) == list(LeadRead.model_fields)
    assert first["contacts"][0]["emails"] == [{"email": "ada@example.com", "type": "office"}]
    assert first["phones"] == [{"phone": "+442071838750", "type": "office",
                                "phone_formatted": format_phone("+442071838750")}]
    assert first["contacts"][0]["phones"][0]["phone_formatted"] == "+1 555-123-4567"  # not the stored "stale"
    assert first["addresses"] == [{"label": None, "address_1": None, "address_2": None, "city": "Paris",
                                   "state": None, "zipcode": None, "country": "FR"}]
    assert first["date_created"] == "2026-01-15T09:30:00.123Z" == first["date_updated"]


def test_fields_selection_keeps_the_schema_order() -> None:
    rows = compiled_rows(LeadRead, [lead()], {"date_created", "contacts", "id", "not_a_field"})
    assert list(rows[0]) == ["id", "contacts", "date_created"]
    assert compiled_rows(LeadRead, [lead()], set()) == [{}]


def test_missing_attributes_take_defaults_and_rows_own_their_values() -> None:
    stored = contact()
    del stored.custom  # a default: {}
    rows = compiled_rows(ContactRead, [stored, contact()])
    assert rows[0]["custom"] == {}
    rows[0]["custom"]["x"] = 1
    rows[1]["custom"]["cf_1"] = "changed"  # custom values are rewritten after shaping: the record must not see it
    assert compiled_rows(ContactRead, [stored])[0]["custom"] == {}
    assert contact().custom == {"cf_1": "gold"}
    assert compiled_rows(PhoneOut, [{"phone": "+15551234567", "type": "x"}])[0]["phone_formatted"] == "+1 555-123-4567"


def test_timestamps_with_and_without_tzinfo() -> None:
    paris = timezone(timedelta(hours=1))
    for value in (NOW, NOW.replace(tzinfo=None), datetime(2026, 1, 15, 10, 30, tzinfo=paris),
                  datetime(999, 1, 1, tzinfo=UTC), datetime(2026, 1, 15)):
        row = compiled_rows(JobRead, [job(run_at=value, locked_until=value)])[0]
        assert row["run_at"] == row["locked_until"] and row["run_at"].endswith("Z")
    assert compiled_rows(JobRead, [job()])[0]["locked_until"] is None


def job(**changes: Any) -> SimpleNamespace:
    values = dict(id="job_1", organization_id=None, kind="export", payload={"n": 2**64 - 1, "f": 0.1, "t": "é"},
                  status="queued", attempts=0, max_attempts=2**63, run_at=NOW, locked_by=None, locked_until=None,
                  last_error=None, idempotency_key=None, owner_type=None, owner_id=None, result=[1.5, "x"],
                  date_created=NOW, date_updated=NOW, date_started=None, date_finished=None)
    return SimpleNamespace(**{**values, **changes})


def test_large_ints_floats_literals_and_any() -> None:
    # Beyond 64 bits orjson refuses (the response then goes through json): compare the Python values' repr.
    big = [job(attempts=2**80, payload={"n": -2**70, "f": 0.1, "t": "é"})]
    rows = compiled(JobRead).rows(big, None)  # type: ignore[union-attr]
    assert repr(rows) == repr(shape_with_pydantic(JobRead, big))
    assert rows[0]["attempts"] == 2**80 and rows[0]["payload"] == {"n": -2**70, "f": 0.1, "t": "é"}
    compiled_rows(JobRead, [job(result=None), job(result={"a": [True, None]}), job(status="cancelled")])


@pytest.mark.parametrize("changes", [
    {"status": "sleeping"},  # not one of the Literal's values
    {"attempts": "3"},  # pydantic coerces a numeric string in lax mode
    {"attempts": True},
    {"kind": None},  # None in a str field: pydantic refuses it
    {"payload": {"x": float("inf")}},  # dumped as null by pydantic
    {"payload": {1: "int key"}},
    {"result": (1, 2)},
    {"run_at": "2026-01-15T09:30:00Z"},  # a string in a datetime field: pydantic parses it
])
def test_values_the_plan_does_not_take_go_to_pydantic(changes: dict[str, Any]) -> None:
    objs = [job(), job(**changes)]
    with pytest.raises(Unshaped):
        compiled(JobRead).rows(objs, None)  # type: ignore[union-attr]
    try:
        expected: Any = shape_with_pydantic(JobRead, objs)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as raised:
            shape_all(JobRead, objs)
        assert raised.value.errors() == exc.errors()
    else:
        assert shape_all(JobRead, objs) == expected


def test_required_attribute_missing_is_pydantics_error() -> None:
    broken = job()
    del broken.kind
    with pytest.raises(ValidationError, match="kind"):
        shape_all(JobRead, [broken])


def opportunity(**changes: Any) -> SimpleNamespace:
    values = dict(id="oppo_1", lead_id="lead_1", contact_id=None, status_id="stat_1", status_label="Active",
                  status_type="active", pipeline_id="pipe_1", owner_id=None, value=123456, value_period="monthly",
                  value_currency="EUR", confidence=None, note=None, expected_close_date=date(2026, 3, 1),
                  date_won=None, custom={}, date_created=NOW, date_updated=NOW, created_by=None, updated_by=None)
    return SimpleNamespace(**{**values, **changes})


def test_computed_fields_and_dates() -> None:
    rows = compiled_rows(OpportunityRead, [opportunity(), opportunity(expected_close_date=None, value_period="one_time")])
    assert list(rows[0])[-2:] == ["value_formatted", "annualized_value"]
    assert rows[0]["expected_close_date"] == "2026-03-01"
    assert compiled_rows(OpportunityRead, [opportunity()], {"id", "annualized_value"}) == [
        {"id": "oppo_1", "annualized_value": 123456 * 12}]
    item = SimpleNamespace(id="item_1", opportunity_id="oppo_1", name="Seat", quantity=3, unit_price=2**40,
                           date_created=NOW)
    assert compiled_rows(LineItemRead, [item])[0]["total"] == 3 * 2**40
    # A datetime where a date is declared: pydantic decides (it takes a midnight one).
    with pytest.raises(Unshaped):
        compiled(OpportunityRead).rows([opportunity(expected_close_date=datetime(2026, 3, 1))], None)  # type: ignore[union-attr]


def test_schemas_and_fields_the_compiler_does_not_understand_go_to_pydantic() -> None:
    assert compiled(ConnectedAccountRead) is None  # a model validator of its own
    # A nested model with a field validator: that field alone is shaped by pydantic.
    kind = SimpleNamespace(id="type_1", name="Demo", description=None, created_by=None, updated_by=None,
                           date_created=NOW, date_updated=NOW,
                           fields=[SimpleNamespace(id="f1", name="Outcome", label=None, description=None,
                                                   type="text", required=False, choices=[])])
    rows = compiled_rows(CustomActivityTypeRead, [kind])
    assert rows[0]["fields"][0]["choices"] is None  # the validator ran: [] -> None


def test_check_mode_raises_on_any_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shaping, "CHECK", True)
    assert shape_all(LeadRead, [lead()]) == shape_with_pydantic(LeadRead, [lead()])
    plan = compiled(LeadRead)
    assert plan is not None
    monkeypatch.setattr(plan, "rows", lambda objs, fields: [{**row, "mrr": float(row["mrr"])}
                                                             for row in shape_with_pydantic(LeadRead, objs, fields)])
    with pytest.raises(ShapeMismatch):  # 1500 vs 1500.0: equal in Python, not in JSON
        shape_all(LeadRead, [lead()])


def test_a_property_of_the_record_class_is_read_as_pydantic_reads_it() -> None:
    class Stored(SimpleNamespace):
        @property
        def title(self) -> str:
            return "from the property"

    record = Stored(**{k: v for k, v in vars(contact()).items() if k != "title"})
    record.__dict__["title"] = "hidden by the property"
    assert compiled_rows(ContactRead, [record])[0]["title"] == "from the property"


@pytest.mark.parametrize(("value", "expected"), [
    (datetime(2026, 1, 15, 9, 30, 0, 123999, tzinfo=UTC), "2026-01-15T09:30:00.123Z"),  # truncated, not rounded
    (datetime(2026, 1, 15, 9, 30, tzinfo=UTC), "2026-01-15T09:30:00.000Z"),
    (datetime(999, 2, 3, 4, 5, 6, 7000), "0999-02-03T04:05:06.007Z"),  # no zone: UTC; a year before 1000 keeps its zeros
    (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),
    (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999Z"),
    (datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))), "2026-03-28T20:00:00.000Z"),
])
def test_timestamps_are_written_in_utc_with_milliseconds(value: datetime, expected: str) -> None:
    assert format_timestamp(value) == expected
