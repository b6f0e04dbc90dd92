"""The CI guard: in CI a missing part fails instead of skipping, whichever way CI says so."""

import pytest

from tests.support.ci import in_ci


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("TRUE", True), ("false", False), ("0", False), ("", False)]
)
def test_ci_is_recognised_as_ci_true_and_as_ci_1(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_no_ci_variable_is_not_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert in_ci() is False
