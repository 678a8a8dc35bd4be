"""Custom field values on a lead that moves to another workspace.

Fields belong to a workspace, so a value keyed by one of the source's field IDs would mean nothing in
the target. On ``lead.moving`` (before anything changes workspace) each value is re-keyed to the
target's field of the same name, type and multiplicity on the same kind of record (for a custom object
or a custom activity, on its type, which the move has already matched by name); a value the target field could not hold
(a choice it lacks, a user who is not its member, a contact that does not come along) or whose field
has no namesake there is cleared, and counted in the move's answer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from geniziz import events
from geniziz.custom.models import CustomField
from geniziz.flows.graph import chunks, entity
from geniziz.identity.models import Membership

CLEARED = "custom values"


@events.on("lead.moving")
async def rekey_custom_values(ctx: Any, move: Any) -> None:
    tables = [table for table in move.records if "custom" in table.c and move.records[table]]
    rows: dict[Any, list[tuple[str, dict[str, Any], str | None]]] = {}
    for table in tables:
        model = entity(table)
        # A custom object's fields are its type's, a custom activity's its activity type's (both remapped
        # to the target's namesake type already).
        scope_column = getattr(model, "custom_object_type_id", None)
        if scope_column is None:
            scope_column = getattr(model, "custom_activity_type_id", None)
        for chunk in chunks(move.records[table]):
            query = select(model.id, model.custom, scope_column if scope_column is not None else model.id)
            rows.setdefault(table, []).extend(
                (rid, custom, scope if scope_column is not None else None)
                for rid, custom, scope in await ctx.session.execute(query.where(model.id.in_(chunk)))
                if custom)
    used = {field_id for found in rows.values() for _, custom, _ in found for field_id in custom}
    if not used:
        return
    mine = {f.id: f for f in await ctx.session.scalars(select(CustomField).where(CustomField.id.in_(used)))}
    theirs = {(f.scope, f.name_key): f for f in (await move.in_target(
        select(CustomField).where(CustomField.organization_id == move.target))).scalars()}
    users = [v for f_id in used if (f := mine.get(f_id)) and f.type == "user"
             for found in rows.values() for _, custom, _ in found for v in _listed(custom.get(f_id))]
    members = set((await move.in_target(select(Membership.user_id).where(
        Membership.organization_id == move.target, Membership.user_id.in_(users))))
        .scalars()) if users else set()
    contacts = {cid for table, ids in move.records.items() if table.name == "contact" for cid in ids}

    def keeps(field: CustomField, target: CustomField, value: Any) -> bool:
        items = _listed(value)
        if target.type == "choices":
            return all(item in target.choices for item in items)
        if target.type == "user":
            return all(item in members for item in items)
        if target.type == "contact":
            return all(item in contacts for item in items)
        return True

    cleared = 0
    remapped: dict[str, str | None] = {}
    for table, found in rows.items():
        model = entity(table)
        for rid, custom, type_scope in found:
            moved = {}
            for field_id, value in custom.items():
                field = mine.get(field_id)
                scoped = field and field.object_type in ("custom_object", "custom_activity")
                target = field and theirs.get((type_scope if scoped else field.scope, field.name_key))
                if (field and target and (target.type, target.accepts_multiple) == (field.type, field.accepts_multiple)
                        and keeps(field, target, value)):
                    moved[target.id] = value
                    remapped[field_id] = target.id
                else:
                    cleared += 1
                    remapped.setdefault(field_id, None)
            if moved != custom:
                await ctx.session.execute(update(model).where(model.id == rid).values(custom=moved)
                                          .execution_options(synchronize_session=False))
    if remapped:
        move.remapped["custom fields"] = remapped
    if cleared:
        move.cleared[CLEARED] = move.cleared.get(CLEARED, 0) + cleared


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
