"""PostgreSQL going away under a running API: requests get a 503 to retry (never a 500), nothing stored is
touched, and the API serves again as soon as the database is back. A TCP proxy in front of the real
PostgreSQL plays the dying server, so the machine's own database keeps running for everything else."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import make_url

from tests.conftest import TEST_DATABASE_URL
from tests.processes import ApiProcess, TcpProxy
from tests.test_events import new_project, sign_up


async def test_requests_while_the_database_is_down_get_a_503_and_lose_nothing(tmp_path: Path) -> None:
    url = make_url(TEST_DATABASE_URL)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as database:
        proxied = url.set(host="127.0.0.1", port=database.port).render_as_string(hide_password=False)
        api = ApiProcess(tmp_path, env={"DATABASE_URL": proxied, "AGORAX_RUN_RELAY": "false"})
        await api.astart()
        try:
            async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
                owner = await sign_up(http)
                project = await new_project(http, owner)
                tasks_url = f"/api/projects/{project['id']}/tasks"
                kept = await http.post(tasks_url, json={"title": "Written before"}, headers=owner.headers)
                assert kept.status_code == 201, kept.text

                await database.cut()
                refused = [
                    await http.post(tasks_url, json={"title": "Written while down"}, headers=owner.headers),
                    await http.get(tasks_url, headers=owner.headers),
                    await http.post("/api/auth/token", data={"username": owner.username, "password": "x"}),
                ]
                for response in refused:
                    assert response.status_code == 503, response.text
                    assert response.headers["Retry-After"] == "5"
                    assert "database is not answering" in response.json()["detail"]

                await database.restore()
                listed = await http.get(tasks_url, headers=owner.headers)
                assert listed.status_code == 200, listed.text
                assert [task["title"] for task in listed.json()] == ["Written before"]
        finally:
            await api.astop()
    assert "Traceback" not in api.log(), api.tail()
