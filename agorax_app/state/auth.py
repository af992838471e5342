"""Signing up, in and out. The access token lives in the browser's localStorage, so a websocket reconnect,
a new tab or a restarted backend keeps the user signed in."""

from __future__ import annotations

import reflex as rx
from pydantic import ValidationError
from reflex.event import EventSpec

from agorax_app.backend_calls import call_service
from agorax_app.errors import invalid_input
from backend.config import get_settings
from backend.schemas import UserCreate
from backend.security import PASSWORD_MAX_BYTES, active_session
from backend.services import users
from backend.services.errors import DomainError

SESSION_EXPIRED = "Your session expired: sign in again. Nothing was changed."


# Sign-up rules said the way a person reads them, instead of pydantic's wording (a regex, for one).
_SIGN_UP_RULES = {
    "username": "Usernames have 3 to 40 characters: letters, digits, dots, dashes or underscores",
    "email": "That does not look like an email address",
}


def _sign_up_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    if tuple(error["loc"]) == ("password",) and "bytes" in error["msg"]:
        return f"Password is too long: at most {PASSWORD_MAX_BYTES} characters, fewer with accents or emoji"
    return invalid_input(exc, rules=_SIGN_UP_RULES)


class AuthState(rx.State):
    access_token: str = rx.LocalStorage("", name="agorax_token", sync=True)
    username: str = ""
    display_name: str = ""
    auth_error: str = ""
    busy: bool = False

    def current_user_id(self) -> int | None:
        """The signed-in user's id, from the token in the browser (checked on every call, and renewed once
        half its lifetime has passed, so that a board left open stays signed in while it is used)."""
        if not self.access_token:
            return None
        session = active_session(self.access_token, settings=get_settings())
        if session is None:
            return None
        if session.token != self.access_token:
            self.access_token = session.token
        return session.user_id

    def session_expired(self) -> list[EventSpec]:
        """The answer to a change made after the token stopped verifying: say so, and go to sign-in."""
        self.access_token = ""
        return [rx.toast.warning(SESSION_EXPIRED, duration=8000), rx.redirect("/login")]

    @rx.event
    async def require_sign_in(self):
        """on_load of every signed-in page: go to the sign-in page unless the token still verifies."""
        user_id = self.current_user_id()
        user = await call_service(users.get_user, user_id=user_id) if user_id is not None else None
        if user is None:
            self.access_token = ""
            return rx.redirect("/login")
        self.username, self.display_name = user.username, user.display_name
        return None

    @rx.event
    async def redirect_if_signed_in(self):
        if self.current_user_id() is not None:
            return rx.redirect("/")
        return None

    async def _issue_token(self, *, username: str, password: str) -> bool:
        try:
            token = await call_service(
                users.issue_token,
                username=username,
                password=password,
                settings=get_settings(),
                client_address=self.router.session.client_ip or None,
            )
        except DomainError as exc:
            self.auth_error = exc.detail
            return False
        self.access_token = token.access_token
        return True

    @rx.event
    async def sign_in(self, form: dict[str, str]):
        self.auth_error = ""
        self.busy = True
        yield
        signed_in = await self._issue_token(
            username=form.get("username", ""), password=form.get("password", "")
        )
        self.busy = False
        if signed_in:
            yield rx.redirect("/")

    @rx.event
    async def sign_up(self, form: dict[str, str]):
        self.auth_error = ""
        try:
            data = UserCreate(
                username=form.get("username", ""),
                email=form.get("email", ""),
                password=form.get("password", ""),
                display_name=form.get("display_name") or None,
            )
        except ValidationError as exc:
            self.auth_error = _sign_up_problem(exc)
            return
        self.busy = True
        yield
        try:
            await call_service(users.register_user, data=data)
        except DomainError as exc:
            self.auth_error = exc.detail
            self.busy = False
            return
        signed_in = await self._issue_token(username=data.username, password=data.password)
        self.busy = False
        if signed_in:
            yield rx.redirect("/")

    @rx.event
    def clear_auth_error(self, _tab: str):
        self.auth_error = ""

    @rx.event
    def sign_out(self):
        self.access_token = ""
        self.username = ""
        return rx.redirect("/login")
