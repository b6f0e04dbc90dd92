"""The event schema: one model per type, and the checked-in copy the web app is built from."""

import pytest
from django.core.management import call_command
from pydantic import ValidationError

from sessions.events import event_json_schema, event_parse


def test_every_event_type_is_in_the_schema() -> None:
    kinds = {ref.split("/")[-1] for ref in event_json_schema()["discriminator"]["mapping"].values()}

    assert kinds == {
        "MessageEvent",
        "MessageDeltaEvent",
        "TitleEvent",
        "PlanEvent",
        "StepEvent",
        "ToolEvent",
        "ErrorEvent",
        "DoneEvent",
        "WaitEvent",
        "StatusEvent",
        "RollbackEvent",
        "ReasoningEvent",
    }


def test_a_dump_parses_back_into_its_model() -> None:
    data = {"type": "plan", "steps": [{"id": "1", "description": "Look", "status": "running"}], "seq": 3}

    event = event_parse(data)

    assert event.model_dump(mode="json")["steps"] == [
        {"id": "1", "description": "Look", "status": "running", "result": None}
    ]


def test_unknown_fields_and_types_are_rejected() -> None:
    with pytest.raises(ValidationError):
        event_parse({"type": "message", "role": "user", "content": "x", "surprise": 1})
    with pytest.raises(ValidationError):
        event_parse({"type": "telepathy"})


def test_the_checked_in_schema_matches_the_models() -> None:
    call_command("export_event_schema", "--check")
