"""Workspaces (organizations), users, their memberships and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geniziz.db import Base, IdString, Json, utcnow

ROLES = ("admin", "member")


class Organization(Base):
    __tablename__ = "organization"

    id: Mapped[str] = mapped_column(IdString, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Per-workspace settings of integrations, e.g. {"genesy": {"api_key_header": "X-API-Key"}}.
    settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # An IANA zone name: where the workspace's days, weeks and months begin (reports).
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # Bumped in the transaction that changes a custom field definition: the key lookup reads it, so every
    # process knows when its cached definitions are stale (custom/definitions.py). Left to the database on
    # insert, and not read back (eager_defaults off), so code creating a workspace runs at older revisions too.
    custom_fields_version: Mapped[int] = mapped_column(Integer, server_default="0")
    __mapper_args__ = {"eager_defaults": False}
    date_created: Mapped[datetime] = mapped_column(default=utcnow)
    date_updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "user"

    id: Mapped[str] = mapped_column(IdString, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    date_created: Mapped[datetime] = mapped_column(default=utcnow)
    date_updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Membership(Base):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)

    id: Mapped[str] = mapped_column(IdString, primary_key=True)
    organization_id: Mapped[str] = mapped_column(IdString, ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(IdString, ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="member")
    date_created: Mapped[datetime] = mapped_column(default=utcnow)
    date_updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(lazy="joined")
    organization: Mapped[Organization] = relationship(lazy="joined")

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def name(self) -> str:
        return self.user.name


class ApiKey(Base):
    """A user's key for one workspace. Only the SHA-256 digest of the secret is stored."""

    __tablename__ = "api_key"

    id: Mapped[str] = mapped_column(IdString, primary_key=True)
    organization_id: Mapped[str] = mapped_column(IdString, ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(IdString, ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the secret, so a user can tell their keys apart.
    hint: Mapped[str] = mapped_column(String(16))
    date_created: Mapped[datetime] = mapped_column(default=utcnow)
