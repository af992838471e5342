"""Small shared pieces of UI."""

from __future__ import annotations

import reflex as rx

from agorax_app.state.auth import AuthState


def top_bar(*children: rx.Component) -> rx.Component:
    return rx.hstack(
        rx.link(rx.heading("Agorax", size="5"), href="/", underline="none"),
        *children,
        rx.spacer(),
        rx.text(AuthState.display_name, color_scheme="gray", size="2", id="signed-in-as"),
        rx.button("Sign out", on_click=AuthState.sign_out, variant="soft", size="1"),
        align="center",
        width="100%",
        padding="12px 20px",
        border_bottom="1px solid var(--gray-5)",
        wrap="wrap",
        flex_shrink="0",
        id="top-bar",
    )
