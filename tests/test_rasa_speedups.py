"""The action server's answers are still validated after seat.rasa_speedups, with Rasa's own error."""
from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from seat import rasa_speedups


@pytest.fixture
def action(monkeypatch):
    monkeypatch.setattr(RemoteAction, "_validate_action_result", RemoteAction._validate_action_result)
    rasa_speedups.install()
    return RemoteAction("validate_ticket_form", EndpointConfig("http://127.0.0.1:1/webhook"))


def test_a_good_answer_passes(action):
    good = {"events": [{"event": "slot", "name": "phone", "value": "13911112222"}],
            "responses": [{"text": "好的", "buttons": []}]}
    assert action._validate_action_result(good) is True


ORIGINAL = RemoteAction._validate_action_result


@pytest.mark.parametrize("bad", [{"events": "not a list"}, {"events": [{"name": "no event key"}]},
                                 {"events": [{"event": 5}]}])
def test_a_bad_answer_raises_rasa_s_error(action, bad):
    with pytest.raises(ValidationError, match="Failed to validate Action server response") as ours:
        action._validate_action_result(bad)
    with pytest.raises(ValidationError) as rasas:
        ORIGINAL(action, bad)
    assert ours.value.message == rasas.value.message  # the same error Rasa gives
