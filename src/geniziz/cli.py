"""The `geniziz` command: serve, migrate, and workspace / API-key administration."""

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


if __name__ == "__main__":
    app()
