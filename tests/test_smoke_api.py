from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Account


def test_create_project_and_task_roundtrip(client: TestClient, make_account) -> None:
    owner: Account = make_account()
    project = client.post("/api/projects", json={"name": "Launch"}, headers=owner.headers)
    assert project.status_code == 201, project.text
    pid = project.json()["id"]
    columns = client.get(f"/api/projects/{pid}/columns", headers=owner.headers).json()
    assert [c["name"] for c in columns] == ["To do", "In progress", "Done"]
    task = client.post(f"/api/projects/{pid}/tasks", json={"title": "  Ship it ✨ "}, headers=owner.headers)
    assert task.status_code == 201, task.text
    assert task.json()["title"] == "Ship it ✨"
    moved = client.post(
        f"/api/tasks/{task.json()['id']}/move", json={"column_id": columns[2]["id"]}, headers=owner.headers
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["column_id"] == columns[2]["id"] and moved.json()["version"] == 2
    events = client.get(f"/api/projects/{pid}/events?after=0", headers=owner.headers).json()
    assert [e["type"] for e in events["events"]] == ["task.created", "task.moved"]
    assert [e["seq"] for e in events["events"]] == [1, 2]
