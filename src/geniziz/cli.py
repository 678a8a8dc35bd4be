"""The `geniziz` command: serve, migrate, workspace / API-key administration, import and export."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated

import typer
from sqlalchemy import func, select

from geniziz.config import get_settings
from geniziz.db import Database

app = typer.Typer(help="Geniziz: an open-source sales CRM server.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
workspace_app = typer.Typer(help="Workspaces (organizations).", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
app.add_typer(apikey_app, name="apikey")


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _with_session(work):  # type: ignore[no-untyped-def]
    from geniziz.app import load_domains

    load_domains()
    settings = get_settings()
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    try:
        # Set-up commands act across workspaces (create one, find a member of any): a system unit.
        async with db.unit(system=True, write=True) as session:
            return await work(session)
    finally:
        await db.dispose()


@app.command()
def migrate() -> None:
    """Apply pending database migrations (Alembic upgrade to head)."""
    from geniziz.migrate import upgrade

    upgrade(get_settings().database_url)
    typer.echo("Database is up to date.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (PostgreSQL only; SQLite uses one).")] = 1,
) -> None:
    """Apply migrations, create a first workspace if the database is empty, and serve the API."""
    import uvicorn

    from geniziz.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    first = _run(_with_session(_bootstrap))
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    if first:
        org, user, secret = first
        typer.echo(f"\nCreated workspace {org.name!r} ({org.id}) with admin {user.email}.")
        typer.echo(f"API key (shown once, keep it): {secret}\n")
        typer.echo(f"Try it:\n  curl -u {secret}: {base}/api/v1/me/\n")
    typer.echo(f"Geniziz on {base}  (API docs: {base}/api/v1/docs/, database: {_safe_url(settings.database_url)})")
    if settings.database_url.startswith("sqlite") and workers > 1:
        typer.echo("SQLite serves from one process; ignoring --workers.")
        workers = 1
    uvicorn.run("geniziz.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=settings.log_level, proxy_headers=True)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at the same time in this process.")] = 1,
) -> None:
    """Run background jobs until SIGTERM (running jobs then finish, or go back to the queue)."""
    from geniziz.worker.runner import run_worker

    _run(run_worker(get_settings(), concurrency))


async def _bootstrap(session):  # type: ignore[no-untyped-def]
    """On the first start of an empty database: a workspace, its admin and a key to reach it."""
    from geniziz.identity.models import Organization
    from geniziz.identity.service import create_workspace

    if await session.scalar(select(func.count()).select_from(Organization)):
        return None
    email = os.environ.get("GENIZIZ_ADMIN_EMAIL", "admin@example.com")
    org, user, _key, secret = await create_workspace(session, "My Workspace", email, "Admin")
    return org, user, secret


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@workspace_app.command("create")
def workspace_create(
    name: str,
    admin_email: Annotated[str, typer.Option("--admin-email", help="The admin's email (created if new).")],
    admin_name: Annotated[str, typer.Option("--admin-name")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create a workspace, its admin user and an API key."""
    from geniziz.api.schemas import normalize_email
    from geniziz.identity.service import create_workspace

    try:
        email = normalize_email(admin_email)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--admin-email") from None

    async def work(session):  # type: ignore[no-untyped-def]
        org, user, key, secret = await create_workspace(session, name, email, admin_name or None)
        return {"organization_id": org.id, "organization_name": org.name, "user_id": user.id,
                "email": user.email, "api_key_id": key.id, "api_key": secret}

    result = _run(_with_session(work))
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(f"Workspace {result['organization_name']!r} ({result['organization_id']}), admin {result['email']}")
        typer.echo(f"API key (shown once): {result['api_key']}")


@apikey_app.command("create")
def apikey_create(
    email: Annotated[str, typer.Option("--email", help="A member of the workspace.")],
    workspace: Annotated[str, typer.Option("--workspace", help="The workspace (organization) ID.")],
    name: Annotated[str, typer.Option("--name")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create a new API key for an existing member of a workspace."""
    from geniziz.identity.models import Membership
    from geniziz.identity.service import issue_api_key, user_by_email

    async def work(session):  # type: ignore[no-untyped-def]
        user = await user_by_email(session, email, create=False)
        if user is None or not await session.scalar(select(Membership.id).where(
                Membership.user_id == user.id, Membership.organization_id == workspace)):
            raise typer.BadParameter(f"{email} is not a member of workspace {workspace}")
        key, secret = await issue_api_key(session, workspace, user.id, name)
        return {"organization_id": workspace, "user_id": user.id, "api_key_id": key.id, "api_key": secret}

    result = _run(_with_session(work))
    typer.echo(json.dumps(result) if as_json else f"API key (shown once): {result['api_key']}")


# --- import and export (geniziz.flows) ---------------------------------------------------------------------
async def _member(session, workspace: str, email: str | None):  # type: ignore[no-untyped-def]
    """The user an import or export acts as: the member with this email, else the workspace's first admin."""
    from geniziz.identity.models import Membership, User

    query = select(Membership.user_id).join(User, User.id == Membership.user_id).where(
        Membership.organization_id == workspace)
    query = query.where(func.lower(User.email) == email.lower()) if email else query.where(
        Membership.role == "admin").order_by(Membership.id)
    user_id = await session.scalar(query.limit(1))
    if user_id is None:
        raise typer.BadParameter(f"no {'member ' + email if email else 'admin'} in workspace {workspace}")
    return user_id


@app.command("import")
def import_file(
    path: Annotated[str, typer.Argument(help="A CSV file with a header row, or JSON lines (.jsonl).")],
    workspace: Annotated[str, typer.Option("--workspace", help="The workspace (organization) ID.")],
    as_user: Annotated[str | None, typer.Option("--as", help="A member's email (default: the first admin).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="csv or jsonl (default: from the file name).")] = None,
    mapping: Annotated[list[str] | None, typer.Option("--map", help="COLUMN=FIELD (or COLUMN= to ignore it), "
                                                                  "over the mapping guessed from the header.")] = None,
    dedupe: Annotated[str, typer.Option(help="update, skip or none.")] = "update",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would happen, change nothing.")] = False,
    errors: Annotated[str | None, typer.Option("--errors", help="Write the rows that failed here (CSV).")] = None,
) -> None:
    """Import leads and contacts from a file, streamed in committed batches, with a progress bar."""
    import csv
    import sys

    from geniziz.api.errors import APIError
    from geniziz.app import load_domains
    from geniziz.flows.imports import FileImport

    fmt = fmt or ("jsonl" if path.endswith((".jsonl", ".ndjson")) else "csv")
    if fmt not in ("csv", "jsonl") or dedupe not in ("update", "skip", "none"):
        raise typer.BadParameter("--format is csv or jsonl; --dedupe is update, skip or none")
    overrides = {}
    for item in mapping or []:
        column, sep, target = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--map {item!r}: expected COLUMN=FIELD")
        overrides[column] = target or None
    load_domains()
    settings = get_settings()
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    error_file = open(errors, "w", newline="") if errors else None  # noqa: SIM115
    writer = csv.writer(error_file) if error_file else None
    if writer:
        writer.writerow(["row", "field", "reason"])
    size = os.path.getsize(path)

    async def work() -> dict:
        try:
            return await stream()
        finally:
            await db.dispose()

    async def stream() -> dict:
        async with db.system_session() as session:
            user_id = await _member(session, workspace, as_user)
        with open(path, newline="", encoding="utf-8-sig") as handle, \
                typer.progressbar(length=size, label="Importing", file=sys.stderr) as bar:
            read = 0

            def lines():  # type: ignore[no-untyped-def]
                nonlocal read
                for line in handle:
                    read += len(line.encode())
                    yield line

            job = FileImport(db, workspace, user_id, fmt, overrides, dedupe, dry_run)
            return await job.run(lines(), on_batch=lambda _done: bar.update(read - bar.pos),
                                 on_error=lambda *row: writer.writerow(row) if writer else None)

    try:
        result = _run(work())
    except APIError as exc:
        raise typer.BadParameter(f"{exc.message} {exc.field_errors or ''}") from None
    finally:
        if error_file:
            error_file.close()
    typer.echo(json.dumps({k: v for k, v in result.items() if k != "columns"}))


@app.command("export")
def export_records(
    resource: Annotated[str, typer.Argument(help="lead, contact or opportunity.")],
    workspace: Annotated[str, typer.Option("--workspace", help="The workspace (organization) ID.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    output: Annotated[str | None, typer.Option("--output", "-o", help="A file (default: standard output).")] = None,
    filters: Annotated[str | None, typer.Option("--filters", help='The list filters as JSON, e.g. {"status_id": "..."}.')] = None,
    as_user: Annotated[str | None, typer.Option("--as", help="A member's email (default: the first admin).")] = None,
) -> None:
    """Export leads, contacts or opportunities (filtered like the lists), streamed as CSV or JSON lines."""
    import sys

    from geniziz.api.auth import Principal
    from geniziz.api.context import Ctx
    from geniziz.api.errors import APIError
    from geniziz.app import load_domains
    from geniziz.flows.exports import write_export

    load_domains()
    settings = get_settings()
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    out = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout  # noqa: SIM115

    async def work() -> int:
        try:
            async with db.system_session() as session:
                user_id = await _member(session, workspace, as_user)
            async with db.unit(workspace) as session:
                ctx = Ctx(session, Principal(workspace, user_id, "admin", ""), "cli")
                return await write_export(ctx, resource, fmt, json.loads(filters) if filters else {}, out.write)
        finally:
            await db.dispose()

    try:
        rows = _run(work())
    except APIError as exc:
        raise typer.BadParameter(f"{exc.message} {exc.field_errors or ''}") from None
    finally:
        if output:
            out.close()
    typer.echo(f"{rows} rows", err=True)


if __name__ == "__main__":
    app()
