"""The self-read of the stack's last outputs (settings/history.py), as the real engine answers it.

`make e2e` saw the engine answer "failed to load checkpoint: EOF" on a file backend while it was
saving the checkpoint (about one first update in eight); the program used to stop with a
traceback there."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pulumi
import pytest

from settings import history
from settings.problems import SettingsError

TORN = Exception(
    "invoke of pulumi:pulumi:readStackOutputs failed: invocation of "
    "pulumi:pulumi:readStackOutputs returned an error: failed to load checkpoint: EOF"
)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The engine's answers to each invoke, in order: an exception raises, anything else returns."""
    answers: list[Any] = []

    def invoke(token: str, args: dict[str, Any]) -> Any:
        assert token == history.READ_STACK_OUTPUTS
        assert args == {"name": "organization/mailstack/prod"}
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return SimpleNamespace(value=answer)

    monkeypatch.setattr(pulumi.runtime, "invoke", invoke)
    monkeypatch.setattr(pulumi, "get_organization", lambda: "organization")
    monkeypatch.setattr(pulumi, "get_project", lambda: "mailstack")
    monkeypatch.setattr(pulumi, "get_stack", lambda: "prod")
    return answers


def test_a_torn_checkpoint_read_is_read_again(engine: list[Any]) -> None:
    record = {"primary": {"claim": "stalwart-data", "generation": "0.15"}}
    engine.extend([TORN, TORN, {"outputs": {"stalwartData": record}}])
    pauses: list[float] = []
    found = history.read_history(sleep=pauses.append)
    assert found == history.History(deployed=True, record=record)
    assert len(pauses) == 2


def test_a_torn_read_that_persists_stops_with_one_line(engine: list[Any]) -> None:
    engine.extend([TORN] * history.READ_ATTEMPTS)
    with pytest.raises(SettingsError) as raised:
        history.read_history(sleep=lambda _s: None)
    assert len(raised.value.problems) == 1
    assert "stalwartData" in raised.value.problems[0]
    assert "\n" not in raised.value.problems[0]


def test_any_other_failure_is_not_guessed_as_a_fresh_stack(engine: list[Any]) -> None:
    engine.append(Exception("invocation of pulumi:pulumi:readStackOutputs returned an error: 403"))
    pauses: list[float] = []
    with pytest.raises(SettingsError):
        history.read_history(sleep=pauses.append)
    assert pauses == []


def test_a_fresh_stack_has_no_history(engine: list[Any]) -> None:
    engine.append({"outputs": {}})
    assert history.read_history() == history.History(deployed=False, record=None)
