"""The members dialog on a board."""

from __future__ import annotations

import reflex as rx

from agorax_app.state.members import ROLES, MemberRow, MembersState


def _member_row(member: MemberRow) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.text(member.display_name, weight="medium", size="2"),
            rx.text("@", member.username, size="1", color_scheme="gray"),
            spacing="0",
        ),
        rx.spacer(),
        rx.cond(
            MembersState.is_owner,
            rx.hstack(
                rx.select(
                    ROLES,
                    value=member.role,
                    on_change=lambda role: MembersState.set_role(member.user_id, role),
                    size="1",
                ),
                rx.icon_button(
                    rx.icon("user-minus", size=14),
                    on_click=MembersState.remove(member.user_id),
                    variant="ghost",
                    color_scheme="red",
                    size="1",
                    custom_attrs={"aria-label": "Remove member"},
                ),
                align="center",
            ),
            rx.badge(member.role, variant="soft"),
        ),
        width="100%",
        align="center",
        custom_attrs={"data-member": member.username},
    )


def _add_member_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(name="username", placeholder="Username", size="2", required=True, id="member-username"),
            rx.select(ROLES, name="role", default_value="editor", size="2"),
            rx.button("Add", type="submit", size="2", id="add-member"),
        ),
        on_submit=MembersState.add_member,
        reset_on_submit=True,
    )


def members_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.button(rx.icon("users", size=14), "Members", variant="soft", size="1", id="open-members")
        ),
        rx.dialog.content(
            rx.dialog.title("Members"),
            rx.vstack(
                rx.foreach(MembersState.members, _member_row),
                rx.cond(MembersState.is_owner, _add_member_form()),
                rx.cond(
                    MembersState.members_error != "",
                    rx.text(MembersState.members_error, color_scheme="red", size="2", id="members-error"),
                ),
                rx.dialog.close(rx.button("Close", variant="soft", size="2")),
                spacing="3",
                width="100%",
            ),
            max_width="460px",
        ),
        on_open_change=MembersState.dialog_toggled,
    )
