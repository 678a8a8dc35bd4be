"""The workspace's custom field definitions, as reads and writes need them: cached per process.

Every read of a record that carries custom values shows them by its workspace's definitions, which cost a
query per request (about half of a lead read's CPU). They are cached here per workspace, with the
workspace's ``organization.custom_fields_version``:

- every change to a definition bumps that version in its own transaction (a flush that creates, changes or
  deletes a field, or deletes a row whose deletion cascades to fields: a custom object or activity type);
- the process that made the change drops its copy once the change commits: its next read has it;
- other processes learn the version with the caller's key (identity/keys.py reads it in the same query),
  so they see the change once that key's cached lookup expires: within ``auth_cache_seconds`` (5 s), as
  for a revoked key;
- a write reads the version in its own transaction (``for_write``: one statement, with the workspace's first
  statuses) and uses the cached copy only if it is of that version; else it reads the fields there and
  keeps them. So a write checks values against the definitions its transaction sees, whichever process
  changed them, as when it read them afresh: a copy is read after the version it is kept under, so it is
  never older than that version, and a bump commits with its change, so a copy of the version the write
  reads is that version's. Definitions this transaction changed or loaded itself are used as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any

from cachetools import LRUCache
from sqlalchemy import bindparam, event, select, update

from geniziz.api.context import Ctx
from geniziz.custom.models import CustomField
from geniziz.db import WorkspaceSession
from geniziz.identity.models import Organization
from geniziz.statuses.models import STATUS_KINDS
from geniziz.statuses.service import first_status_columns

Definitions = dict[str, list[CustomField]]  # {object type: its fields, oldest first}

# {workspace ID: (custom_fields_version, every field of the workspace by object type)}
_cache: LRUCache[str, tuple[int, Definitions]] = LRUCache(maxsize=2_000)
# Bumped whenever this process drops a workspace's copy: a read that began before a local change
# committed must not store what it read (it may predate the change).
_drops = 0
_CHANGED = "custom_fields_changed"  # session.info: workspaces whose definitions this transaction changed
# Built once: building them cost about as much CPU as running them (every write reads the fields fresh).
_OF_KINDS = (select(CustomField).where(CustomField.object_type.in_(bindparam("kinds", expanding=True)))
             .order_by(CustomField.id))
_ALL = select(CustomField).order_by(CustomField.id)


_ORG = Organization.__table__
# What a record's write needs of its workspace, in one statement: the definitions' version, and the first
# status of each kind (a new lead's or opportunity's default). Core, on the session's connection: no
# scoping needed (the organization row by key; the statuses by organization_id).
_WRITE_STATE = (select(_ORG.c.custom_fields_version, *first_status_columns(_ORG.c.id))
                .where(_ORG.c.id == bindparam("org")))


async def definitions(ctx: Ctx, kinds: Iterable[str], *, fresh: bool = False) -> Definitions:
    """The workspace's fields of each object type in ``kinds``. ``fresh``: read in this transaction (writes)."""
    kinds = sorted(set(kinds))
    version = ctx.principal.fields_version  # None: a caller without a key lookup (worker, CLI)
    if fresh or version is None:
        return _grouped(await ctx.session.scalars(_OF_KINDS, {"kinds": kinds}), kinds)
    return await _of_version(ctx, version, kinds, _drops)


async def for_write(ctx: Ctx, kinds: Iterable[str]) -> tuple[Definitions, dict[str, str | None] | None]:
    """A write's definitions (as ``definitions(fresh=True)``) and the workspace's first status of each kind,
    both as the write's own transaction sees them; the definitions from this process's copy when it is of
    the version this transaction reads. (None for the statuses: not read, the workspace is gone.)"""
    session = ctx.session
    if session.new or session.dirty or session.deleted:
        await session.flush()  # as the ORM's autoflush before a query: the statement below reads the database
    drops = _drops
    row = (await (await session.connection()).execute(_WRITE_STATE, {"org": ctx.org_id})).first()
    if row is None:
        return await definitions(ctx, kinds, fresh=True), None
    first = {kind: row._mapping[kind] for kind in STATUS_KINDS}
    if session.info.get(_CHANGED) or any(isinstance(obj, CustomField) for obj in session.identity_map.values()):
        # Changed (uncommitted: never a copy's) or loaded by this transaction: its own objects, as they are.
        return await definitions(ctx, kinds, fresh=True), first
    return await _of_version(ctx, row.custom_fields_version, kinds, drops), first


async def _of_version(ctx: Ctx, version: int, kinds: Iterable[str], drops: int) -> Definitions:
    """``kinds``' fields from this process's copy of the workspace's definitions at ``version``, read (no older
    than ``version``) and kept first if the copy is of another one; not kept if a local change committed
    since ``drops`` was taken (what was read may predate it, and reads may still know ``version``)."""
    cached = _cache.get(ctx.org_id)
    if cached is None or cached[0] != version:
        cached = (version, await _read_all(ctx))
        if drops == _drops:
            _cache[ctx.org_id] = cached
    return {kind: cached[1].get(kind, []) for kind in sorted(set(kinds))}


async def _read_all(ctx: Ctx) -> Definitions:
    fields = list(await ctx.session.scalars(_ALL))
    for field in fields:  # detached: shared by every request of this process, read only
        ctx.session.expunge(field)
    return _grouped(fields, None)


def _grouped(fields: Iterable[CustomField], kinds: list[str] | None) -> Definitions:
    found: Definitions = {kind: [] for kind in kinds or ()}
    for field in fields:
        found.setdefault(field.object_type, []).append(field)
    return found


# Rows whose deletion deletes custom fields with them (ON DELETE CASCADE): custom object and activity types.
_CASCADING = frozenset(fk.target_fullname.partition(".")[0] for fk in CustomField.__table__.foreign_keys
                       if fk.ondelete == "CASCADE")


@event.listens_for(WorkspaceSession, "after_flush")
def _bump_version(session: Any, _context: Any) -> None:
    # session.new / dirty / deleted still list what this flush wrote.
    workspaces = {obj.organization_id for obj in chain(session.new, session.dirty, session.deleted)
                  if isinstance(obj, CustomField)}
    workspaces |= {obj.organization_id for obj in session.deleted
                   if getattr(obj, "__tablename__", None) in _CASCADING and hasattr(obj, "organization_id")}
    if not workspaces:
        return
    table = Organization.__table__
    session.connection().execute(update(table).where(table.c.id.in_(sorted(workspaces)))
                                 .values(custom_fields_version=table.c.custom_fields_version + 1))
    session.info.setdefault(_CHANGED, set()).update(workspaces)


@event.listens_for(WorkspaceSession, "after_commit")
def _drop_copies(session: Any) -> None:
    global _drops
    for workspace in session.info.pop(_CHANGED, ()):
        _cache.pop(workspace, None)
        _drops += 1
