"""Fixtures shared by the whole suite: users, authenticated clients, the scripted model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.bootstrap import SCRIPTED_LLM
from tests.support.llm_server import ScriptedLLM

PASSWORD = "correct horse battery staple"


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    """The scripted model every turn talks to, emptied before and after each test."""
    SCRIPTED_LLM.reset()
    yield SCRIPTED_LLM
    SCRIPTED_LLM.reset()


def make_user(username: str, **extra: Any) -> Any:
    return get_user_model().objects.create_user(
        username=username, email=f"{username}@example.test", password=PASSWORD, **extra
    )


@pytest.fixture
def alice(db: None) -> Any:
    return make_user("alice")


@pytest.fixture
def bob(db: None) -> Any:
    return make_user("bob")


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def alice_client(alice: Any) -> APIClient:
    return client_for(alice)


@pytest.fixture
def bob_client(bob: Any) -> APIClient:
    return client_for(bob)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()
