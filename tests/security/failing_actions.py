"""An action that fails with the citizen's phone in its message (tests/security/test_action_errors.py)."""
from rasa_sdk import Action


class ActionThatFails(Action):
    def name(self) -> str:
        return "action_that_fails"

    def run(self, dispatcher, tracker, domain):
        raise ValueError(f"cannot file a ticket for {tracker.get_slot('phone')}")
