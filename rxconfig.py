import os

import reflex as rx

from backend.config import get_settings

config = rx.Config(
    app_name="agorax_app",
    # Several web processes share session state through Redis (REFLEX_REDIS_URL); without it, in memory.
    redis_url=os.environ.get("REFLEX_REDIS_URL") or None,
    # Reflex wraps the mounted API and the websocket in its own CORS layer: the same origins as the API.
    cors_allowed_origins=get_settings().cors_origins,
    plugins=[
        rx.plugins.TailwindV4Plugin(),
        rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium")),
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
    telemetry_enabled=False,
    show_built_with_reflex=False,
)
