"""The card dialog: a card's details, description (Markdown) and comments; editable by editors and owners."""

from __future__ import annotations

import reflex as rx

from agorax_app.card_model import NO_ASSIGNEE, PRIORITY_CHOICES
from agorax_app.state.card import CardState, CommentView

_PRIORITY_NAMES = {"none": "None", "1": "1 · low", "2": "2", "3": "3", "4": "4", "5": "5 · do now"}


def _field(label: str, value: rx.Component, field_id: str) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label, min_width="96px"),
        rx.data_list.value(value, id=field_id),
        align="center",
    )


def _none(text: str = "—") -> rx.Component:
    return rx.text(text, color_scheme="gray", size="2")


def _details() -> rx.Component:
    card = CardState.card
    return rx.vstack(
        rx.data_list.root(
            _field("Column", rx.text(card.column, size="2"), "card-column"),
            _field(
                "Due",
                rx.cond(
                    card.due != "",
                    rx.badge(
                        rx.icon("calendar", size=12),
                        card.due,
                        rx.cond(card.overdue, " · overdue", ""),
                        color_scheme=rx.cond(card.overdue, "red", "gray"),
                        variant=rx.cond(card.overdue, "solid", "soft"),
                    ),
                    _none("No due date"),
                ),
                "card-due",
            ),
            _field(
                "Priority",
                rx.cond(
                    card.priority > 0,
                    rx.badge(
                        "!",
                        card.priority,
                        color_scheme=rx.cond(
                            card.priority >= 4, "red", rx.cond(card.priority == 3, "amber", "gray")
                        ),
                    ),
                    _none("None"),
                ),
                "card-priority",
            ),
            _field(
                "Labels",
                rx.cond(
                    card.labels.length() > 0,
                    rx.hstack(
                        rx.foreach(card.labels, lambda label: rx.badge(label, variant="soft")),
                        wrap="wrap",
                        spacing="1",
                    ),
                    _none("None"),
                ),
                "card-labels",
            ),
            _field(
                "Assignee",
                rx.cond(card.assignee != "", rx.text(card.assignee, size="2"), _none("Nobody")),
                "card-assignee",
            ),
            _field("Created by", rx.text(card.creator, size="2"), "card-creator"),
            size="2",
            gap="2",
        ),
        rx.heading("Description", size="3", margin_top="8px"),
        rx.cond(
            card.description != "",
            rx.box(
                rx.markdown(card.description, use_raw=False, use_math=False, use_katex=False),
                id="card-description",
                width="100%",
                padding="4px 12px",
                border_radius="8px",
                background="var(--gray-2)",
                border="1px solid var(--gray-4)",
                max_height="40vh",
                overflow_y="auto",
                class_name="card-description",
            ),
            rx.text("No description", color_scheme="gray", size="2", id="card-description"),
        ),
        spacing="2",
        width="100%",
    )


def _select(name: str, label: str, items: rx.Component, default: rx.Var | str) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(custom_attrs={"aria-label": label}, width="100%"),
        rx.select.content(items),
        name=name,
        default_value=default,
        size="2",
    )


def _labelled(label: str, control: rx.Component, **props: object) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", weight="medium", color_scheme="gray"), control, spacing="1", **props
    )


def _edit_form() -> rx.Component:
    draft = CardState.draft
    return rx.form(
        rx.vstack(
            _labelled(
                "Title",
                rx.input(name="title", default_value=draft.title, max_length=500, width="100%"),
                width="100%",
            ),
            _labelled(
                "Description (Markdown; - [ ] makes a checklist)",
                rx.text_area(
                    name="description",
                    default_value=draft.description,
                    rows="8",
                    width="100%",
                    resize="vertical",
                    custom_attrs={"aria-label": "Description"},
                ),
                width="100%",
            ),
            rx.hstack(
                _labelled(
                    "Due date",
                    rx.input(type="date", name="due_date", default_value=draft.due_date, id="card-due-date"),
                ),
                _labelled(
                    "Time",
                    rx.input(type="time", name="due_time", default_value=draft.due_time, id="card-due-time"),
                ),
                rx.button(
                    "No due date",
                    type="button",
                    variant="soft",
                    color_scheme="gray",
                    size="2",
                    on_click=[rx.set_value("card-due-date", ""), rx.set_value("card-due-time", "")],
                ),
                align="end",
                spacing="3",
                wrap="wrap",
            ),
            rx.grid(
                _labelled(
                    "Priority",
                    _select(
                        "priority",
                        "Priority",
                        rx.fragment(
                            *[
                                rx.select.item(_PRIORITY_NAMES[value], value=value)
                                for value in PRIORITY_CHOICES
                            ]
                        ),
                        draft.priority,
                    ),
                ),
                _labelled(
                    "Assignee",
                    _select(
                        "assignee",
                        "Assignee",
                        rx.fragment(
                            rx.select.item("Nobody", value=NO_ASSIGNEE),
                            rx.foreach(
                                CardState.member_choices,
                                lambda member: rx.select.item(member.label, value=member.value),
                            ),
                        ),
                        draft.assignee,
                    ),
                ),
                columns="2",
                spacing="3",
                width="100%",
            ),
            _labelled(
                "Labels (comma separated)",
                rx.input(name="labels", default_value=draft.labels, width="100%", placeholder="bug, backend"),
                width="100%",
            ),
            rx.cond(
                CardState.card_stale,
                rx.callout(
                    "Someone else changed this card meanwhile: saving will be refused. Cancel to see it.",
                    icon="triangle-alert",
                    color_scheme="amber",
                    size="1",
                    id="card-stale",
                ),
            ),
            rx.hstack(
                rx.button(
                    "Cancel",
                    type="button",
                    variant="soft",
                    color_scheme="gray",
                    on_click=CardState.cancel_card_edit,
                ),
                rx.button("Save", type="submit", id="save-card"),
                justify="end",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=CardState.save_card,
        reset_on_submit=False,
        key=CardState.form_key,
        width="100%",
    )


def _comment(comment: CommentView) -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.text(comment.author, weight="medium", size="2"),
            rx.text(comment.when, color_scheme="gray", size="1"),
            align="baseline",
            spacing="2",
        ),
        # Markdown, as in the description (and as Trello's comments, which the import keeps).
        rx.box(
            rx.markdown(comment.body, use_raw=False, use_math=False, use_katex=False),
            class_name="comment-body",
            font_size="var(--font-size-2)",
            word_break="break-word",
        ),
        width="100%",
        padding="8px 12px",
        border_radius="8px",
        background="var(--gray-2)",
        border="1px solid var(--gray-4)",
        key=comment.id,
        custom_attrs={"data-comment": comment.body},
    )


def _comments() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Comments", size="3"),
            rx.badge(CardState.comments.length(), variant="surface", radius="full"),
            align="center",
            spacing="2",
        ),
        rx.cond(
            CardState.comments.length() > 0,
            rx.vstack(
                rx.foreach(CardState.comments, _comment), spacing="2", width="100%", id="card-comments"
            ),
            rx.cond(
                ~CardState.card_loading,
                rx.text("No comments yet", color_scheme="gray", size="2"),
            ),
        ),
        rx.cond(
            CardState.can_edit,
            rx.form(
                rx.vstack(
                    rx.text_area(
                        name="body",
                        id="card-comment",
                        placeholder="Write a comment…",
                        rows="2",
                        width="100%",
                        max_length=10_000,
                        custom_attrs={"aria-label": "New comment"},
                    ),
                    rx.button("Comment", type="submit", size="2", id="add-comment"),
                    align="end",
                    spacing="2",
                    width="100%",
                ),
                on_submit=CardState.add_comment,
                reset_on_submit=False,
                width="100%",
            ),
        ),
        spacing="2",
        width="100%",
    )


def card_dialog() -> rx.Component:
    card = CardState.card
    return rx.dialog.root(
        rx.dialog.content(
            rx.vstack(
                rx.hstack(
                    rx.dialog.title(
                        card.title, id="card-title", size="5", margin="0", word_break="break-word"
                    ),
                    rx.spacer(),
                    rx.dialog.close(
                        rx.icon_button(
                            rx.icon("x", size=16),
                            variant="ghost",
                            color_scheme="gray",
                            custom_attrs={"aria-label": "Close card"},
                        )
                    ),
                    width="100%",
                    align="start",
                ),
                rx.dialog.description(
                    rx.text(
                        rx.cond(
                            CardState.can_edit,
                            "Card details",
                            "Card details · read-only: you are a viewer of this board",
                        ),
                        size="2",
                        color_scheme="gray",
                    ),
                    as_child=True,
                    margin_top="-8px",
                ),
                rx.cond(
                    CardState.card_error != "",
                    rx.callout(
                        CardState.card_error,
                        icon="circle-alert",
                        color_scheme="red",
                        size="1",
                        id="card-error",
                    ),
                ),
                rx.cond(CardState.card_editing, _edit_form(), _details()),
                rx.cond(
                    CardState.can_edit & ~CardState.card_editing,
                    rx.button(
                        rx.icon("pencil", size=14),
                        "Edit",
                        on_click=CardState.start_card_edit,
                        variant="soft",
                        size="2",
                        id="edit-card",
                        disabled=CardState.card_loading,
                    ),
                ),
                rx.separator(size="4"),
                _comments(),
                spacing="3",
                width="100%",
            ),
            max_width="640px",
            id="card-dialog",
        ),
        open=CardState.card_open,
        on_open_change=CardState.card_dialog_toggled,
    )


def card_notice() -> rx.Component:
    return rx.cond(
        CardState.card_notice != "",
        rx.callout(
            rx.hstack(
                rx.text(CardState.card_notice),
                rx.button("OK", size="1", variant="soft", on_click=CardState.dismiss_card_notice),
                align="center",
                spacing="3",
            ),
            icon="info",
            color_scheme="amber",
            size="1",
            id="card-notice",
        ),
    )
