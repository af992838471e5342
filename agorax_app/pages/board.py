"""A project's board: columns of cards, live."""

from __future__ import annotations

from typing import Any

import reflex as rx

from agorax_app.components import top_bar
from agorax_app.pages.card import card_dialog, card_notice
from agorax_app.pages.members import members_dialog
from agorax_app.pages.quickadd import quick_add_box
from agorax_app.state.board import BoardState, CardView, ColumnView
from agorax_app.state.card import CardState


def _move_menu(card: CardView, column: ColumnView) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(
            placeholder="Move to…",
            variant="ghost",
            max_width="170px",  # a long column name is cut short rather than push the card's buttons out
            custom_attrs={"aria-label": "Move card"},
        ),
        rx.select.content(
            rx.foreach(
                BoardState.columns,
                lambda target: rx.select.item(target.name, value=target.id.to_string()),
            )
        ),
        value=column.id.to_string(),
        on_change=lambda value: BoardState.move_card(card.id, value),
        size="1",
    )


def _inline_editor(
    *, value: rx.Var, on_change: Any, save: Any, cancel: Any, label: str, **props: Any
) -> rx.Component:
    """A name edited in place: Enter or leaving the field saves, Escape cancels."""
    return rx.input(
        value=value,
        on_change=on_change,
        on_blur=save,
        on_key_down=lambda key: rx.cond(
            key == "Enter", save(), rx.cond(key == "Escape", cancel(), rx.noop())
        ),
        auto_focus=True,
        size="2",
        custom_attrs={"aria-label": label},
        **props,
    )


def _card_title(card: CardView) -> rx.Component:
    return rx.cond(
        BoardState.editing_id == card.id,
        _inline_editor(
            value=BoardState.edit_text,
            on_change=BoardState.set_edit_text,
            save=BoardState.save_edit,
            cancel=BoardState.cancel_edit,
            label="Card title",
            width="100%",
        ),
        # A click opens the card's dialog (renaming: the pencil, or the dialog's Edit).
        rx.text(
            card.title,
            size="2",
            weight="medium",
            on_click=CardState.open_card(card.id),
            class_name="card-title",
            cursor="pointer",
            _hover={"color": "var(--accent-11)"},
            style={
                "word_break": "break-word",
                "display": "-webkit-box",
                "-webkit-line-clamp": "6",
                "-webkit-box-orient": "vertical",
                "overflow": "hidden",
            },
            title=card.title,
        ),
    )


def _label(label: str) -> rx.Component:
    # A long label is cut with an ellipsis inside the card (its whole text in the tooltip).
    return rx.badge(
        label,
        variant="soft",
        size="1",
        title=label,
        display="inline-block",
        max_width="100%",
        overflow="hidden",
        text_overflow="ellipsis",
        white_space="nowrap",
    )


def _card(card: CardView, column: ColumnView) -> rx.Component:
    return rx.card(
        rx.vstack(
            _card_title(card),
            rx.hstack(
                rx.foreach(card.labels, _label),
                rx.cond(
                    card.due != "",
                    rx.badge(
                        rx.icon("calendar", size=12),
                        card.due,
                        # Past due and not in a done column: it stands out.
                        color_scheme=rx.cond(card.overdue, "red", "orange"),
                        variant=rx.cond(card.overdue, "solid", "soft"),
                        title=rx.cond(card.overdue, "Overdue", "Due"),
                        custom_attrs={"data-overdue": rx.cond(card.overdue, "true", "false")},
                        class_name="card-due",
                    ),
                ),
                rx.cond(
                    card.priority > 0,
                    rx.badge(
                        "!",
                        card.priority,
                        color_scheme=rx.cond(
                            card.priority >= 4, "red", rx.cond(card.priority == 3, "amber", "gray")
                        ),
                        title="Priority " + card.priority.to_string() + " of 5",
                    ),
                ),
                wrap="wrap",
                spacing="1",
            ),
            rx.cond(
                BoardState.can_edit,
                rx.hstack(
                    _move_menu(card, column),
                    rx.spacer(),
                    rx.icon_button(
                        rx.icon("pencil", size=14),
                        on_click=BoardState.start_edit(card.id, card.title),
                        variant="ghost",
                        size="1",
                        custom_attrs={"aria-label": "Edit title"},
                    ),
                    rx.cond(
                        BoardState.confirming_delete_id == card.id,
                        # A second, explicit click: a card is never deleted by one slip of the mouse.
                        rx.hstack(
                            rx.button(
                                "Delete",
                                on_click=BoardState.delete_card(card.id),
                                color_scheme="red",
                                size="1",
                                custom_attrs={"aria-label": "Confirm delete"},
                            ),
                            rx.button(
                                "Keep",
                                on_click=BoardState.cancel_delete,
                                variant="soft",
                                color_scheme="gray",
                                size="1",
                            ),
                            spacing="1",
                        ),
                        rx.icon_button(
                            rx.icon("trash-2", size=14),
                            on_click=BoardState.ask_delete(card.id),
                            variant="ghost",
                            color_scheme="red",
                            size="1",
                            custom_attrs={"aria-label": "Delete card"},
                        ),
                    ),
                    width="100%",
                    align="center",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        flex_shrink="0",  # inside a scrolling column a card keeps its height
        key=card.id,  # React keeps a moved card's identity instead of re-rendering by index
        id="card-" + card.id.to_string(),
        custom_attrs={"data-card-title": card.title},
    )


def _add_card_form(column: ColumnView) -> rx.Component:
    # The column travels as a form field: a handler argument taken from the foreach item would be
    # compiled outside the loop that defines it.
    return rx.form(
        rx.el.input(type="hidden", name="column_id", value=column.id),
        rx.input(
            name="title",
            placeholder="Add a card…",
            size="2",
            width="100%",
            max_length=500,
            custom_attrs={"aria-label": "New card title"},
        ),
        on_submit=BoardState.add_card,
        reset_on_submit=True,
        width="100%",
    )


def _column_menu(column: ColumnView) -> rx.Component:
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(
            rx.icon_button(
                rx.icon("ellipsis", size=16),
                variant="ghost",
                color_scheme="gray",
                size="1",
                custom_attrs={"aria-label": "Column actions"},
            )
        ),
        rx.dropdown_menu.content(
            rx.dropdown_menu.item("Rename", on_select=BoardState.start_column_rename(column.id, column.name)),
            rx.dropdown_menu.item(
                rx.cond(column.is_done, "Mark as not done", "Mark as done"),
                on_select=BoardState.toggle_column_done(column.id),
            ),
            rx.dropdown_menu.separator(),
            rx.dropdown_menu.item("Move left", on_select=BoardState.move_column(column.id, -1)),
            rx.dropdown_menu.item("Move right", on_select=BoardState.move_column(column.id, 1)),
            rx.dropdown_menu.separator(),
            rx.dropdown_menu.item(
                "Delete column…", color="red", on_select=BoardState.ask_delete_column(column.id)
            ),
            size="1",
        ),
    )


def _column_heading(column: ColumnView) -> rx.Component:
    return rx.cond(
        BoardState.renaming_column_id == column.id,
        _inline_editor(
            value=BoardState.column_name_text,
            on_change=BoardState.set_column_name_text,
            save=BoardState.save_column_rename,
            cancel=BoardState.cancel_column_rename,
            label="Column name",
            max_length=200,
            flex="1",
        ),
        rx.heading(
            column.name,
            size="3",
            class_name="column-name",
            on_double_click=BoardState.start_column_rename(column.id, column.name),
            word_break="break-word",
        ),
    )


def _column_header(column: ColumnView) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            _column_heading(column),
            rx.badge(column.cards.length(), variant="surface", radius="full"),
            rx.cond(
                column.is_done,
                rx.icon("circle-check", size=16, color="var(--green-9)", class_name="column-done"),
            ),
            rx.spacer(),
            rx.cond(BoardState.can_edit, _column_menu(column)),
            align="center",
            spacing="2",
            width="100%",
        ),
        rx.cond(
            BoardState.confirming_column_delete_id == column.id,
            # A second, explicit click, as for cards.
            rx.hstack(
                rx.text("Delete this column?", size="1"),
                rx.spacer(),
                rx.button(
                    "Delete",
                    on_click=BoardState.delete_column(column.id),
                    color_scheme="red",
                    size="1",
                    custom_attrs={"aria-label": "Confirm column delete"},
                ),
                rx.button(
                    "Keep",
                    on_click=BoardState.cancel_delete_column,
                    variant="soft",
                    color_scheme="gray",
                    size="1",
                ),
                align="center",
                spacing="1",
                width="100%",
            ),
        ),
        spacing="1",
        width="100%",
    )


def _add_column_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                name="name",
                placeholder="Add a column…",
                size="2",
                max_length=200,
                flex="1",
                custom_attrs={"aria-label": "New column name"},
            ),
            rx.icon_button(rx.icon("plus", size=16), type="submit", size="2", variant="soft"),
            spacing="2",
            width="100%",
        ),
        on_submit=BoardState.add_column,
        reset_on_submit=True,
        width="260px",
        min_width="260px",
        padding="12px",
        background="var(--gray-2)",
        border="1px dashed var(--gray-6)",
        border_radius="10px",
        flex_shrink="0",
    )


def _column(column: ColumnView) -> rx.Component:
    return rx.vstack(
        _column_header(column),
        # The cards scroll inside their column, so its heading and the add box stay in reach.
        rx.vstack(
            rx.foreach(column.cards, lambda card: _card(card, column)),
            spacing="2",
            width="100%",
            overflow_y="auto",
            min_height="0",
            flex="1",
            padding="2px",
        ),
        rx.cond(BoardState.can_edit, _add_card_form(column)),
        width="280px",
        min_width="280px",
        max_height="100%",
        padding="12px",
        spacing="2",
        background="var(--gray-3)",
        border_radius="10px",
        align_self="flex-start",
        key=column.id,
        custom_attrs={"data-column-name": column.name},
        id="column-" + column.id.to_string(),
    )


def _closed_notice() -> rx.Component:
    return rx.center(
        rx.callout(
            rx.vstack(
                rx.text(BoardState.closed_reason, weight="bold"),
                rx.link("Back to your projects", href="/"),
            ),
            icon="info",
            color_scheme="amber",
            id="board-closed",
        ),
        padding="48px",
    )


def board_page() -> rx.Component:
    return rx.box(
        top_bar(
            # A board the user may not open has no name to show: then no "/" either.
            rx.cond(
                BoardState.board_name != "",
                rx.fragment(
                    rx.text("/", color_scheme="gray"),
                    rx.heading(BoardState.board_name, size="4", id="board-name"),
                ),
            ),
            rx.cond(
                (BoardState.role != "") & (BoardState.closed_reason == ""),
                rx.badge(BoardState.role, variant="soft", id="board-role"),
            ),
            rx.cond(
                (BoardState.role == "viewer") & (BoardState.closed_reason == ""),
                rx.text("read-only", size="1", color_scheme="gray"),
            ),
            rx.cond(BoardState.closed_reason == "", members_dialog()),
        ),
        rx.cond(
            BoardState.closed_reason != "",
            _closed_notice(),
            rx.box(
                rx.cond(
                    BoardState.notice != "",
                    rx.callout(
                        BoardState.notice, icon="info", color_scheme="amber", id="board-notice", size="1"
                    ),
                ),
                rx.cond(
                    BoardState.board_id.to_string() == BoardState.project_id,
                    rx.el.span(id="board-ready", display="none"),
                ),
                card_notice(),
                rx.cond(BoardState.can_edit, quick_add_box()),
                # The board scrolls sideways under a header that stays; each column scrolls down.
                rx.hstack(
                    rx.foreach(BoardState.columns, _column),
                    rx.cond(BoardState.can_edit, _add_column_form()),
                    spacing="4",
                    align="start",
                    overflow_x="auto",
                    flex="1",
                    min_height="0",
                    padding_bottom="8px",
                ),
                display="flex",
                flex_direction="column",
                flex="1",
                min_height="0",
                padding="20px",
            ),
        ),
        card_dialog(),
        display="flex",
        flex_direction="column",
        height="100vh",
    )
