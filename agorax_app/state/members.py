"""The board's members dialog: everyone sees who is in the project; owners add, re-role and remove."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import reflex as rx
from pydantic import ValidationError

from agorax_app.backend_calls import call_service
from agorax_app.ids import browser_id
from agorax_app.state.auth import SESSION_EXPIRED
from agorax_app.state.board import BoardState
from backend.db.models import Role
from backend.schemas import MemberCreate, MemberUpdate
from backend.services import members
from backend.services.errors import DomainError

ROLES = [role.value for role in Role]


@dataclass
class MemberRow:
    user_id: int
    username: str
    display_name: str
    role: str


class MembersState(BoardState):
    members: list[MemberRow] = []
    members_error: str = ""

    @rx.var
    def is_owner(self) -> bool:
        return self.role == Role.owner.value

    @rx.event
    async def dialog_toggled(self, is_open: bool):
        if is_open:
            await self.load_members()

    async def load_members(self) -> None:
        user_id = self.current_user_id()
        if user_id is None or not self.board_id:
            return
        self.members_error = ""
        try:
            found = await call_service(members.list_members, user_id=user_id, project_id=self.board_id)
        except DomainError as exc:
            self.members_error = exc.detail
            return
        self.members = [
            MemberRow(user_id=m.user_id, username=m.username, display_name=m.display_name, role=m.role.value)
            for m in found
        ]

    async def _change(self, service: Callable[..., object], **kwargs: object) -> None:
        user_id = self.current_user_id()
        if user_id is None:
            self.members_error = SESSION_EXPIRED
            return
        self.members_error = ""
        try:
            await call_service(service, user_id=user_id, project_id=self.board_id, **kwargs)
        except DomainError as exc:
            self.members_error = exc.detail
            return
        except ValidationError:
            self.members_error = "Give a username and one of the roles owner, editor or viewer"
            return
        await self.load_members()

    @rx.event
    async def add_member(self, form: dict[str, str]):
        try:
            data = MemberCreate(username=form.get("username", ""), role=form.get("role") or Role.editor)
        except ValidationError:
            self.members_error = "Give the username of someone who has signed up"
            return
        await self._change(members.add_member, data=data)

    # The member's id comes from the browser: a crafted event can make it anything JSON can carry.

    @rx.event
    async def set_role(self, member_user_id: int, role: str):
        member = browser_id(member_user_id)
        if member is None or role not in ROLES:
            return
        await self._change(members.change_role, member_user_id=member, data=MemberUpdate(role=role))

    @rx.event
    async def remove(self, member_user_id: int):
        member = browser_id(member_user_id)
        if member is not None:
            await self._change(members.remove_member, member_user_id=member)
