"""The two reference endpoints bench_http.py compares Geniziz with, built the way most Python CRMs are.

- ``GET /floor``: bare FastAPI returning a small JSON object (the framework's floor);
- ``GET /lead/{id}``: the typical stack: FastAPI + SQLAlchemy 2 async ORM (asyncpg or aiosqlite), one
  primary-key ``session.get`` on the same ``lead`` table Geniziz serves, a Pydantic response model;
- ``POST /lead``: the typical stack's create, the yardstick for ``POST /lead/``: the same lead body validated
  by a Pydantic model (emails by ``EmailStr``, phones as plain strings), one ORM insert, the commit, the row
  as a Pydantic response. Into a table of its own (``reference_lead``, created at start-up if missing), so the
  workspace's leads, which Geniziz's scenarios page through, stay Geniziz's.

No auth, no rate limits, no workspace scope, no embedded contacts, no activity recorded, no derived columns
(search text, keys): that is what "typical" leaves out.
Run by bench_http.py as ``uvicorn --factory reference_app:create_app`` (one process, like ``geniziz serve``),
with the database URL in REFERENCE_DATABASE_URL.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations, which name local objects.
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import uuid4

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, EmailStr
from sqlalchemy import JSON, BigInteger, DateTime, String, Text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Lead(Base):
    __tablename__ = "lead"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(Text)
    industry: Mapped[str | None] = mapped_column(String(200))
    status_id: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[str | None] = mapped_column(String(32))
    mrr: Mapped[int | None] = mapped_column(BigInteger)
    emails: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    phones: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class NewLead(Base):
    __tablename__ = "reference_lead"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(Text)
    industry: Mapped[str | None] = mapped_column(String(200))
    mrr: Mapped[int | None] = mapped_column(BigInteger)
    emails: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    phones: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    addresses: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    date_created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Email(BaseModel):
    email: str
    type: str


class Phone(BaseModel):
    phone: str
    type: str


class LeadFields(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    url: str | None
    description: str | None
    industry: str | None
    mrr: int | None
    emails: list[Email]
    phones: list[Phone]


class LeadOut(LeadFields):
    status_id: str
    owner_id: str | None


class EmailIn(BaseModel):
    email: EmailStr
    type: str = "office"


class PhoneIn(BaseModel):
    phone: str
    type: str = "office"


class LeadIn(BaseModel):
    name: str
    url: str | None = None
    description: str | None = None
    industry: str | None = None
    mrr: int | None = None
    emails: list[EmailIn] = []
    phones: list[PhoneIn] = []
    addresses: list[dict[str, Any]] = []


class NewLeadOut(LeadFields):
    addresses: list[dict[str, Any]]
    date_created: datetime


def create_app() -> FastAPI:
    url = os.environ["REFERENCE_DATABASE_URL"]
    engine = create_async_engine(url, pool_size=10, max_overflow=10)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as connection:
            await connection.run_sync(NewLead.__table__.create, checkfirst=True)
        yield
        await engine.dispose()

    async def session() -> AsyncIterator[AsyncSession]:
        async with sessions() as s:
            yield s

    app = FastAPI(lifespan=lifespan)

    @app.get("/floor")
    async def floor() -> dict[str, Any]:
        return {"ok": True, "service": "reference", "version": 1}

    @app.get("/lead/{lead_id}", response_model=LeadOut)
    async def get_lead(lead_id: str, s: Annotated[AsyncSession, Depends(session)]) -> Lead:
        lead = await s.get(Lead, lead_id)
        if lead is None:
            raise HTTPException(404, "No such lead")
        return lead

    @app.post("/lead", response_model=NewLeadOut, status_code=201)
    async def create_lead(body: LeadIn, s: Annotated[AsyncSession, Depends(session)]) -> NewLead:
        lead = NewLead(id=uuid4().hex, date_created=datetime.now(UTC), **body.model_dump())
        s.add(lead)
        await s.commit()
        return lead

    return app
