"""Settings, read once from the environment (prefix ``GENIZIZ_``)."""

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GENIZIZ_", extra="ignore")

    # Embedded default: an SQLite file in the working directory.
    database_url: str = "sqlite+aiosqlite:///./geniziz.db"
    # Rate-limit counters are per process unless Redis is configured.
    redis_url: str | None = None

    # Per API key, per endpoint group ("N/second|minute|hour" as the `limits` library reads it).
    rate_limit_read: str = "600/minute"
    rate_limit_write: str = "240/minute"
    rate_limit_heavy: str = "60/minute"
    # The workspace-wide budget is this many times the per-key one.
    rate_limit_org_multiplier: int = 4

    # Region assumed for phone numbers written without a country code.
    default_phone_region: str = "US"
    # Seconds a successful API-key lookup is cached in-process; a revoked key stops working within this.
    auth_cache_seconds: float = 5.0
    # PostgreSQL connections per process and pool (reads, writes), opened as needed and kept.
    db_pool_size: int = 20
    # Largest request body any surface accepts (413 beyond it), checked before the body is read.
    max_body_bytes: int = 10 * 1024 * 1024
    # Fernet key(s) for credentials at rest, comma-separated (the first encrypts; all decrypt, for rotation).
    # Unset on SQLite: generated into <database>.key on first use (geniziz.messaging.crypto).
    secret_key: str | None = None
    # The server's public address (https://crm.example.com): unsubscribe links in emails, and the URL the
    # SMS provider's webhook signatures are computed over. Unset: links are mailto only; the request's URL.
    public_url: str | None = None

    # Background jobs (geniziz.worker). The in-process worker runs inside `geniziz serve`: by default
    # only on SQLite (one command gives a working CRM); on PostgreSQL run `geniziz worker` processes.
    inprocess_worker: bool | None = None
    worker_lease_seconds: float = 30.0  # a claimed job is another worker's after this without a heartbeat
    worker_poll_seconds: float = 1.0  # how often an idle worker looks for due jobs
    worker_shutdown_seconds: float = 10.0  # on SIGTERM, how long running jobs may finish before release
    job_max_attempts: int = 5  # unless the handler or the enqueue says otherwise
    job_backoff_seconds: float = 10.0  # first retry delay; doubles per attempt, with jitter
    job_retention_days: int = 30  # finished jobs (and their idempotency keys) are kept this long
    job_modules: str = ""  # comma-separated extra modules declaring job handlers, imported by workers
    # A lead move with more records than this runs as a background job (POST /lead/{id}/move/ answers at once).
    lead_move_inline_records: int = 5000
    log_level: str = "info"
    # FastAPI's OpenTelemetry spans, metrics and logs, for a process whose providers are configured (say, run
    # under `opentelemetry-instrument`). Off: FastAPI would otherwise ask on every request whether a provider
    # is configured (reading the environment: 3% of a lead read).
    opentelemetry: bool = False

    # Outbound integrations (mailing exports): requests to private, loopback or link-local addresses are
    # refused unless the operator allows them (a platform double on this machine, an internal proxy).
    allow_private_hosts: bool = False
    # How often a platform's asynchronous import (Brevo, Klaviyo) is polled until it completes.
    mailing_poll_seconds: float = 5.0

    # The sequence engine (geniziz.sequences.engine): read when workers load it.
    sequence_tick_seconds: float = 30.0  # how often the runners look for due steps (the worst extra wait of a step)
    sequence_runners: int = 2  # runner jobs per tick: as many workers can run steps side by side
    sequence_batch: int = 100  # subscriptions claimed per statement
    sequence_lease_seconds: float = 300.0  # a claimed subscription is free again after this if its runner died


@lru_cache
def get_settings() -> Settings:
    return Settings()
