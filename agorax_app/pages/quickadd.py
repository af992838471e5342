"""The quick-add box above the board."""

from __future__ import annotations

import reflex as rx

from agorax_app.state.quickadd import Chip, QuickAddState

CHIP_COLOURS = {"due": "orange", "priority": "red", "label": "indigo", "assignee": "green", "repeat": "gray"}


def _chip(chip: Chip) -> rx.Component:
    return rx.badge(
        rx.match(
            chip.kind,
            ("due", rx.icon("calendar", size=12)),
            ("assignee", rx.icon("user", size=12)),
            ("repeat", rx.icon("repeat", size=12)),
            ("label", rx.icon("tag", size=12)),
            rx.fragment(),
        ),
        chip.text,
        color_scheme=rx.match(chip.kind, *CHIP_COLOURS.items(), "gray"),
        variant="soft",
        custom_attrs={"data-chip": chip.kind},
    )


def _suggestion(title: str) -> rx.Component:
    return rx.button(
        title,
        on_click=QuickAddState.pick_suggestion(title),
        variant="ghost",
        size="1",
        type="button",
        custom_attrs={"data-suggestion": title},
    )


def quick_add_box() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.input(
                name="quick",
                value=QuickAddState.quick_text,
                on_change=QuickAddState.type_quick.debounce(150),
                placeholder="Quick add: Review PR tomorrow 5pm !3 *backend @maria",
                max_length=1000,
                width="560px",
                max_width="100%",
                size="2",
                auto_complete="off",
                custom_attrs={"aria-label": "Quick add"},
            ),
            on_submit=QuickAddState.submit_quick,
        ),
        rx.cond(
            QuickAddState.quick_text != "",
            rx.hstack(
                rx.text(QuickAddState.understood_title, size="2", weight="medium", id="quick-title"),
                rx.foreach(QuickAddState.chips, _chip),
                rx.cond(
                    QuickAddState.answered_by == "local",
                    rx.tooltip(
                        rx.text("local", size="1", color_scheme="gray", id="quick-local"),
                        content="Understood by Agorax's own engine (Gemini is not in use right now)",
                    ),
                ),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
        ),
        rx.cond(
            QuickAddState.suggestions.length() > 0,
            rx.hstack(
                rx.text("Similar:", size="1", color_scheme="gray"),
                rx.foreach(QuickAddState.suggestions, _suggestion),
                spacing="1",
                wrap="wrap",
            ),
        ),
        spacing="1",
        padding_bottom="12px",
    )
