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
    # PostgreSQL connections per process (plus 10 overflow).
    db_pool_size: int = 10
    # Largest request body any surface accepts (413 beyond it), checked before the body is read.
    max_body_bytes: int = 10 * 1024 * 1024
    log_level: str = "info"


@lru_cache
def get_settings() -> Settings:
    return Settings()
