"""Sign in and sign up."""

from __future__ import annotations

import reflex as rx

from agorax_app.state.auth import AuthState


def _field(label: str, name: str, kind: str = "text", *, form: str, **props: object) -> rx.Component:
    # A real <label for=...>: screen readers announce it and a click on it focuses the box. Both forms
    # are in the page at once (tabs), so ids carry the form's name; the sign-in ones keep the short ids.
    field_id = f"{name}-input" if form == "sign-in" else f"{form}-{name}-input"
    return rx.vstack(
        rx.el.label(rx.text(label, as_="span", size="2", weight="medium"), html_for=field_id),
        rx.input(name=name, type=kind, id=field_id, width="100%", **props),
        spacing="1",
        width="100%",
    )


def _sign_in_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            _field("Username", "username", form="sign-in", auto_complete="username", required=True),
            _field(
                "Password",
                "password",
                "password",
                form="sign-in",
                auto_complete="current-password",
                required=True,
            ),
            rx.button(
                "Sign in",
                type="submit",
                width="100%",
                loading=AuthState.busy,
                # Until the page is live a click would submit the form natively, credentials in the URL.
                disabled=~rx.State.is_hydrated,
                id="sign-in-button",
            ),
            spacing="3",
        ),
        on_submit=AuthState.sign_in,
    )


def _sign_up_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            _field("Username", "username", form="sign-up", auto_complete="username", required=True),
            _field("Email", "email", "email", form="sign-up", auto_complete="email", required=True),
            _field("Display name (optional)", "display_name", form="sign-up"),
            _field(
                "Password (8 or more characters)",
                "password",
                "password",
                form="sign-up",
                auto_complete="new-password",
            ),
            rx.button(
                "Create account",
                type="submit",
                width="100%",
                loading=AuthState.busy,
                disabled=~rx.State.is_hydrated,
                id="sign-up-button",
            ),
            spacing="3",
        ),
        on_submit=AuthState.sign_up,
    )


def login_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.heading("Agorax", size="7"),
                rx.text("Every change on every teammate's screen at once.", color_scheme="gray", size="2"),
                rx.tabs.root(
                    rx.tabs.list(
                        rx.tabs.trigger("Sign in", value="sign-in", id="tab-sign-in"),
                        rx.tabs.trigger("Sign up", value="sign-up", id="tab-sign-up"),
                    ),
                    rx.tabs.content(_sign_in_form(), value="sign-in", padding_top="16px"),
                    rx.tabs.content(_sign_up_form(), value="sign-up", padding_top="16px"),
                    default_value="sign-in",
                    on_change=AuthState.clear_auth_error,
                    width="100%",
                ),
                rx.cond(
                    AuthState.auth_error != "",
                    rx.callout(
                        AuthState.auth_error, color_scheme="red", icon="triangle_alert", id="auth-error"
                    ),
                ),
                spacing="4",
                width="100%",
            ),
            width="380px",
            padding="24px",
        ),
        min_height="100vh",
        background="var(--gray-2)",
    )
