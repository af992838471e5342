"""Row ids that arrive from the browser: route arguments, and event arguments that a crafted websocket
message can set to anything JSON can carry."""

from __future__ import annotations

from backend.schemas import ID_MAX

_ID_DIGITS_MAX = len(str(ID_MAX))


def browser_id(value: object) -> int | None:
    """`value` as an id if the API would take it in a path (ASCII digits, 1 to ID_MAX), else None.
    "²".isdigit() is true but int("²") fails, and an id past bigint fails in the database."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > _ID_DIGITS_MAX:
            return None
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 1 <= value <= ID_MAX else None
