"""Opportunities: status and pipeline, won dates, values from line items."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select

from geniziz import events
from geniziz.api.context import Ctx
from geniziz.api.errors import APIError
from geniziz.api.resource import CrudService, Ref
from geniziz.identity.refs import MemberRef
from geniziz.contacts.models import Contact
from geniziz.contacts.service import lead_of_contact
from geniziz.custom.records import CustomValues
from geniziz.db import utcnow
from geniziz.leads.models import Lead
from geniziz.opportunities.models import LineItem, Opportunity
from geniziz.statuses.models import Status
from geniziz.statuses.service import first_status

OPPORTUNITY_STATUS = Ref(Status, "opportunity status", Status.kind == "opportunity")


class OpportunityService(CustomValues, CrudService[Opportunity]):
    model = Opportunity
    object_type = "opportunity"
    prefix = "oppo"
    label = "opportunity"
    refs = {
        "lead_id": Ref(Lead, "lead"),
        "contact_id": Ref(Contact, "contact"),
        "status_id": OPPORTUNITY_STATUS,
        "owner_id": MemberRef(),
    }

    def filter(self, ctx: Ctx, query: Select, filters: dict[str, Any]) -> Select:
        status_type = filters.pop("status_type", None)
        if status_type:  # not a join on Status: the eager load already joins it under an alias
            query = query.where(Opportunity.status_id.in_(select(Status.id).where(Status.type == status_type)))
        return super().filter(ctx, query, filters)

    async def apply(self, ctx: Ctx, obj: Opportunity, data: dict[str, Any], *, creating: bool) -> None:
        if "contact_id" in data or "lead_id" in data:
            lead_id = await lead_of_contact(ctx, data.get("contact_id", obj.contact_id),
                                            data.get("lead_id", obj.lead_id))
            if lead_id is not None:
                data["lead_id"] = lead_id
        if not creating and "value" in data and await _has_line_items(ctx, obj.id):
            raise APIError(400, "This opportunity's value is the sum of its line items",
                           {"value": "set by line items; change them instead"})
        if creating:
            data["owner_id"] = data.get("owner_id") or ctx.user_id
            if not data.get("status_id"):
                data["status_id"] = await first_status(ctx, "opportunity")
        old_status_id = obj.status_id
        await super().apply(ctx, obj, data, creating=creating)
        if obj.status_id != old_status_id:
            status = await ctx.session.get(Status, obj.status_id)
            obj.pipeline_id = status.pipeline_id
            if status.type == "won":
                obj.date_won = obj.date_won or utcnow()
            else:
                obj.date_won = None
            if not creating:
                await events.emit(ctx, "opportunity.status_changed", opportunity=obj,
                                  old_status_id=old_status_id, new_status_id=obj.status_id)


async def _has_line_items(ctx: Ctx, opportunity_id: str) -> bool:
    return bool(await ctx.session.scalar(select(func.count()).select_from(LineItem).where(
        LineItem.opportunity_id == opportunity_id)))


class LineItemService(CrudService[LineItem]):
    model = LineItem
    prefix = "litm"
    label = "line item"
    refs = {"opportunity_id": Ref(Opportunity, "opportunity")}

    def order_by(self) -> tuple[Any, ...]:
        return (LineItem.id.asc(),)  # in the order they were added, like an invoice

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> LineItem:
        if not data.get("opportunity_id"):
            raise APIError(400, "A line item belongs to an opportunity", {"opportunity_id": "required"})
        opportunity = await self._lock(ctx, data["opportunity_id"])
        item = await super().create(ctx, data)
        await self._sum_into_value(ctx, opportunity)
        return item

    async def delete(self, ctx: Ctx, record_id: str) -> None:
        opportunity = await self._lock(ctx, (await self.get(ctx, record_id)).opportunity_id)
        await super().delete(ctx, record_id)
        await self._sum_into_value(ctx, opportunity)

    async def _lock(self, ctx: Ctx, opportunity_id: str) -> Opportunity:
        """Lock the opportunity before touching its items, so concurrent changes sum in turn (and
        the lock is taken before the item's foreign-key share lock, which would deadlock)."""
        try:
            return await OpportunityService().get(ctx, opportunity_id, for_update=True)
        except APIError:
            raise APIError(400, "Invalid reference: opportunity_id",
                           {"opportunity_id": f"No opportunity with ID {opportunity_id} in this workspace"}) from None

    async def _sum_into_value(self, ctx: Ctx, opportunity: Opportunity) -> None:
        """While an opportunity has line items, its value is their sum."""
        count, total = (await ctx.session.execute(
            select(func.count(), func.coalesce(func.sum(LineItem.quantity * LineItem.unit_price), 0))
            .where(LineItem.opportunity_id == opportunity.id))).one()
        if count:
            opportunity.value = int(total)
            opportunity.date_updated = utcnow()
        await ctx.session.flush()
