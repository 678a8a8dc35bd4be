"""IMAP sync: a periodic job per connected account and folder, with a cursor that never skips a message.

Per folder the cursor is (UIDVALIDITY, last committed UID, HIGHESTMODSEQ where the server offers it).
Each step fetches a batch over IMAP with no database transaction open (SQLite's writer is free), then
in one transaction locks the folder's row, checks the cursor is still where this sync found it, stores
one ``inbound_email`` row per message (and its activity) and moves the cursor past them. A crash between
the two loses nothing: the batch is still above the cursor. A new UIDVALIDITY restarts that folder only;
messages already stored come back as ``duplicate`` (matched by Message-ID), never as second activities.
Reconciliation (hourly, or when asked) lists every Message-ID on the server, compares with what is stored,
fetches what is missing, and shows the figures in the sync state.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from geniziz.api.context import Ctx
from geniziz.db import new_id, utcnow
from geniziz.messaging import imap
from geniziz.messaging.inbound import ingest
from geniziz.messaging.inbound_models import InboundEmail, MailFolder
from geniziz.messaging.models import ConnectedAccount
from geniziz.messaging.service import account_imap_settings
from geniziz.worker import enqueue, job_handler, periodic

SYNC_JOB = "imap.sync"
SYNC_EVERY = timedelta(minutes=2)
RECONCILE_EVERY = timedelta(hours=1)
FOLDERS = ("INBOX",)
BATCH = 50  # messages per transaction
MAX_MISSING_SHOWN = 50


async def queue_sync(ctx: Ctx, account: ConnectedAccount, *, key: str, reconcile: bool = False) -> list[str]:
    """A sync job per folder of the account, in the caller's transaction."""
    return [await enqueue(ctx.session, SYNC_JOB, {"account_id": account.id, "folder": folder, "reconcile": reconcile},
                          organization_id=account.organization_id, owner=account, idempotency_key=f"{account.id}:"
                          f"{folder}@{key}") for folder in FOLDERS]


@periodic("imap.sync_all", every=SYNC_EVERY, timeout=60)
async def sync_all(ctx: Ctx, job: Any) -> dict[str, Any]:
    """Every account that receives mail gets its sync jobs of this period (once, however many workers)."""
    # A system job: reading accounts across workspaces is the point.
    accounts = list(await ctx.session.scalars(select(ConnectedAccount).where(
        ConnectedAccount.imap_host.is_not(None)).execution_options(all_workspaces=True)))
    for account in accounts:
        await queue_sync(ctx, account, key=job.idempotency_key or job.id)
    return {"accounts": len(accounts)}


@job_handler(SYNC_JOB, max_attempts=3, timeout=900)
async def sync_job(ctx: Ctx, job: Any) -> dict[str, Any]:
    return await sync_folder(ctx, job.payload["account_id"], job.payload["folder"],
                             reconcile=bool(job.payload.get("reconcile")))


async def _folder(ctx: Ctx, account: ConnectedAccount | tuple[str, str], name: str) -> MailFolder:
    """The folder's row, locked (created on first sync; insert-or-nothing, so two first syncs make one).
    The account may be given as (workspace ID, account ID): a rollback expires the record itself."""
    org_id, account_id = account if isinstance(account, tuple) else (account.organization_id, account.id)
    now = utcnow()
    insert = pg_insert if ctx.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await ctx.session.execute(insert(MailFolder).values(
        id=new_id("mfld"), organization_id=org_id, account_id=account_id, folder=name, last_uid=0,
        fetched=0, resyncs=0, missing=[], date_created=now, date_updated=now, created_by=ctx.user_id,
        updated_by=ctx.user_id).on_conflict_do_nothing(index_elements=["account_id", "folder"]))
    return (await ctx.session.scalars(select(MailFolder).where(MailFolder.account_id == account_id,
                                                               MailFolder.folder == name)
                                      .execution_options(populate_existing=True).with_for_update())).one()


async def sync_folder(ctx: Ctx, account_id: str, name: str, *, reconcile: bool = False) -> dict[str, Any]:
    account = await ctx.session.get(ConnectedAccount, account_id)
    settings = account_imap_settings(account) if account is not None else None
    if account is None or settings is None:
        return {"skipped": "no such account, or it has no IMAP settings"}
    ids = (account.organization_id, account.id)
    folder = await _folder(ctx, ids, name)
    due = reconcile or folder.reconciled_at is None or folder.reconciled_at < utcnow() - RECONCILE_EVERY
    await ctx.session.commit()  # no transaction (no SQLite write lock) held while IMAP answers
    stored = 0
    try:
        async with imap.open_mailbox(settings) as mailbox:
            state = await imap.run(mailbox.select, name)
            folder = await _folder(ctx, account, name)
            result: dict[str, Any] = {}
            if folder.uidvalidity != state.uidvalidity:
                if folder.uidvalidity is not None:  # the server renumbered the folder: start it over
                    folder.resyncs += 1
                    result["resynced_from"] = folder.uidvalidity
                folder.uidvalidity, folder.last_uid, folder.highestmodseq = state.uidvalidity, 0, None
            cursor = folder.last_uid
            await ctx.session.commit()
            unchanged = state.uidnext is not None and cursor >= state.uidnext - 1
            uids = [] if unchanged else await imap.run(mailbox.uids_after, cursor)
            for start in range(0, len(uids), BATCH):
                batch = uids[start:start + BATCH]
                messages = await imap.run(mailbox.fetch, batch)
                moved = await _store(ctx, account, name, state.uidvalidity, cursor, batch, messages)
                if moved is None:
                    return {**result, "stored": stored, "stopped": "another sync moved the cursor"}
                cursor, stored = batch[-1], stored + moved
            if due:
                result["reconciliation"] = await _reconcile(ctx, account, mailbox, name, state.uidvalidity)
            folder = await _folder(ctx, account, name)
            folder.highestmodseq, folder.last_sync_at, folder.last_error = state.highestmodseq, utcnow(), None
            await ctx.session.commit()
            return {**result, "stored": stored, "last_uid": folder.last_uid}
    except Exception as exc:  # any failure shows in the sync state (never a stale "healthy"), then retries
        await ctx.session.rollback()
        folder = await _folder(ctx, ids, name)
        reason = str(exc) if isinstance(exc, imap.ImapFailure) else f"{type(exc).__name__}: {exc}"
        folder.last_sync_at, folder.last_error = utcnow(), reason[:2000]
        await ctx.session.commit()
        raise  # the job is retried, and shows the failure too


async def _store(ctx: Ctx, account: ConnectedAccount, name: str, uidvalidity: int, cursor: int,
                 batch: list[int], messages: dict[int, bytes]) -> int | None:
    """One batch and the cursor past it, in one transaction; None when the cursor is no longer ours."""
    folder = await _folder(ctx, account, name)
    if folder.uidvalidity != uidvalidity or folder.last_uid != cursor:
        await ctx.session.rollback()
        return None
    stored = 0
    for uid in batch:
        if uid in messages:  # a message expunged between SEARCH and FETCH is gone: nothing to keep
            await ingest(ctx, account, name, uidvalidity, uid, messages[uid])
            stored += 1
    folder.last_uid, folder.fetched = batch[-1], folder.fetched + stored
    folder.last_sync_at, folder.last_error, folder.date_updated = utcnow(), None, utcnow()
    await ctx.session.commit()
    return stored


async def _reconcile(ctx: Ctx, account: ConnectedAccount, mailbox: imap.Mailbox, name: str,
                     uidvalidity: int) -> dict[str, Any]:
    """Every message on the server below the cursor must be stored (by UID, or by Message-ID from another
    folder or an earlier UIDVALIDITY). What is not is fetched and stored now, and shown as missing."""
    on_server = await imap.run(mailbox.message_ids)
    await ctx.session.commit()
    folder = await _folder(ctx, account, name)
    uids = set(await ctx.session.scalars(select(InboundEmail.uid).where(
        InboundEmail.account_id == account.id, InboundEmail.folder == name, InboundEmail.uidvalidity == uidvalidity)))
    known = set(await ctx.session.scalars(select(InboundEmail.message_id).where(
        InboundEmail.account_id == account.id, InboundEmail.message_id.is_not(None))))
    missing = [uid for uid, mid in sorted(on_server.items())
               if uid <= folder.last_uid and uid not in uids and (mid is None or mid not in known)]
    await ctx.session.commit()
    messages = await imap.run(mailbox.fetch, missing) if missing else {}
    folder = await _folder(ctx, account, name)
    repaired = 0
    for uid in missing:
        if uid in messages and not await ctx.session.scalar(select(InboundEmail.id).where(
                InboundEmail.account_id == account.id, InboundEmail.folder == name,
                InboundEmail.uidvalidity == uidvalidity, InboundEmail.uid == uid)):
            await ingest(ctx, account, name, uidvalidity, uid, messages[uid])
            repaired += 1
    folder.fetched += repaired
    below = sum(1 for uid in on_server if uid <= folder.last_uid)
    folder.reconciled_at, folder.server_count, folder.stored_count = utcnow(), len(on_server), below - len(missing)
    folder.missing = [on_server.get(uid) or f"uid:{uid}" for uid in missing][:MAX_MISSING_SHOWN]
    await ctx.session.commit()
    return {"server": len(on_server), "missing": len(missing)}


async def sync_state(ctx: Ctx, account: ConnectedAccount) -> dict[str, Any]:
    """What the account's sync has done: per folder its cursor and figures; per outcome how many messages."""
    folders = list(await ctx.session.scalars(select(MailFolder).where(MailFolder.account_id == account.id)
                                             .order_by(MailFolder.folder)))
    counts = dict((await ctx.session.execute(select(InboundEmail.outcome, func.count()).where(
        InboundEmail.account_id == account.id).group_by(InboundEmail.outcome))).all())
    outcomes = {name: counts.get(name, 0) for name in ("activity", "own", "duplicate", "unmatched", "error")}
    last = max((f.last_sync_at for f in folders if f.last_sync_at), default=None)
    return {
        "account_id": account.id, "enabled": bool(account.imap_host), "last_sync_at": last,
        "healthy": bool(account.imap_host and folders) and outcomes["error"] == 0
                   and all(not f.last_error and not f.missing for f in folders),
        "outcomes": outcomes,
        "folders": [{name: getattr(f, name) for name in (
            "folder", "uidvalidity", "last_uid", "highestmodseq", "last_sync_at", "last_error", "fetched", "resyncs",
            "reconciled_at", "server_count", "stored_count", "missing")} for f in folders],
    }
