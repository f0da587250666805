"""Run every service of the seat in the foreground with prefixed logs, and keep them running.

Supervision (issue 14): a service that exits is restarted with exponential backoff (1 s, 2 s, 4 s ... capped at
30 s; back to 1 s once it stayed up for a minute), said loudly on the launcher's output; the other services keep
serving. A service that crashes `CRASH_LIMIT` times within `CRASH_WINDOW_S` is given up and reported (the rest
keep running; `seat status` shows it as failed). Every child dies with the launcher: SIGINT, SIGTERM and SIGHUP
stop them all; each child asks the kernel for SIGTERM when the launcher dies (`prctl(PR_SET_PDEATHSIG)`), and a
tiny guard process (`seat.guard`) kills the children's whole process groups (grandchildren included) when the
launcher is gone, even after `kill -9`. The log relay reads chunks and splits lines itself, so a child printing
one very long line is cut with a marker instead of stalling.
"""
from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlparse

import aiohttp

COLOURS = ["\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m", "\033[31m"]
RESET = "\033[0m"

BACKOFF_FIRST_S = 1.0  # first restart delay; doubles per crash in a row
BACKOFF_MAX_S = 30.0  # longest restart delay
STABLE_AFTER_S = 60.0  # up this long: the next crash starts the backoff from the first delay again
CRASH_LIMIT = 5  # crashes within CRASH_WINDOW_S: the service is given up (crash loop)
CRASH_WINDOW_S = 120.0
MAX_LINE = 16 * 1024  # longer log lines are cut (the rest is dropped) with CUT_MARKER
CUT_MARKER = " …[line cut: {n} bytes]"
READ_CHUNK = 64 * 1024

PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class Service:
    """One process of the seat: its command, and a URL that answers once it is ready (and says its health)."""

    name: str
    argv: Sequence[str]
    ready_url: str | None = None
    listens: str = ""
    env: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 600.0
    health_url: str | None = None  # what `seat status` asks (default: ready_url)


@dataclass
class Supervision:
    """The restart policy (defaults above; tests shorten them)."""

    backoff_first_s: float = BACKOFF_FIRST_S
    backoff_max_s: float = BACKOFF_MAX_S
    stable_after_s: float = STABLE_AFTER_S
    crash_limit: int = CRASH_LIMIT
    crash_window_s: float = CRASH_WINDOW_S

    def delay(self, crashes_in_a_row: int) -> float:
        """Seconds before restart number `crashes_in_a_row` (1-based) of a run of crashes."""
        return min(self.backoff_max_s, self.backoff_first_s * 2 ** max(0, crashes_in_a_row - 1))


@dataclass
class ServiceState:
    """What the launcher knows of one service (written to the state file for `seat status`)."""

    pid: int | None = None
    state: str = "starting"  # starting, up, restarting, failed, stopped
    restarts: int = 0
    last_exit: int | None = None
    started_at: float = 0.0
    crashes: list[float] = field(default_factory=list)  # monotonic times of recent crashes
    in_a_row: int = 0


def _parent_death_signal(parent: int) -> Callable[[], None]:
    """preexec_fn of a child: SIGTERM when the launcher dies (Linux); exit at once if it already died."""
    # resolved here, in the parent: the child (between fork and exec) only makes the call
    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
    sigterm = int(signal.SIGTERM)

    def arm() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:  # the launcher died between fork and prctl
            os._exit(1)

    return arm


class LineRelay:
    """Splits a child's output into lines of at most `max_line` bytes, whatever it prints."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._head = bytearray()
        self._dropped = 0

    def feed(self, chunk: bytes) -> list[str]:
        out: list[str] = []
        while chunk:
            end = chunk.find(b"\n")
            part, chunk = (chunk, b"") if end < 0 else (chunk[:end], chunk[end + 1:])
            room = self.max_line - len(self._head)
            self._head.extend(part[:max(0, room)])
            self._dropped += max(0, len(part) - max(0, room))
            if end >= 0:
                out.append(self._line())
        return out

    def flush(self) -> list[str]:
        return [self._line()] if self._head or self._dropped else []

    def _line(self) -> str:
        text = self._head.decode("utf-8", "replace").rstrip()
        if self._dropped:
            text += CUT_MARKER.format(n=len(self._head) + self._dropped)
        self._head, self._dropped = bytearray(), 0
        return text


class Launcher:
    """Starts services, relays their output, restarts the ones that exit, stops all on a signal."""

    def __init__(self, services: Sequence[Service], colour: bool | None = None, *,
                 state_path: Path | None = None, supervision: Supervision | None = None) -> None:
        self.services = list(services)
        self.colour = sys.stdout.isatty() if colour is None else colour
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.states: dict[str, ServiceState] = {s.name: ServiceState() for s in self.services}
        self.state_path = state_path
        self.policy = supervision or Supervision()
        self._stopping = asyncio.Event()
        self._guard: asyncio.subprocess.Process | None = None
        self._relays: list[asyncio.Task] = []
        self._announcers: list[asyncio.Task] = []
        width = max(len(s.name) for s in self.services)
        self._prefix = {
            s.name: (COLOURS[i % len(COLOURS)] if self.colour else "")
            + s.name.ljust(width)
            + (RESET if self.colour else "")
            + " | "
            for i, s in enumerate(self.services)
        }

    def say(self, text: str) -> None:
        print(f"seat | {text}", flush=True)

    # --- output -------------------------------------------------------------------------------------------
    async def _relay(self, name: str, stream: asyncio.StreamReader) -> None:
        """Copy the child's output, prefixed, line by line; never stops reading before EOF (a full pipe would
        hang the child)."""
        prefix = self._prefix[name]
        lines = LineRelay()
        while True:
            chunk = await stream.read(READ_CHUNK)
            out = lines.feed(chunk) if chunk else lines.flush()
            if out:
                sys.stdout.write("".join(prefix + line + "\n" for line in out))
                sys.stdout.flush()
            if not chunk:
                return

    # --- state file ---------------------------------------------------------------------------------------
    def write_state(self) -> None:
        """The services' pids, states and restarts, for `seat status` (atomically replaced)."""
        if self.state_path is None:
            return
        data = {
            "launcher_pid": os.getpid(),
            "updated": time.time(),
            "services": [
                {"name": s.name, "pid": self.states[s.name].pid, "state": self.states[s.name].state,
                 "restarts": self.states[s.name].restarts, "last_exit": self.states[s.name].last_exit,
                 "health_url": s.health_url or s.ready_url, "listens": s.listens}
                for s in self.services
            ],
        }
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(f".{self.state_path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def _set(self, name: str, **changes: object) -> None:
        state = self.states[name]
        for key, value in changes.items():
            setattr(state, key, value)
        try:
            self.write_state()
        except OSError as exc:  # the state file is for `seat status`: never a reason to stop serving
            self.say(f"cannot write the state file {self.state_path}: {exc}")

    # --- processes ----------------------------------------------------------------------------------------
    async def _start_guard(self) -> None:
        """The guard kills every child's process group when the launcher dies (its stdin closes)."""
        self._guard = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "seat.guard", stdin=asyncio.subprocess.PIPE, start_new_session=True,
        )

    def _tell_guard(self, verb: str, pgid: int) -> None:
        if self._guard is not None and self._guard.stdin is not None and not self._guard.stdin.is_closing():
            self._guard.stdin.write(f"{verb} {pgid}\n".encode())

    async def _stop_guard(self) -> None:
        if self._guard is None:
            return
        if self._guard.stdin is not None:
            self._guard.stdin.close()
        try:
            await asyncio.wait_for(self._guard.wait(), 10)
        except asyncio.TimeoutError:
            self._guard.kill()
            await self._guard.wait()

    async def _start(self, svc: Service) -> asyncio.subprocess.Process:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **svc.env}
        proc = await asyncio.create_subprocess_exec(
            *svc.argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # own process group: we signal the whole tree
            preexec_fn=_parent_death_signal(os.getpid()),
        )
        self.procs[svc.name] = proc
        self._tell_guard("add", proc.pid)
        if self._stopping.is_set():  # stopped while it was being started: it goes with the others
            self._kill_group(proc.pid, signal.SIGTERM)
        self._set(svc.name, pid=proc.pid, started_at=time.monotonic())
        self.say(f"started {svc.name} (pid {proc.pid})")
        assert proc.stdout is not None
        self._relays.append(asyncio.create_task(self._relay(svc.name, proc.stdout)))
        return proc

    @staticmethod
    def _kill_group(pgid: int, sig: int) -> None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def _supervise(self, svc: Service) -> None:
        """Run `svc`, restarting it when it exits, until the launcher stops or the service is given up."""
        policy = self.policy
        while not self._stopping.is_set():
            proc = self.procs.get(svc.name)
            if proc is None:
                try:
                    proc = await self._start(svc)
                except OSError as exc:  # e.g. the program vanished: counts as a crash
                    self.say(f"!!! cannot start {svc.name}: {exc}")
                    proc = None
            code = await proc.wait() if proc is not None else None
            if proc is not None:
                self._kill_group(proc.pid, signal.SIGKILL)  # what it left behind (workers) must not hold its port
                self._tell_guard("del", proc.pid)
                self.procs.pop(svc.name, None)
            state = self.states[svc.name]
            if self._stopping.is_set():
                self._set(svc.name, state="stopped", last_exit=code, pid=None)
                return
            now = time.monotonic()
            if now - state.started_at >= policy.stable_after_s:
                state.in_a_row = 0
            state.in_a_row += 1
            state.crashes = [t for t in state.crashes if now - t < policy.crash_window_s] + [now]
            if len(state.crashes) >= policy.crash_limit:
                self._set(svc.name, state="failed", last_exit=code, pid=None)
                self.say(f"!!! {svc.name} exited (code {code}) {len(state.crashes)} times within "
                         f"{policy.crash_window_s:.0f} s: giving up on it; the other services keep running. "
                         f"See its log above; `seat status` shows it as failed.")
                return
            delay = policy.delay(state.in_a_row)
            self._set(svc.name, state="restarting", last_exit=code, pid=None, restarts=state.restarts + 1)
            self.say(f"!!! {svc.name} exited (code {code}); restarting in {delay:g} s "
                     f"(restart {state.restarts})")
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
                return
            except asyncio.TimeoutError:
                pass
            if self._stopping.is_set():
                return
            try:
                await self._start(svc)
            except OSError as exc:
                self.say(f"!!! cannot start {svc.name}: {exc}")
                continue
            self._announcers.append(asyncio.create_task(self._announce_back(svc)))

    async def _announce_back(self, svc: Service) -> None:
        if await self._wait_ready(svc):
            self._set(svc.name, state="up")
            self.say(f"{svc.name} is back: {svc.listens}")

    async def _wait_ready(self, svc: Service) -> bool:
        """True once the service answers its ready URL (a 503 health answer counts: it runs, but a dependency
        is down); False on timeout, stop, or when it was given up."""
        deadline = time.monotonic() + svc.ready_timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
            while time.monotonic() < deadline and not self._stopping.is_set():
                if self.states[svc.name].state == "failed":
                    return False
                proc = self.procs.get(svc.name)
                if proc is not None and proc.returncode is None:
                    if not svc.ready_url:
                        return True
                    try:
                        async with http.get(svc.ready_url) as resp:
                            if resp.status < 500 or resp.status == 503:
                                return True
                    except (aiohttp.ClientError, asyncio.TimeoutError):
                        pass
                await asyncio.sleep(0.5)
        return False

    def busy_ports(self) -> list[str]:
        """Services whose port already answers (another seat running?): they could not start."""
        busy = []
        for svc in self.services:
            if not svc.ready_url:
                continue
            url = urlparse(svc.ready_url)
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex((url.hostname or "127.0.0.1", url.port or 80)) == 0:
                    busy.append(f"{svc.name} (port {url.port})")
        return busy

    def _signal_all(self, sig: int) -> None:
        for proc in list(self.procs.values()):
            self._kill_group(proc.pid, sig)

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every service (its whole process group), then SIGKILL what still runs after `grace` s."""
        self._stopping.set()
        self._signal_all(signal.SIGTERM)
        waits = [p.wait() for p in list(self.procs.values())]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), grace)
        except asyncio.TimeoutError:
            self.say("some services did not stop in time; killing them")
            self._signal_all(signal.SIGKILL)
            await asyncio.gather(*waits)

    async def run(self) -> int:
        """Start all services in order, print where they listen, keep them running until a signal."""
        busy = self.busy_ports()
        if busy:
            self.say(f"cannot start: already in use: {', '.join(busy)}. Is another seat running? "
                     "Stop it, or set RASA_PORT / ACTION_PORT.")
            return 2
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self._stopping.set)
        await self._start_guard()
        exit_code = 0
        supervisors = []
        for svc in self.services:
            await self._start(svc)
            supervisors.append(asyncio.create_task(self._supervise(svc)))
        for svc in self.services:
            self.say(f"waiting for {svc.name} to be ready ...")
            if not await self._wait_ready(svc):
                if not self._stopping.is_set():
                    self.say(f"{svc.name} did not become ready; stopping everything")
                    exit_code = 1
                    self._stopping.set()
                break
            self._set(svc.name, state="up")
            self.say(f"{svc.name} ready: {svc.listens}")
        else:
            self.say("all services are up:")
            for svc in self.services:
                self.say(f"  {svc.name:<9} {svc.listens}")
            self.say("press Ctrl-C to stop")
        await self._stopping.wait()
        if any(s.state == "failed" for s in self.states.values()):
            exit_code = exit_code or 1
        self.say("stopping all services ...")
        await self.stop()
        await asyncio.gather(*supervisors, *self._announcers, return_exceptions=True)
        await asyncio.gather(*self._relays, return_exceptions=True)
        await self._stop_guard()
        self.say("all services stopped")
        return exit_code
