"""FastAPI's OpenTelemetry spans: off unless GENIZIZ_OPENTELEMETRY is set (FastAPI would otherwise ask on every
request whether a provider is configured), and produced when it is and a provider is.

The app is called in-process: the tracer provider is a process-wide global, which a test can set only here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from opentelemetry import trace

from geniziz.app import create_app
from geniziz.config import Settings
from tests.conftest import Api, Server


class RecordingSpan(trace.NonRecordingSpan):
    """Keeps its name, as it ends up (FastAPI names a span by its route once the route is found)."""

    def __init__(self, names: list[str], name: str) -> None:
        super().__init__(trace.INVALID_SPAN_CONTEXT)
        self.names, self.index = names, len(names)
        names.append(name)

    def update_name(self, name: str) -> None:
        self.names[self.index] = name


class RecordingTracer(trace.Tracer):
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        return RecordingSpan(self.names, name)

    @contextmanager
    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Iterator[trace.Span]:
        yield self.start_span(name)


class RecordingProvider(trace.TracerProvider):
    """A configured provider (what the SDK's would be), which keeps the names of the spans started."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return RecordingTracer(self.names)


@pytest.fixture(scope="module")
def provider() -> RecordingProvider:
    recording = RecordingProvider()
    trace.set_tracer_provider(recording)  # once per process (a second call is ignored)
    assert trace.get_tracer_provider() is recording
    return recording


def spans_of_one_request(database_url: str, provider: RecordingProvider, key: str | None = None,
                         **settings: Any) -> list[str]:
    app = create_app(Settings(database_url=database_url, inprocess_worker=False, **settings))

    async def main() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://geniziz",
                                     auth=(key, "") if key else None) as client:
            response = await client.get("/api/v1/status/lead/")
        await app.state.db.dispose()
        return response.status_code

    provider.names.clear()
    assert asyncio.run(main()) == (200 if key else 401)  # no key: refused before any database work
    return list(provider.names)


def test_spans_only_when_asked_for(server: Server, api: Api, provider: RecordingProvider) -> None:
    assert spans_of_one_request(server.database_url, provider) == []
    assert spans_of_one_request(server.database_url, provider, api.key) == []
    # Refused by the gateway before routing: the span is named by the method alone.
    assert spans_of_one_request(server.database_url, provider, opentelemetry=True) == ["GET"]
    # Routed (by the path table, api/routing.py): named by the route, as FastAPI's own lookup names it.
    assert spans_of_one_request(server.database_url, provider, api.key, opentelemetry=True) == [
        "GET /api/v1/status/lead/"]
