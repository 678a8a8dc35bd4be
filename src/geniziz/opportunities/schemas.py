from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, computed_field

from geniziz.api.schemas import Cents, ReadModel, Timestamp, WriteModel, format_money, partial_model
from geniziz.custom.records import CustomBody, with_custom

ValuePeriod = Literal["one_time", "monthly", "annual"]
Currency = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code, e.g. USD.")]
PERIOD_MULTIPLIER = {"one_time": 1, "monthly": 12, "annual": 1}


class OpportunityCreate(CustomBody, WriteModel):
    lead_id: str
    contact_id: str | None = None
    status_id: str | None = Field(None, description="An opportunity status; defaults to the first one of the first pipeline.")
    owner_id: str | None = Field(None, description="A member of this workspace; defaults to the caller.")
    value: Cents = 0
    value_period: ValuePeriod = "one_time"
    value_currency: Currency = "USD"
    confidence: Annotated[int, Field(ge=0, le=100)] | None = None
    note: Annotated[str, Field(max_length=20000)] | None = None
    expected_close_date: date | None = None


OpportunityUpdate = with_custom(partial_model(OpportunityCreate, "OpportunityFields", not_null={"status_id"}),
                                "OpportunityUpdate")


class OpportunityRead(ReadModel):
    id: str
    lead_id: str
    contact_id: str | None
    status_id: str
    status_label: str
    status_type: str
    pipeline_id: str
    owner_id: str | None
    value: int
    value_period: str
    value_currency: str
    confidence: int | None
    note: str | None
    expected_close_date: date | None
    date_won: Timestamp | None
    custom: dict[str, Any] = Field({}, description="Custom field values by name; each is also a custom.<field ID> key.")
    date_created: Timestamp
    date_updated: Timestamp
    created_by: str | None
    updated_by: str | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def value_formatted(self) -> str:
        return format_money(self.value, self.value_currency)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def annualized_value(self) -> int:
        return self.value * PERIOD_MULTIPLIER.get(self.value_period, 1)


class OpportunityFilters(WriteModel):
    lead_id: str | None = None
    status_id: str | None = None
    status_type: Literal["active", "won", "lost"] | None = None
    owner_id: str | None = None
    pipeline_id: str | None = None


class LineItemCreate(WriteModel):
    name: Annotated[str, Field(min_length=1, max_length=500)]
    quantity: Annotated[int, Field(ge=1, le=10**6)] = 1
    unit_price: Cents


class LineItemRead(ReadModel):
    id: str
    opportunity_id: str
    name: str
    quantity: int
    unit_price: int
    date_created: Timestamp

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> int:
        return self.quantity * self.unit_price


class LineItemFilters(WriteModel):
    opportunity_id: str | None = None
