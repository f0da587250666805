"""`python -m seat.rasa_run run ...`: Rasa's own CLI, with `PUT /model` loading the new model off the event loop.

Rasa 3.6 loads a model for `PUT /model` inside its event loop, so every conversation on that server waits
while the model loads (a minute on a busy machine). Here the agent's stores are set up on the loop as Rasa
does, and the model itself is loaded in a worker thread; the old model keeps answering until the new one
is ready, then Rasa swaps them (keeping its lock store). Everything else is plain `rasa`.
"""
from __future__ import annotations

import asyncio
import sys
from typing import Any, Optional

import rasa.server as server
from rasa.__main__ import main as rasa_main
from rasa.core.agent import Agent
from rasa.core.brokers.broker import EventBroker
from rasa.core.http_interpreter import RasaNLUHttpInterpreter
from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import TrackerStore


def _patch_model_loading() -> None:
    original = server._load_agent

    async def load_agent_off_loop(model_path: Optional[str] = None, model_server: Any = None,
                                  remote_storage: Optional[str] = None, endpoints: Any = None) -> Agent:
        if model_server is not None or remote_storage is not None or not model_path or \
                (endpoints is not None and endpoints.model is not None):
            return await original(model_path=model_path, model_server=model_server,
                                  remote_storage=remote_storage, endpoints=endpoints)
        agent = Agent()
        if endpoints is not None:
            broker = await EventBroker.create(endpoints.event_broker)
            agent = Agent(generator=endpoints.nlg,
                          tracker_store=TrackerStore.create(endpoints.tracker_store, event_broker=broker),
                          lock_store=LockStore.create(endpoints.lock_store), action_endpoint=endpoints.action,
                          http_interpreter=RasaNLUHttpInterpreter(endpoints.nlu) if endpoints.nlu else None)
        try:
            await asyncio.get_running_loop().run_in_executor(None, agent.load_model, model_path)
        except Exception as exc:  # the same answer Rasa gives
            raise server.ErrorResponse(500, "LoadingError", f"An unexpected error occurred. Error: {exc}")
        if not agent.is_ready():
            raise server.ErrorResponse(400, "BadRequest", f"Agent with name '{model_path}' could not be loaded.",
                                       {"parameter": "model", "in": "query"})
        return agent

    server._load_agent = load_agent_off_loop


def main() -> None:
    _patch_model_loading()
    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
