"""The API at the HTTP level: body size limits answered in the API's JSON, and interactive docs that need no
network beyond Agorax itself."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi.testclient import TestClient

from backend.api.main import MAX_BODY_BYTES
from tests.conftest import Account, register

TOO_LARGE = b'{"title": "' + b"x" * MAX_BODY_BYTES + b'"}'


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


def _project(client: TestClient, owner: Account) -> int:
    created = client.post("/api/projects", json={"name": "Limits"}, headers=owner.headers)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def test_a_declared_body_over_the_limit_is_a_json_413_and_stores_nothing(client: TestClient) -> None:
    owner = register(client)
    pid = _project(client, owner)
    response = client.post(
        f"/api/projects/{pid}/tasks",
        content=TOO_LARGE,
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json() == {"detail": f"The request body is larger than {MAX_BODY_BYTES} bytes"}
    assert client.get(f"/api/projects/{pid}/tasks", headers=owner.headers).json() == []


def test_a_streamed_body_over_the_limit_is_a_json_413_and_stores_nothing(client: TestClient) -> None:
    owner = register(client)
    pid = _project(client, owner)
    response = client.post(
        f"/api/projects/{pid}/tasks",
        content=_chunks(TOO_LARGE),  # no Content-Length: the limit counts what is read
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The request body is larger than")
    assert client.get(f"/api/projects/{pid}/tasks", headers=owner.headers).json() == []


def test_a_body_at_the_limit_is_read(client: TestClient) -> None:
    owner = register(client)
    pid = _project(client, owner)
    padding = b" " * (MAX_BODY_BYTES - len(b'{"title": "Fits"}'))
    response = client.post(
        f"/api/projects/{pid}/tasks",
        content=b'{"title": "Fits"}' + padding,
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text


def test_the_docs_page_loads_its_scripts_from_agorax_itself(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/api/docs/assets/"), f"{asset} would need another host"
        assert client.get(asset).status_code == 200, asset
    assert "'/api/openapi.json'" in page.text or '"/api/openapi.json"' in page.text
