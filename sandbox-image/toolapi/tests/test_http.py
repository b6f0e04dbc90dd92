"""The HTTP contract: auth, envelope, status codes."""

from __future__ import annotations

import pytest

from .conftest import Api, Target

UNAUTHORIZED = {"ok": False, "error": "missing or invalid bearer token"}


def bad_auth_headers(token: str) -> list[dict[str, str]]:
    return [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Bearer {token}x"},
        {"Authorization": f"Bearer {token[:-1]}"},
        {"Authorization": f"Basic {token}"},
        {"Authorization": token},
    ]


@pytest.mark.parametrize("case", range(8))
def test_it_rejects_a_missing_or_wrong_token_and_changes_nothing(
    api: Api, target: Target, work: str, case: int
) -> None:
    headers = bad_auth_headers(target.token)[case]
    with target.client(headers) as anon:
        write = anon.post("/file/write", json={"file": f"{work}/w.txt", "content": "x"})
        exec_ = anon.post("/shell/exec", json={"id": "intruder", "command": f"touch {work}/e.txt"})
        upload = anon.post("/file/upload", params={"path": f"{work}/u.bin"}, content=b"\x00\x01")
        health = anon.get("/health")
        unknown = anon.get("/no/such/endpoint")
        download = anon.get("/file/download", params={"path": f"{work}"})

    for response in (write, exec_, upload, health, unknown, download):
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="toolapi"'
    assert api.sh(f"ls -A {work}") == ""
    assert api.post("/shell/view", id="intruder").status_code == 404


def test_health_needs_the_token_and_reports_the_toolapi(api: Api) -> None:
    response = api.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    data = body["data"]
    assert set(data) == {"toolapi", "x", "cdp", "vnc", "ready"}
    assert data["toolapi"] == "ok"
    assert {data["x"], data["cdp"], data["vnc"]} <= {"ok", "down", "absent", "idle"}


def test_an_unknown_endpoint_is_404(api: Api) -> None:
    response = api.post("/shell/nope", id="x")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "no such endpoint: /shell/nope"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/shell/exec", "POST"),
        ("PUT", "/file/write", "POST"),
        ("DELETE", "/shell/kill", "POST"),
        ("POST", "/health", "GET"),
        ("POST", "/file/download", "GET"),
        ("GET", "/file/upload", "POST"),
    ],
)
def test_a_wrong_method_is_405_with_allow(api: Api, method: str, path: str, allowed: str) -> None:
    response = api.client.request(method, path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert response.json() == {"ok": False, "error": f"{path} accepts {allowed} only, not {method}"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (b"", "Expecting value: line 1 column 1 (char 0)"),
        (b"\xc3\x28", "'utf-8' codec can't decode byte 0xc3 in position 0: invalid continuation byte"),
    ],
)
def test_a_body_that_is_not_json_is_400(api: Api, raw: bytes, message: str) -> None:
    response = api.client.post("/file/read", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": f"request body is not valid JSON: {message}"}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/shell/exec", {"id": "a"}, "command: Field required"),
        ("/shell/exec", {"id": "a", "command": "true", "bogus": 1}, "bogus: Extra inputs are not permitted"),
        ("/shell/exec", {"id": "a b", "command": "true"}, "id: String should match pattern '^[A-Za-z0-9_.-]{1,64}$'"),
        (
            "/shell/exec",
            {"id": "a", "command": "true", "wait_seconds": -1},
            "wait_seconds: Input should be greater than or equal to 0",
        ),
        ("/shell/write", {"id": "a", "key": "hyper"}, "key: Input should be 'enter', 'tab', 'escape', 'backspace', "
         "'up', 'down', 'right', 'left', 'home', 'end', 'page_up', 'page_down', 'delete', 'ctrl_c', 'ctrl_d', "
         "'ctrl_z', 'ctrl_backslash', 'ctrl_l' or 'ctrl_u'"),
        ("/file/read", [1, 2], "body: Input should be a valid dictionary or instance of FileReadRequest"),
        ("/file/read", {"file": "/x", "start_line": -1}, "start_line: Input should be greater than or equal to 0"),
        ("/file/str_replace", {"file": "/x", "old_str": "", "new_str": "y"},
         "old_str: String should have at least 1 character"),
    ],
)  # fmt: skip
def test_an_invalid_request_is_422_with_the_reason(api: Api, path: str, body: object, message: str) -> None:
    response = api.client.post(path, json=body)
    assert response.status_code == 422
    assert response.json() == {"ok": False, "error": f"invalid request: {message}"}


def test_the_shell_environment_does_not_hold_the_token(api: Api, target: Target, shell_id: str) -> None:
    data = api.ok("/shell/exec", id=shell_id, command="env | grep -c ^TOOLAPI_ || true")
    assert data["output"] == "0\n"
    data = api.ok("/shell/exec", id=shell_id, command=f"env | grep -cF '{target.token}' || true")
    assert data["output"] == "0\n"
