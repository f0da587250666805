"""The callback worker: schedules closed tickets, claims due tries one at a time, calls (or opens the chat
survey), keeps its lease alive during the call and settles the try from what the survey recorded."""
from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Callable, Optional

from sqlalchemy.engine import Engine

from ground.store import claims
from callbacks.chat import ChatDelivery
from callbacks.dialers import CallRequest, CallResult, Dialer
from ground.tables.callbacks import SurveyChannel
from ground.survey_policy import SurveyPolicy
from ground.store.survey_tries import end_try, schedule_closed
from ground.tables.tickets import utcnow

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
END_TRY_ATTEMPTS = 3  # settling a finished call: tries, a renewal period apart (the database may be back)


class CallbackWorker:
    """One worker. Blocking database work runs in threads; `clock` is injectable for tests."""

    def __init__(self, engine: Engine, dialer: Optional[Dialer], policy: SurveyPolicy, *, chat: Optional[ChatDelivery] = None,
                 worker_id: Optional[str] = None, clock: Clock = utcnow, renew_every_s: Optional[float] = None) -> None:
        """`dialer` None: voice tries are left for a worker that has one (chat surveys only)."""
        self.engine, self.dialer, self.policy, self.chat, self.clock = engine, dialer, policy, chat, clock
        self.channels = ("voice", "chat") if dialer is not None else ("chat",)
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self.renew_every_s = renew_every_s if renew_every_s is not None else policy.lease.total_seconds() / 3
        self.stop_reason: Optional[str] = None  # why the current call was stopped, if it was

    async def schedule(self) -> None:
        """One scheduling pass (closed tickets without a try) and expiry of unopened chat surveys."""
        now = self.clock()
        await asyncio.to_thread(schedule_closed, self.engine, self.policy, now)
        await asyncio.to_thread(claims.expire_chat_waits, self.engine, self.policy, now)

    async def run_once(self) -> Optional[str]:
        """Handle one due try; what happened to it, or None when nothing was due."""
        now = self.clock()
        claim = await asyncio.to_thread(claims.claim_next, self.engine, self.worker_id, now, self.policy,
                                          self.channels)
        if claim is None:
            return None
        if claim.recovering:
            result = await asyncio.to_thread(claims.recover, self.engine, claim, self.policy, now)
            log.warning("%s: recovered try %s of ticket %s: %s", self.worker_id, claim.attempt, claim.ticket_no, result)
            return "recovered:" + result
        if not self.policy.window.is_open(now):
            await asyncio.to_thread(claims.postpone, self.engine, claim, self.worker_id, self.policy.window.next_open(now))
            return "postponed"
        call_id = str(uuid.uuid4())
        if not await asyncio.to_thread(claims.mark_started, self.engine, claim, self.worker_id, now, call_id):
            return "lost"
        if claim.channel == "chat":
            return await self._chat(claim)
        return await self._call(claim, call_id)

    async def _chat(self, claim: claims.Claim) -> str:
        state = await self.chat.open(claim.conversation_id) if self.chat else "waiting"
        await asyncio.to_thread(claims.release_waiting, self.engine, claim, self.worker_id)
        log.info("%s: chat survey of ticket %s %s", self.worker_id, claim.ticket_no, state)
        return "chat:" + state

    async def _call(self, claim: claims.Claim, call_id: str) -> str:
        request = CallRequest(call_id=call_id, attempt_id=claim.attempt_id, ticket_no=claim.ticket_no,
                              phone=claim.phone or "")
        call = asyncio.ensure_future(self.dialer.call(request))
        self.stop_reason = None
        keeper = asyncio.ensure_future(self._keep_lease(claim, call))
        try:
            result = await call
        except asyncio.CancelledError:
            if call.cancelled():
                result = CallResult("failed", f"call stopped: {self.stop_reason or 'lease lost or call too long'}")
            else:
                raise
        except Exception:
            log.exception("%s: call %s failed", self.worker_id, call_id)
            result = CallResult("failed", "dialer error")
        finally:
            keeper.cancel()
        for tries_left in range(END_TRY_ATTEMPTS - 1, -1, -1):
            try:
                outcome = await asyncio.to_thread(end_try, self.engine, claim.attempt_id, SurveyChannel.VOICE,
                                                  self.policy, self.clock(), call_status=result.status,
                                                  call_detail=result.detail)
                break
            except Exception as exc:
                if tries_left:
                    await asyncio.sleep(self.renew_every_s)
                    continue
                # The call is over but cannot be recorded: the try stays claimed until its lease runs out, then a
                # worker recovers it (claims.recover: answered if the survey was completed, else retried once).
                log.error("%s: ticket %s try %s ended (%s) but could not be recorded (%s); it is recovered after "
                          "the lease", self.worker_id, claim.ticket_no, claim.attempt, result.status,
                          type(exc).__name__)
                return "unrecorded:" + result.status
        log.info("%s: ticket %s try %s: %s", self.worker_id, claim.ticket_no, claim.attempt, outcome)
        return outcome

    async def _keep_lease(self, claim: claims.Claim, call: "asyncio.Future[CallResult]") -> None:
        """Renew the lease while the call runs; stop the call if the lease is lost, cannot be renewed (database
        error or no answer within a renewal period) or it runs too long.

        A renewal that fails ends the call at once: the lease still has about two renewal periods left, so the
        call is over before any other worker may recover the try (claims.claim_next takes only expired leases):
        the citizen is never on two calls for one try."""
        started = self.clock()
        while not call.done():
            await asyncio.sleep(self.renew_every_s)
            now = self.clock()
            why = None
            try:
                alive = await asyncio.wait_for(
                    asyncio.to_thread(claims.renew, self.engine, claim, self.worker_id, now, self.policy),
                    timeout=self.renew_every_s)
            except Exception as exc:  # database down or hanging: the lease can no longer be vouched for
                alive, why = False, f"lease renewal failed: {type(exc).__name__}"
            if not alive or now - started > self.policy.max_call:
                why = why or ("lease lost" if not alive else "too long")
                log.error("%s: stopping call for ticket %s (%s)", self.worker_id, claim.ticket_no, why)
                self.stop_reason = why
                call.cancel()
                return

    async def run(self, stop: asyncio.Event, idle_s: float = 5.0, schedule_every_s: float = 30.0,
                  schedules: bool = True, wake: Optional[asyncio.Event] = None) -> None:
        """Work until `stop` is set: schedule now and then (at once when `wake` is set: a ticket was closed),
        handle due tries, idle when none is due."""
        loop = asyncio.get_running_loop()
        next_schedule = 0.0
        while not stop.is_set():
            if wake is not None and wake.is_set():
                wake.clear()
                next_schedule = 0.0
            if schedules and loop.time() >= next_schedule:
                try:
                    await self.schedule()
                except Exception:
                    log.exception("%s: scheduling pass failed", self.worker_id)
                next_schedule = loop.time() + schedule_every_s
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("%s: try failed", self.worker_id)
                handled = None
            if handled is None:
                await _first_of([stop] + ([wake] if wake is not None and schedules else []), idle_s)


async def _first_of(events: list[asyncio.Event], timeout: float) -> None:
    """Return when one of `events` is set or after `timeout` seconds."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
