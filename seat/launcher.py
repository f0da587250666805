"""Run every service of the seat in the foreground with prefixed logs; Ctrl-C stops them all."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Sequence
from urllib.parse import urlparse

import aiohttp

COLOURS = ["\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m", "\033[31m"]
RESET = "\033[0m"


@dataclass
class Service:
    """One process of the seat: its command, and a URL that answers once it is ready."""

    name: str
    argv: Sequence[str]
    ready_url: str | None = None
    listens: str = ""
    env: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 600.0


class Launcher:
    """Starts services, relays their output line by line, stops all when one stops or on a signal."""

    def __init__(self, services: Sequence[Service], colour: bool | None = None) -> None:
        self.services = list(services)
        self.colour = sys.stdout.isatty() if colour is None else colour
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self._stopping = asyncio.Event()
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

    async def _relay(self, name: str, stream: asyncio.StreamReader) -> None:
        prefix = self._prefix[name]
        while True:
            line = await stream.readline()
            if not line:
                return
            sys.stdout.write(prefix + line.decode("utf-8", "replace").rstrip() + "\n")
            sys.stdout.flush()

    async def _start(self, svc: Service) -> asyncio.Task:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **svc.env}
        proc = await asyncio.create_subprocess_exec(
            *svc.argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group: we signal the whole tree
        )
        self.procs[svc.name] = proc
        self.say(f"started {svc.name} (pid {proc.pid})")
        assert proc.stdout is not None
        return asyncio.create_task(self._relay(svc.name, proc.stdout))

    async def _wait_ready(self, svc: Service) -> bool:
        if not svc.ready_url:
            return True
        deadline = time.monotonic() + svc.ready_timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
            while time.monotonic() < deadline and not self._stopping.is_set():
                proc = self.procs[svc.name]
                if proc.returncode is not None:
                    return False
                try:
                    async with http.get(svc.ready_url) as resp:
                        if resp.status < 500:
                            return True
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(1.0)
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
        for proc in self.procs.values():
            if proc.returncode is None:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every service, then SIGKILL what is still running after `grace` seconds."""
        self._stopping.set()
        self._signal_all(signal.SIGTERM)
        waits = [p.wait() for p in self.procs.values()]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), grace)
        except asyncio.TimeoutError:
            self.say("some services did not stop in time; killing them")
            self._signal_all(signal.SIGKILL)
            await asyncio.gather(*waits)

    async def run(self) -> int:
        """Start all services in order, print where they listen, and wait until one exits or a signal."""
        busy = self.busy_ports()
        if busy:
            self.say(f"cannot start: already in use: {', '.join(busy)}. Is another seat running? "
                     "Stop it, or set RASA_PORT / ACTION_PORT.")
            return 2
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping.set)
        relays = []
        exit_code = 0
        for svc in self.services:
            relays.append(await self._start(svc))
        for svc in self.services:
            self.say(f"waiting for {svc.name} to be ready ...")
            if not await self._wait_ready(svc):
                if not self._stopping.is_set():
                    self.say(f"{svc.name} did not become ready; stopping everything")
                    exit_code = 1
                break
            self.say(f"{svc.name} ready: {svc.listens}")
        else:
            self.say("all services are up:")
            for svc in self.services:
                self.say(f"  {svc.name:<8} {svc.listens}")
            self.say("press Ctrl-C to stop")
        waiters = [asyncio.create_task(p.wait()) for p in self.procs.values()]
        stop_task = asyncio.create_task(self._stopping.wait())
        done, _ = await asyncio.wait([stop_task, *waiters], return_when=asyncio.FIRST_COMPLETED)
        if stop_task not in done:
            dead = [n for n, p in self.procs.items() if p.returncode is not None]
            self.say(f"{', '.join(dead)} exited; stopping the others")
            exit_code = exit_code or 1
        self.say("stopping all services ...")
        await self.stop()
        stop_task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)
        self.say("all services stopped")
        return exit_code
