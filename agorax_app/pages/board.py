"""A project's board: columns of cards, live."""

from __future__ import annotations

import reflex as rx

from agorax_app.components import top_bar
from agorax_app.pages.members import members_dialog
from agorax_app.pages.quickadd import quick_add_box
from agorax_app.state.board import BoardState, CardView, ColumnView


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


def _card_title(card: CardView) -> rx.Component:
    return rx.cond(
        BoardState.editing_id == card.id,
        rx.input(
            value=BoardState.edit_text,
            on_change=BoardState.set_edit_text,
            on_blur=BoardState.save_edit,
            on_key_down=lambda key: rx.cond(
                key == "Enter",
                BoardState.save_edit(),
                rx.cond(key == "Escape", BoardState.cancel_edit(), rx.noop()),
            ),
            auto_focus=True,
            size="2",
            width="100%",
            custom_attrs={"aria-label": "Card title"},
        ),
        rx.text(
            card.title,
            size="2",
            weight="medium",
            on_double_click=BoardState.start_edit(card.id, card.title),
            class_name="card-title",
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
                    card.due != "", rx.badge(rx.icon("calendar", size=12), card.due, color_scheme="orange")
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


def _column(column: ColumnView) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading(column.name, size="3"),
            rx.badge(column.cards.length(), variant="surface", radius="full"),
            rx.cond(column.is_done, rx.icon("circle-check", size=16, color="var(--green-9)")),
            align="center",
            spacing="2",
        ),
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
            rx.text("/", color_scheme="gray"),
            rx.heading(BoardState.board_name, size="4", id="board-name"),
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
                rx.cond(BoardState.can_edit, quick_add_box()),
                # The board scrolls sideways under a header that stays; each column scrolls down.
                rx.hstack(
                    rx.foreach(BoardState.columns, _column),
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
        display="flex",
        flex_direction="column",
        height="100vh",
    )
