"""Throwaway servers for fault tests: a PostgreSQL cluster (initdb + pg_ctl on a temp dir and a free port), a Redis
server (no persistence), and a TCP proxy whose link can be cut. Each is started by the test and stopped by it; none
touches the machine's own PostgreSQL (5432) or Redis (6379)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + argv
    return argv


def _bin(name: str) -> str:
    found = PG_BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


class ThrowawayPostgres:
    """A PostgreSQL cluster of the test's own: `start()`, `stop()` (fast shutdown: clients are cut), `restart()`."""

    def __init__(self) -> None:
        # a directory of its own under /tmp: pytest's temp dirs are private to root, where postgres cannot reach
        self.root = Path(tempfile.mkdtemp(prefix="seat-faults-pg-"))
        self.data = self.root / "pgdata"
        self.sock = self.root / "sock"
        self.port = free_port()
        self.sock.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")
        subprocess.run(_as_postgres([_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                                     "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        subprocess.run(_as_postgres([
            _bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
            "-o", f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]),
            check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(_as_postgres([_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"]),
                       capture_output=True)

    def remove(self) -> None:
        """Stop the server and delete its cluster."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def createdb(self, name: str) -> str:
        subprocess.run([_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
                       check=True, capture_output=True)
        return self.database_url(name)


class ThrowawayRedis:
    """A redis-server on a free port without persistence; `stop()` / `start()` again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(20)
            self.proc = None


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_port`; `cut()` closes every link and refuses new ones (the database is
    unreachable), `restore()` accepts again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._links: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server: Optional[socket.socket] = None
        self.restore()

    def restore(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            try:
                server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            server.close()
        with self._lock:
            links, self._links = self._links, []
        for s in links:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    close = cut

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def recording_worker_main() -> None:
    """A callback worker process running the service's loop (`CallbackWorker.run`), whose dialer writes each call's
    start and end to PHONE_LOG (the citizen's phone, seen from outside). HANG=1: its calls never end (the test kills
    it mid-call); else the callee answers the survey at once. Stops on SIGTERM."""
    import asyncio
    import signal as _signal
    import sys

    from callbacks.dialers import CallResult
    from callbacks.worker import CallbackWorker
    from ground.db import create_engine
    from ground.settings import Settings
    from ground.store.surveys import complete
    from ground.tables.tickets import utcnow

    settings = Settings.from_env()
    engine = create_engine(settings.db.url)
    name, hang, log = os.environ["WORKER_ID"], os.environ.get("HANG") == "1", Path(os.environ["PHONE_LOG"])

    def phone(event: str, request) -> None:
        with log.open("a") as f:
            f.write(f"{time.time():.3f} {name} {event} {request.attempt_id} {request.ticket_no}\n")
            f.flush()
            os.fsync(f.fileno())

    class RecordingDialer:
        async def call(self, request) -> CallResult:
            phone("ring", request)
            try:
                if hang:
                    await asyncio.Event().wait()
                await asyncio.to_thread(complete, engine, request.attempt_id, {
                    "survey_contacted": True, "survey_resolved": True, "survey_satisfaction": "satisfied"}, utcnow())
                return CallResult("answered")
            finally:
                phone("hangup", request)

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(_signal.SIGTERM, stop.set)
        worker = CallbackWorker(engine, RecordingDialer(), settings.callbacks.policy, worker_id=name)
        print("ready", flush=True)
        await worker.run(stop, idle_s=0.2, schedule_every_s=1.0)

    asyncio.run(main())
    sys.exit(0)
