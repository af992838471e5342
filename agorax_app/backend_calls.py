"""Calling the (synchronous) service layer from Reflex's async handlers without blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from backend.db.session import session_scope

T = TypeVar("T")


def _in_session(service: Callable[..., T], kwargs: dict[str, Any]) -> T:
    with session_scope() as session:
        return service(session, **kwargs)


async def call_service(service: Callable[..., T], /, **kwargs: Any) -> T:
    """Run one service use case (one transaction) in a worker thread."""
    return await asyncio.to_thread(_in_session, service, kwargs)
