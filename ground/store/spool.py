"""The spool: tickets and handoffs that could not be written because the database was down, kept on disk until
it is back, then written exactly once.

One file per item (JSON, mode 600: it holds the citizen's phone and words), written atomically: a temporary file
in the same directory, fsync, rename, fsync of the directory. A file's name is derived from the item's
idempotency key (a ticket: its conversation and ``request_key``, the key ``TicketStore.create_ticket`` is
idempotent on; a handoff: its conversation and the moment it happened), so spooling the same item twice keeps one
file. The drainer (``drain``, ``keep_draining``) takes each file under an exclusive ``flock`` (several action server
workers may drain the same directory), writes the item through the store, which returns the existing row when it is
already there, and only then deletes the file: a crash between the write and the delete writes nothing twice.
An item the store refuses as bad data is moved to ``rejected/`` (kept, logged), never retried forever.
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from sqlalchemy import select

from ground.tables.tickets import TicketDraft, handoffs
from ground.store.tickets import TicketStore, TicketStoreError

log = logging.getLogger(__name__)
TICKET, HANDOFF = "ticket", "handoff"
REJECTED = "rejected"
SUFFIX = ".json"


class SpoolError(OSError):
    """The item could not be kept on disk (no space, no permission): the caller must fall back."""


@dataclass(frozen=True)
class DrainReport:
    written: int = 0     # items now in the database (newly written or found already there)
    waiting: int = 0     # still spooled: the database is still unreachable, or another drainer holds them
    rejected: int = 0    # moved to rejected/: the store refused their data


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _utc(moment: Optional[datetime]) -> datetime:
    moment = moment or datetime.now(timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _draft_to_json(draft: TicketDraft) -> dict[str, Any]:
    data = asdict(draft)
    if draft.occurred_at is not None:
        data["occurred_at"] = draft.occurred_at.isoformat()
    return data


def _draft_from_json(data: dict[str, Any]) -> TicketDraft:
    known = {f.name for f in fields(TicketDraft)}
    values = {k: v for k, v in data.items() if k in known}
    if values.get("occurred_at"):
        values["occurred_at"] = datetime.fromisoformat(values["occurred_at"])
    return TicketDraft(**values)


class Spool:
    """The spool directory (``SEAT_SPOOL_DIR``, default ``.run/spool``)."""

    def __init__(self, directory: Path | str) -> None:
        self.dir = Path(directory)

    # -- keeping ------------------------------------------------------------

    def put_ticket(self, draft: TicketDraft, at: Optional[datetime] = None) -> Path:
        """Keep a confirmed ticket whose write failed; `at` (default now) becomes its creation time."""
        return self._put(TICKET, _key(draft.conversation_id, draft.request_key),
                         {"draft": _draft_to_json(draft)}, at)

    def put_handoff(self, conversation_id: str, reason: str, collected: dict[str, Any], channel: str,
                    at: Optional[datetime] = None) -> Path:
        """Keep a handoff record whose write failed (who, why, what was collected)."""
        at = _utc(at)
        return self._put(HANDOFF, _key(conversation_id, at.isoformat()),
                         {"conversation_id": conversation_id, "reason": reason, "collected": collected,
                          "channel": channel}, at)

    def _put(self, kind: str, key: str, body: dict[str, Any], at: Optional[datetime]) -> Path:
        payload = {"kind": kind, "at": _utc(at).isoformat(), **body}
        path = self.dir / f"{kind}-{key}{SUFFIX}"
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.dir / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, json.dumps(payload, ensure_ascii=False, default=str).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            self._sync_dir()
        except OSError as exc:
            raise SpoolError(f"could not spool a {kind} into {self.dir}: {exc}") from exc
        log.warning("spooled a %s for conversation %s into %s (the database is unreachable)", kind,
                    payload.get("conversation_id") or payload["draft"]["conversation_id"], path.name)
        return path

    def _sync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- reading ------------------------------------------------------------

    def pending(self) -> list[Path]:
        """The spooled items, oldest first (rejected ones and unfinished temporary files excluded)."""
        if not self.dir.is_dir():
            return []
        items = []
        for p in self.dir.iterdir():
            if p.suffix != SUFFIX or p.name.startswith("."):
                continue
            try:
                stat = p.stat()  # another drainer may have just deleted it
            except FileNotFoundError:
                continue
            if p.is_file():
                items.append((stat.st_mtime, p.name, p))
        return [p for _, _, p in sorted(items)]

    def rejected(self) -> list[Path]:
        folder = self.dir / REJECTED
        return sorted(folder.glob("*" + SUFFIX)) if folder.is_dir() else []

    # -- draining -----------------------------------------------------------

    def drain(self, store: TicketStore) -> DrainReport:
        """Write every spooled item through `store` (its engine); stops at the first database error (the rest
        wait for the next pass)."""
        written = rejected = 0
        items = self.pending()
        for index, path in enumerate(items):
            try:
                with _locked(path) as payload:
                    if payload is None:  # another drainer has it, or it is gone already
                        continue
                    try:
                        _write(store, payload)
                    except TicketStoreError as exc:
                        self._reject(path, exc)
                        rejected += 1
                        continue
                    path.unlink(missing_ok=True)
                    self._sync_dir()
                    written += 1
            except _Unreadable as exc:
                self._reject(path, exc)
                rejected += 1
            except Exception as exc:  # the database is still down: keep everything, try again later
                log.warning("spool: %d item(s) wait for the database (%s)", len(items) - index,
                            type(exc).__name__)
                return DrainReport(written, len(self.pending()), rejected)
        if written or rejected:
            log.info("spool: %d item(s) written, %d rejected", written, rejected)
        return DrainReport(written, len(self.pending()), rejected)

    def _reject(self, path: Path, reason: Exception) -> None:
        folder = self.dir / REJECTED
        folder.mkdir(exist_ok=True, mode=0o700)
        try:
            os.replace(path, folder / path.name)
        except FileNotFoundError:
            return
        self._sync_dir()
        log.error("spool: %s set aside (%s); kept in %s for an operator", path.name, reason, folder)


class _Unreadable(ValueError):
    pass


class _locked:
    """Context: the file's payload under an exclusive non-blocking flock, None when another process holds it or it
    was deleted meanwhile. Raises _Unreadable for a file that is not a spooled item."""

    def __init__(self, path: Path) -> None:
        self.path, self.fd = path, None

    def __enter__(self) -> Optional[dict[str, Any]]:
        try:
            self.fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        if not self.path.exists():  # drained and deleted by the holder of the lock we waited for
            return None
        raw = os.read(self.fd, 1 << 24)
        try:
            payload = json.loads(raw)
            if payload.get("kind") not in (TICKET, HANDOFF):
                raise ValueError("unknown kind")
            return payload
        except ValueError as exc:
            raise _Unreadable(f"not a spooled item: {exc}") from None

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock


def _write(store: TicketStore, payload: dict[str, Any]) -> None:
    at = datetime.fromisoformat(payload["at"])
    timed = TicketStore(store.engine, tz=store.tz, clock=lambda: at)  # created when the citizen confirmed it
    if payload["kind"] == TICKET:
        ticket = timed.create_ticket(_draft_from_json(payload["draft"]))  # idempotent on the draft's request_key
        log.info("spool: ticket %s written for conversation %s", ticket.ticket_no, ticket.conversation_id)
        return
    with store.engine.connect() as conn:  # written before a crash, not yet deleted: not a second time
        done = conn.execute(select(handoffs.c.id).where(
            handoffs.c.conversation_id == payload["conversation_id"], handoffs.c.created_at == at,
            handoffs.c.reason == payload["reason"])).first()
    if done is None:
        timed.record_handoff(payload["conversation_id"], payload["reason"], payload.get("collected") or {},
                             payload["channel"])


async def keep_draining(spool: Spool, store: Callable[[], TicketStore], every_s: float,
                        stop: Optional[asyncio.Event] = None) -> None:
    """Drain `spool` now and every `every_s` seconds until `stop` is set (or the task is cancelled)."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        if spool.pending():
            try:
                await asyncio.to_thread(spool.drain, store())
            except Exception:  # never let the drainer die: the next pass tries again
                log.exception("spool: drain pass failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=every_s)
        except asyncio.TimeoutError:
            pass


def iter_payloads(spool: Spool) -> Iterator[dict[str, Any]]:
    """The spooled items' contents (for `seat spool` and tests)."""
    for path in spool.pending():
        try:
            yield json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
