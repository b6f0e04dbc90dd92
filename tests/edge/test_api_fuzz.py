"""Schemathesis over `/api/schema` against a real daphne: every operation, valid and invalid input,
as a logged-in user and as an API key. The rule checked is `not_a_server_error`: bad input is a 4xx
envelope, never a 5xx (nor a hang: every call has a timeout)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from jobs.models import JobApiKey
from tests.conftest import make_user
from tests.edge.conftest import Web, forget_login_failures

# Per operation and generation mode (~40 operations x 2-3 runs x this, for each principal): a bounded
# run of a few minutes on a shared 2-core machine.
EXAMPLES = 6
CALL_TIMEOUT_SECONDS = 20
# Takes no input; its 503 means "a component is down" (no worker runs here): that is its contract.
NOT_FUZZED = frozenset({"GET /api/v1/health"})


@pytest.fixture(scope="module")
def fuzz_web(start_web: Callable[..., Web]) -> Web:
    # Chat answers with an SSE stream that lasts until the turn ends; no worker runs here, so
    # streams end after their first frame instead.
    # Likewise no job ends: waits (GET /jobs/{id}/wait, POST /jobs "wait") are capped at 1 s.
    return start_web(
        SSE_MAX_SECONDS="0", SSE_HEARTBEAT_SECONDS="0.2", STREAM_POLL_SECONDS="0.2", JOB_WAIT_MAX_SECONDS="1"
    )


def principal_headers(kind: str) -> dict[str, str]:
    user = make_user(f"fuzz-{kind}")
    if kind == "user":
        return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}
    _, raw = JobApiKey.objects.create_key(owner=user, name="fuzz")
    return {"Authorization": f"Api-Key {raw}"}


def real_ids(base_url: str, headers: dict[str, str], principal: str) -> dict[str, str]:
    """Fresh resources of the principal, so operations are fuzzed on ids that exist too."""
    ids: dict[str, str] = {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=CALL_TIMEOUT_SECONDS) as client:
        if principal == "api_key":
            job = client.post("/api/v1/jobs", json={"prompt": "hello", "mode": "lite"})
            if job.status_code in (200, 202):
                ids.update(job_id=job.json()["data"]["job_id"], session_id=job.json()["data"]["session_id"])
        else:
            session = client.put("/api/v1/sessions", json={})
            if session.status_code == 200:
                ids["session_id"] = session.json()["data"]["session_id"]
        if "session_id" in ids:
            share = client.post(f"/api/v1/sessions/{ids['session_id']}/shares", json={})
            if share.status_code == 201:
                ids.update(share_id=share.json()["data"]["share_id"], token=share.json()["data"]["token"])
        form = {"session_id": ids["session_id"]} if "session_id" in ids else {}
        upload = client.post("/api/v1/files", files={"file": ("notes.txt", b"hello")}, data=form)
        if upload.status_code == 200:
            ids["file_id"] = upload.json()["data"]["file_id"]
    return ids


def fuzz(strategy: Any, label: str, base_url: str, headers: dict[str, str]) -> list[str]:
    """Call the API with EXAMPLES cases of `strategy`; the server errors (and timeouts) seen."""
    found: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: Any) -> None:
        try:
            case.call_and_validate(
                base_url=base_url, headers=headers, checks=[not_a_server_error], timeout=CALL_TIMEOUT_SECONDS
            )
        except (Exception, BaseExceptionGroup) as exc:  # a failed check, or a call that timed out
            found.append(f"{label}: {type(exc).__name__}: {str(exc)[:400]}")

    call()
    return found


def server_errors(schema: Any, base_url: str, headers: dict[str, str], principal: str) -> list[str]:
    found: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in NOT_FUZZED:
            continue
        path_names = re.findall(r"{(\w+)}", operation.path)
        runs: list[tuple[GenerationMode, dict[str, str] | None]] = [
            (GenerationMode.POSITIVE, None),
            (GenerationMode.NEGATIVE, None),
        ]
        if path_names:
            runs.append((GenerationMode.POSITIVE, {}))  # on ids that exist (filled in below)
        for mode, fixed in runs:
            if fixed is not None:
                ids = real_ids(base_url, headers, principal)
                if not all(name in ids for name in path_names):
                    continue
                fixed = {name: ids[name] for name in path_names}
            label = f"{operation.label} [{mode.value}{', existing ids' if fixed else ''}]"
            found += fuzz(operation.as_strategy(generation_mode=mode, path_parameters=fixed), label, base_url, headers)
            forget_login_failures()  # the login operation's failures must not throttle later ones
    return found


@pytest.mark.timeout(1200)  # every operation twice over HTTP: minutes on a busy 2-core host
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("principal", ["user", "api_key"])
def test_no_input_makes_the_api_answer_with_a_server_error(fuzz_web: Web, principal: str) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_web.url}/api/schema")
    headers = principal_headers(principal)

    errors = server_errors(schema, fuzz_web.url, headers, principal)

    assert errors == [], "\n".join(dict.fromkeys(errors))
