"""Per-message work of Rasa 3.6 that does not earn its cost, cut without changing what Rasa answers (issue 15).

Measured with py-spy on the full seat under bench/chat.py at 20 conversations (README "Performance"): a third of
each Rasa process's time went to `jsonschema.validate` in `RemoteAction._validate_action_result`, which checks
Rasa's own constant response schema against the JSON-Schema meta-schema (`check_schema`) on every action server
answer, before validating the answer itself. Here the validator for that schema is built once and every answer
is still validated against it, with the same error (and Rasa's added hint) when it does not match.
"""
from __future__ import annotations

import functools
from typing import Any, Dict

from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL


@functools.lru_cache(maxsize=1)
def _response_validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once per process instead of once per action call
    return cls(schema)


def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
    """RemoteAction._validate_action_result with a validator built once (same checks, same error)."""
    error = best_match(_response_validator().iter_errors(result))
    if error is not None:
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def install() -> None:
    """Patch this Rasa process (seat.rasa_run calls it before Rasa starts)."""
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]

