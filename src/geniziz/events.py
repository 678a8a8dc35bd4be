"""In-transaction domain events.

Services announce what happened (``lead.created``, ``lead.status_changed``, ``task.completed``, ...)
and other domains react in the same session, so whatever they write (e.g. timeline activities)
commits or rolls back together with the change that caused it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geniziz.api.context import Ctx

Handler = Callable[..., Awaitable[None]]
_handlers: dict[str, list[Handler]] = defaultdict(list)


def on(event: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _handlers[event].append(handler)
        return handler

    return register


async def emit(ctx: Ctx, event: str, **payload: Any) -> None:
    for handler in _handlers.get(event, ()):
        await handler(ctx, **payload)


async def emit_many(ctx: Ctx, event: str, name: str, items: list[Any]) -> None:
    """The event for each of many items (an import's batch), as ``emit`` would announce them one by one.
    A handler with a ``many`` attribute takes the whole list at once (one query for the batch rather than
    one per item); the others are called per item."""
    for handler in _handlers.get(event, ()):
        many = getattr(handler, "many", None)
        if many is not None:
            await many(ctx, items)
        else:
            for item in items:
                await handler(ctx, **{name: item})
