"""Fan-out inside one web process: events from the feed are pushed into the Reflex state of each session
on THIS process that is viewing the event's project (every web process subscribes; each pushes only to
the sockets it holds)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import reflex as rx
import structlog

from backend.config import get_settings
from backend.events.bus import Envelope
from backend.events.redis_feed import RedisFeed

if TYPE_CHECKING:
    from agorax_app.state.board import BoardState

log = structlog.get_logger(__name__)

# project id → client tokens of the sessions on this process that have that board open.
_viewers: dict[int, set[str]] = defaultdict(set)
_watching: dict[str, int] = {}


def watch(token: str, project_id: int) -> None:
    unwatch(token)
    _viewers[project_id].add(token)
    _watching[token] = project_id


def unwatch(token: str) -> None:
    project_id = _watching.pop(token, None)
    if project_id is not None:
        _viewers[project_id].discard(token)
        if not _viewers[project_id]:
            del _viewers[project_id]


def _local_tokens(app: rx.App) -> set[str]:
    """Tokens whose websocket this process holds. With the Redis token manager `token_to_sid` may also
    list other processes' sockets, so filter by this process's instance id."""
    namespace = app.event_namespace
    if namespace is None:
        return set()
    manager = namespace._token_manager
    sockets = getattr(manager, "token_to_socket", None)
    if sockets is None:
        return set(namespace.token_to_sid)
    return {token for token, record in sockets.items() if record.instance_id == manager.instance_id}


async def push_to_viewers(app: rx.App, envelope: Envelope, board_state: type[BoardState]) -> None:
    project_id = envelope.get("project_id")
    tokens = _viewers.get(project_id) if isinstance(project_id, int) else None
    if not tokens:
        return
    local = _local_tokens(app)
    for token in list(tokens):
        if token not in local:  # the tab closed or moved to another process
            unwatch(token)
            continue
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=board_state)) as root:
            board = await root.get_state(board_state)
            if board.board_id == project_id:
                await board.apply_events([envelope])


async def catch_up_viewers(app: rx.App, board_state: type[BoardState]) -> None:
    """Every open board on this process fetches the events it missed (after the feed was away)."""
    local = _local_tokens(app)
    for token in [token for tokens in _viewers.values() for token in tokens]:
        if token not in local:
            unwatch(token)
            continue
        try:
            async with app.modify_state(rx.BaseStateToken(ident=token, cls=board_state)) as root:
                board = await root.get_state(board_state)
                await board.catch_up()
        except Exception:
            log.exception("fanout_catch_up_failed")


async def relay_events_to_sessions(app: rx.App, board_state: type[BoardState]) -> None:
    """Lifespan task: the Redis feed → the sessions on this process."""
    feed = RedisFeed(get_settings().redis_url)

    async def on_resubscribed() -> None:
        log.info("fanout_resubscribed", viewers=len(_watching))
        await catch_up_viewers(app, board_state)

    async for envelope in feed.listen(on_resubscribed=on_resubscribed):
        try:
            await push_to_viewers(app, envelope, board_state)
        except Exception:  # one bad session must not stop the feed for everyone else
            log.exception("fanout_push_failed", project_id=envelope.get("project_id"))
