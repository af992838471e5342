"""Fan-out inside one web process: events from the feed are pushed into the Reflex state of each session
on THIS process that is viewing the event's project (every web process subscribes; each pushes only to
the sockets it holds). Access is checked at delivery: a viewer who is no longer a member gets nothing
more of the project, and their board closes.

Sessions on the projects page are registered by user id: a membership event reloads the list of the user
it names, a project's rename or deletion the lists that show that project (one reload per user)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import reflex as rx
import structlog

from agorax_app.backend_calls import call_service
from backend.config import get_settings
from backend.events.bus import Envelope
from backend.events.redis_feed import RedisFeed
from backend.services.members import member_roles
from backend.services.projects import list_project_overviews

if TYPE_CHECKING:
    from agorax_app.state.board import BoardState
    from agorax_app.state.projects import ProjectsState

log = structlog.get_logger(__name__)

MEMBERSHIP_EVENTS = frozenset({"member.added", "member.role_changed", "member.removed", "project.deleted"})
MEMBER_EVENTS = frozenset({"member.added", "member.role_changed", "member.removed"})
PROJECT_EVENTS = frozenset({"project.updated", "project.deleted"})
NO_ACCESS = "You are no longer a member of this project"


@dataclass(frozen=True)
class Viewer:
    token: str
    user_id: int


# project id → the sessions on this process that have that board open.
_viewers: dict[int, dict[str, Viewer]] = defaultdict(dict)
_watching: dict[str, int] = {}
# project id → {user id: role}, read from the database for the projects open on this process, and
# dropped whenever membership changes or the last viewer leaves.
_members: dict[int, dict[int, str]] = {}


# Sessions on the projects page: token → user id, and token → the ids of the projects its list shows
# (None while the list loads: such a session is reloaded by any project event, so none is missed).
_list_users: dict[str, int] = {}
_list_shown: dict[str, frozenset[int] | None] = {}


def watch(token: str, project_id: int, user_id: int) -> None:
    unwatch(token)
    _viewers[project_id][token] = Viewer(token=token, user_id=user_id)
    _watching[token] = project_id


def unwatch(token: str) -> None:
    project_id = _watching.pop(token, None)
    if project_id is not None:
        _viewers[project_id].pop(token, None)
        if not _viewers[project_id]:
            del _viewers[project_id]
            _members.pop(project_id, None)


def watch_list(token: str, user_id: int) -> None:
    """The session shows its user's project list (registered before the list is read)."""
    _list_users[token] = user_id
    _list_shown[token] = None


def list_shows(token: str, project_ids: set[int]) -> None:
    if token in _list_users:
        _list_shown[token] = frozenset(project_ids)


def unwatch_list(token: str) -> None:
    _list_users.pop(token, None)
    _list_shown.pop(token, None)


def list_targets(envelope: Envelope) -> dict[int, list[str]]:
    """user id → the projects-page sessions an event changes: the member an event names, or every list
    that shows (or is still loading and may show) the renamed or deleted project."""
    kind, project_id, data = envelope.get("type"), envelope.get("project_id"), envelope.get("data")
    if kind in MEMBER_EVENTS:
        user_id = data.get("user_id") if isinstance(data, dict) else None
        tokens = [token for token, user in _list_users.items() if user == user_id]
    elif kind in PROJECT_EVENTS:
        tokens = [token for token, shown in _list_shown.items() if shown is None or project_id in shown]
    else:
        return {}
    targets: dict[int, list[str]] = defaultdict(list)
    for token in tokens:
        targets[_list_users[token]].append(token)
    return dict(targets)


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


async def _current_members(project_id: int) -> dict[int, str]:
    if project_id not in _members:
        roles = await call_service(member_roles, project_id=project_id)
        _members[project_id] = {user_id: role.value for user_id, role in roles.items()}
    return _members[project_id]


async def _present_viewers(app: rx.App, project_id: int) -> list[Viewer]:
    """The viewers of a project whose sockets this process still holds (forgetting the others)."""
    local = _local_tokens(app)
    present = []
    for viewer in list(_viewers.get(project_id, {}).values()):
        if viewer.token in local:
            present.append(viewer)
        else:  # the tab closed, or its socket moved to another process
            unwatch(viewer.token)
    return present


async def push_to_viewers(app: rx.App, envelope: Envelope, board_state: type[BoardState]) -> None:
    project_id = envelope.get("project_id")
    if not isinstance(project_id, int):
        return
    deleted = envelope.get("type") == "project.deleted"
    if envelope.get("type") in MEMBERSHIP_EVENTS:
        _members.pop(project_id, None)
    viewers = await _present_viewers(app, project_id)
    if not viewers:
        return
    # A deleted project has no members left to read (nor to cache): every viewer gets the event, which
    # closes their board.
    members = {} if deleted else await _current_members(project_id)
    for viewer in viewers:
        try:
            async with app.modify_state(rx.BaseStateToken(ident=viewer.token, cls=board_state)) as root:
                board = await root.get_state(board_state)
                if board.board_id != project_id:
                    continue
                if deleted or viewer.user_id in members:
                    await board.apply_events([envelope])
                else:
                    board.close_for(NO_ACCESS)
        except Exception:  # one viewer's failure must not keep the event from the others
            log.exception("fanout_push_to_viewer_failed", project_id=project_id, user_id=viewer.user_id)


async def catch_up_viewers(app: rx.App, board_state: type[BoardState]) -> None:
    """Every open board on this process fetches the events it missed (after the feed was away)."""
    _members.clear()  # membership may have changed meanwhile
    for project_id in list(_viewers):
        for viewer in await _present_viewers(app, project_id):
            try:
                async with app.modify_state(rx.BaseStateToken(ident=viewer.token, cls=board_state)) as root:
                    board = await root.get_state(board_state)
                    await board.catch_up()
            except Exception:
                log.exception("fanout_catch_up_failed")


async def reload_lists(
    app: rx.App, targets: dict[int, list[str]], projects_state: type[ProjectsState]
) -> None:
    """Read each user's projects once and show them in that user's sessions on this process."""
    local = _local_tokens(app)
    for user_id, tokens in targets.items():
        present = [token for token in tokens if token in local]
        for gone in set(tokens) - set(present):  # the tab closed, or its socket moved to another process
            unwatch_list(gone)
        if not present:
            continue
        try:
            found = await call_service(list_project_overviews, user_id=user_id)
        except Exception:
            log.exception("fanout_list_reload_failed", user_id=user_id)
            continue
        for token in present:
            try:
                async with app.modify_state(rx.BaseStateToken(ident=token, cls=projects_state)) as root:
                    if _list_users.get(token) != user_id:  # left the page (or signed out) meanwhile
                        continue
                    listing = await root.get_state(projects_state)
                    listing.show_projects(found)
                    list_shows(token, {project.id for project in found})
            except Exception:  # one session's failure must not keep the change from the others
                log.exception("fanout_list_push_failed", user_id=user_id)


async def push_to_lists(app: rx.App, envelope: Envelope, projects_state: type[ProjectsState]) -> None:
    targets = list_targets(envelope)
    if targets:
        await reload_lists(app, targets, projects_state)


async def catch_up_lists(app: rx.App, projects_state: type[ProjectsState]) -> None:
    """Every project list on this process is read again (after the feed was away)."""
    targets: dict[int, list[str]] = defaultdict(list)
    for token, user_id in list(_list_users.items()):
        targets[user_id].append(token)
    await reload_lists(app, dict(targets), projects_state)


async def relay_events_to_sessions(
    app: rx.App, board_state: type[BoardState], projects_state: type[ProjectsState]
) -> None:
    """Lifespan task: the Redis feed → the sessions on this process."""
    settings = get_settings()
    feed = RedisFeed(settings.redis_url, namespace=settings.rabbitmq_namespace)

    async def on_resubscribed() -> None:
        log.info("fanout_resubscribed", viewers=len(_watching), lists=len(_list_users))
        await catch_up_viewers(app, board_state)
        await catch_up_lists(app, projects_state)

    async for envelope in feed.listen(on_resubscribed=on_resubscribed):
        try:
            await push_to_viewers(app, envelope, board_state)
        except Exception:  # one bad session must not stop the feed for everyone else
            log.exception("fanout_push_failed", project_id=envelope.get("project_id"))
        try:
            await push_to_lists(app, envelope, projects_state)
        except Exception:
            log.exception("fanout_list_failed", project_id=envelope.get("project_id"))
