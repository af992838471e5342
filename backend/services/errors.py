"""Domain errors raised by services; the API layer maps each to its HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """The resource does not exist, or the caller may not know that it does."""


class Forbidden(DomainError):
    """The caller is a member but their role does not allow this action."""


class Conflict(DomainError):
    """The request clashes with the current state (taken name, stale version, last owner)."""

    def __init__(self, detail: str, *, current: Any = None) -> None:
        super().__init__(detail)
        self.current = current


class InvalidCredentials(DomainError):
    """Wrong username or password, or a token that does not authenticate anyone."""


class InvalidInput(DomainError):
    """Input that passed schema validation but makes no sense against the stored data."""


class TooManyAttempts(DomainError):
    """Too many failed sign-ins for this username or from this address; try again after `retry_after`
    seconds."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
