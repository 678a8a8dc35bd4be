"""Alembic environment: runs against GENIZIZ_DATABASE_URL (or the URL the caller put in the config)."""

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from geniziz.app import load_domains
from geniziz.config import get_settings
from geniziz.db import Base

load_domains()  # import every model so autogenerate sees the whole schema
target_metadata = Base.metadata
config = context.config
# Indexes written by hand in migrations, which the models cannot declare portably (e.g. PostgreSQL's
# trigram index for lead search); autogenerate and `alembic check` leave them alone.
HAND_WRITTEN_INDEXES = {
    "ix_lead_search_text_trgm",
    "ux_custom_activity_type_org_lower_name",
    "ix_activity_report",
    "ux_user_lower_email",  # 0017
    "ix_opportunity_report_created", "ix_opportunity_report_won",  # 0019, PostgreSQL (INCLUDE)
    "ix_activity_contact",  # 0023, PostgreSQL (partial, INCLUDE)
    # 0010: GIN indexes on PostgreSQL only
    "ix_lead_custom_gin", "ix_contact_custom_gin", "ix_opportunity_custom_gin", "ix_custom_object_custom_gin",
    # 0016: trigram indexes for the contact filters and MCP's search (PostgreSQL)
    "ix_contact_email_keys_trgm", "ix_contact_phone_keys_trgm", "ix_contact_name_trgm", "ix_contact_urls_trgm",
    # 0021: import deduplication's look-ups (expression indexes)
    "ix_lead_site", "ix_lead_lower_name",
}
# SQLite FTS5 tables (0016) and the shadow tables FTS5 keeps for them (<name>_data, _idx, _docsize, _config).
# contact_key (0020): normalized emails and phones of contacts, kept by triggers (no model maps it).
HAND_WRITTEN_TABLES = {"lead_fts", "contact_fts", "contact_key"}


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    if type_ == "table" and any(name == t or name.startswith(f"{t}_") for t in HAND_WRITTEN_TABLES):
        return False
    # ix_custom_<field ID>_<type>: indexed custom fields' expression indexes, made at run time (custom/jobs.py)
    return not (type_ == "index" and (name in HAND_WRITTEN_INDEXES or name.startswith("ix_custom_cf_")))


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    # render_as_batch lets later ALTERs work on SQLite too (it rebuilds the table).
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
