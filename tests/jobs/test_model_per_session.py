"""A model per session: LLM_MODELS lists what users may pick; a session (PUT /sessions, PUT
/sessions/{id}/model) or a job (POST /jobs `model`) picks one; turns talk to it; the usage ledger
counts tokens per model. Two scripted OpenAI-compatible servers, through the real `openai` client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from agents.models import Turn
from agents.reach.models import SessionReach
from agents.services import chat_send, turn_run
from jobs.models import Job
from sessions.models import Session
from tests.jobs.conftest import Key
from tests.jobs.test_jobs_api import run_queued_job_turns, submit
from tests.support.llm_server import ScriptedLLM, text

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def second(settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedLLM]:
    """A second provider, offered as the model "deep" (provider id "deep-v3") in LLM_MODELS."""
    server = ScriptedLLM(api_key="second-key").start()
    monkeypatch.setenv("SECOND_LLM_KEY", "second-key")
    settings.LLM_MODELS = [
        {"name": "deep", "provider": "compatible", "base_url": server.base_url, "key_env": "SECOND_LLM_KEY",
         "model": "deep-v3"},
    ]  # fmt: skip
    try:
        yield server
    finally:
        server.stop()


def ask(session_id: str, message: str) -> Turn:
    turn = chat_send(session_id=session_id, message=message)
    assert turn is not None
    assert turn_run(turn_id=str(turn.id)) == "completed"
    turn.refresh_from_db()
    return turn


def test_the_models_listing_offers_the_default_then_llm_models(alice_client: APIClient, second: ScriptedLLM) -> None:
    response = alice_client.get("/api/v1/models")

    assert response.status_code == 200
    assert response.json()["data"] == {
        "models": [
            {"name": "scripted-model", "provider": "compatible", "default": True},
            {"name": "deep", "provider": "compatible", "default": False},
        ],
        "default": "scripted-model",
    }


def test_a_session_that_picked_a_model_talks_to_it_and_the_ledger_counts_tokens_per_model(
    alice_client: APIClient, llm: ScriptedLLM, second: ScriptedLLM
) -> None:
    second.push(text("from deep", usage=(50, 5)))
    llm.push(text("from default", usage=(7, 1)))
    created = alice_client.put("/api/v1/sessions", {"mode": "lite", "model": "deep"}, format="json")
    assert created.status_code == 200, created.json()
    session_id = created.json()["data"]["session_id"]

    first = ask(session_id, "hello deep")

    assert (first.model, first.prompt_tokens, first.completion_tokens) == ("deep", 50, 5)
    assert [r["model"] for r in second.requests] == ["deep-v3"] and llm.requests == []
    assert alice_client.get(f"/api/v1/sessions/{session_id}/model").json()["data"] == {
        "model": "deep",
        "default": False,
    }

    back = alice_client.put(f"/api/v1/sessions/{session_id}/model", {"model": ""}, format="json")
    assert back.json()["data"] == {"model": "scripted-model", "default": True}
    later = ask(session_id, "hello default")

    assert later.model == "scripted-model"
    assert [r["model"] for r in llm.requests] == ["scripted-model"] and len(second.requests) == 1
    today = alice_client.get("/api/v1/usage?days=1").json()["data"]["days"][-1]
    assert (today["turns"], today["prompt_tokens"], today["completion_tokens"]) == (2, 57, 6)
    assert today["models"] == [
        {"model": "deep", "turns": 1, "prompt_tokens": 50, "completion_tokens": 5},
        {"model": "scripted-model", "turns": 1, "prompt_tokens": 7, "completion_tokens": 1},
    ]


def test_a_model_not_offered_is_a_422_that_lists_the_choices_and_nothing_changes(
    alice: Any, alice_client: APIClient, bob_client: APIClient, second: ScriptedLLM
) -> None:
    refused = alice_client.put("/api/v1/sessions", {"mode": "lite", "model": "gpt-9"}, format="json")

    assert refused.status_code == 422
    assert refused.json() == {
        "code": 422,
        "msg": "model 'gpt-9' is not offered here; choose one of: scripted-model, deep",
        "data": {"models": ["scripted-model", "deep"]},
    }
    assert Session.objects.count() == 0

    session_id = alice_client.put("/api/v1/sessions", {"mode": "lite", "model": "deep"}, format="json").json()["data"][
        "session_id"
    ]
    changed = alice_client.put(f"/api/v1/sessions/{session_id}/model", {"model": "gpt-9"}, format="json")
    assert changed.status_code == 422
    assert SessionReach.objects.get(session_id=session_id).model == "deep"
    # Another user's session does not exist for bob, to read or to change.
    assert bob_client.get(f"/api/v1/sessions/{session_id}/model").status_code == 404
    assert bob_client.put(f"/api/v1/sessions/{session_id}/model", {"model": ""}, format="json").status_code == 404
    assert SessionReach.objects.get(session_id=session_id).model == "deep"


def test_a_job_runs_on_the_model_its_body_names_and_an_unknown_model_creates_no_job(
    alice_key: Key, llm: ScriptedLLM, second: ScriptedLLM
) -> None:
    second.push(text("deep job", usage=(20, 2)))

    response = submit(alice_key, {"model": "deep"})

    assert response.status_code == 202, response.json()
    assert run_queued_job_turns() == ["completed"]
    job = Job.objects.get(pk=response.json()["data"]["job_id"])
    assert Turn.objects.get(session_id=job.session_id).model == "deep"
    assert [r["model"] for r in second.requests] == ["deep-v3"] and llm.requests == []

    unknown = submit(alice_key, {"model": "nope"})
    assert (unknown.status_code, unknown.json()["msg"]) == (
        422,
        "model 'nope' is not offered here; choose one of: scripted-model, deep",
    )
    assert Job.objects.count() == 1
