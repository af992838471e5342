"""Logs never carry what a failing function held: a traceback names the frames, not their variables."""

from __future__ import annotations

import pytest
import structlog

from backend.logging import configure_logging


def test_a_logged_traceback_shows_no_local_variables(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()

    def sign_in(password: str) -> None:
        raise ValueError("refused")

    secret = "-".join(["hunter2", "secret"])  # built, so that no source line shown quotes it
    try:
        sign_in(password=secret)
    except ValueError:
        structlog.get_logger().exception("sign_in_failed")
    shown = capsys.readouterr().out
    assert "sign_in_failed" in shown and "ValueError: refused" in shown
    assert secret not in shown
