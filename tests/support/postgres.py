"""A throwaway PostgreSQL cluster: initdb + pg_ctl on a free port in a temp dir."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_bin_dir() -> Path:
    override = os.environ.get("TICKETFORGE_PG_BIN")
    candidates = [override] if override else sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    for candidate in reversed(candidates):
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError(
        "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH); "
        "install Debian's postgresql package or set TICKETFORGE_PG_BIN"
    )


class ThrowawayPostgres:
    """Runs as the `postgres` OS user when we are root (initdb refuses to run as root)."""

    def __init__(self) -> None:
        self.bin = find_bin_dir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="tf-pg-"))
        self.data = self.root / "data"
        self.user = "postgres"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str | Path) -> None:
        cmd = [str(a) for a in args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> ThrowawayPostgres:
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
        self._run(
            self.bin / "initdb",
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        self.start_server()
        return self

    @property
    def options(self) -> str:
        return (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )

    def _pg_ctl(self, action: str, *args: str) -> None:
        self._run(
            self.bin / "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            self.options,
            "-l",
            str(self.root / "log"),
            *args,
            "-w",
            action,
        )

    def start_server(self) -> None:
        """Start the (initialised) cluster's server; wait until it accepts connections."""
        self._pg_ctl("start")

    def stop_server(self) -> None:
        """Stop the server (`-m fast`: sessions are disconnected), keep the cluster."""
        self._pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is cut, the server comes back."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        try:
            self._run(self.bin / "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self) -> str:
        import psycopg

        name = f"tf_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def conninfo(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={dbname}"
