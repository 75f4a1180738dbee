"""A throwaway PostgreSQL server for tests and benchmarks (the Debian ``postgresql``
package's ``initdb`` and ``pg_ctl``; no system service, nothing outside a temporary
directory)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bindir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: on the PATH, or the newest Debian
    ``/usr/lib/postgresql/N/bin``."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parent.parent.name)
                        if Path(p).parent.parent.name.isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


class PostgresServer:
    """A throwaway PostgreSQL server: ``initdb`` + ``pg_ctl`` (the Debian ``postgresql``
    package) in a temporary directory, listening on 127.0.0.1 only, stopped and deleted by
    :meth:`stop`.

    PostgreSQL refuses to run as root; as root the server runs as the ``postgres`` user the
    package creates (else ``nobody``), via ``runuser``. ``fsync`` is off unless asked for: a
    killed or restarted *server* loses nothing with it off (the WAL is in the OS's cache),
    only a power cut would.
    """

    def __init__(self, *, fsync: bool = False, port: int | None = None) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bindir = bindir
        self.fsync = fsync
        self.port = port or _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="banditbot-pg-"))
        self.data = self.dir / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                user = pwd.getpwnam("nobody")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", user.pw_name, "--"]
        self.url = f"postgresql://banditbot@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.prefix, *args], capture_output=True, text=True,
                                timeout=120, check=False)
        if result.returncode != 0:
            log = self.dir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stderr}{result.stdout}\n{tail}")

    def start(self) -> PostgresServer:
        if not self.data.exists():
            self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust",
                      "-U", "banditbot", "-E", "UTF8", "--no-sync", "--no-instructions")
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   f"-c max_connections=300 -c fsync={'on' if self.fsync else 'off'} "
                   "-c shared_preload_libraries=pg_stat_statements")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.dir / "server.log"), "-w", "-t", "60", "-o", options, "start")
        return self

    def stop(self, mode: str = "fast", *, delete: bool = True) -> None:
        """Stop the server (``fast``: clean; ``immediate``: like a crash); delete it too."""
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                      "stop")
        if delete:
            shutil.rmtree(self.dir, ignore_errors=True)
