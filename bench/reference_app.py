"""The two reference endpoints bench_http.py compares Geniziz with, built the way most Python CRMs are.

- ``GET /floor``: bare FastAPI returning a small JSON object (the framework's floor);
- ``GET /lead/{id}``: the typical stack: FastAPI + SQLAlchemy 2 async ORM (asyncpg or aiosqlite), one
  primary-key ``session.get`` on the same ``lead`` table Geniziz serves, a Pydantic response model.

No auth, no rate limits, no workspace scope, no embedded contacts: that is what "typical" leaves out.
Run by bench_http.py as ``uvicorn --factory reference_app:create_app`` (one process, like ``geniziz serve``),
with the database URL in REFERENCE_DATABASE_URL.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations, which name local objects.
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, BigInteger, String, Text
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


class Email(BaseModel):
    email: str
    type: str


class Phone(BaseModel):
    phone: str
    type: str


class LeadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    url: str | None
    description: str | None
    industry: str | None
    status_id: str
    owner_id: str | None
    mrr: int | None
    emails: list[Email]
    phones: list[Phone]


def create_app() -> FastAPI:
    url = os.environ["REFERENCE_DATABASE_URL"]
    engine = create_async_engine(url, pool_size=10, max_overflow=10)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
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

    return app
