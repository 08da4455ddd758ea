"""The processes a bench run starts (a uvicorn server, the load generator, the services' workers and
the sinks), and the CPU accounting of the processes around them.

Every child gets ``PR_SET_PDEATHSIG``, so it is killed by the kernel even if the bench itself is
SIGKILLed; on any normal exit (Ctrl-C, error, end) ``Child.stop`` terminates the child's whole
process group and waits for it.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel for SIGKILL when the bench process dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    """A child process of the bench: its own process group (Ctrl-C reaches the bench only, which then
    stops its children in order), ``PR_SET_PDEATHSIG`` (killed by the kernel if the bench dies), its
    output in a log file. ``pid`` is the process whose memory and CPU are measured."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name, self.log_path = name, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Child:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError

    def spawn(self, cmd: list[str], env: dict[str, str], *, pipes: bool = False) -> subprocess.Popen[bytes]:
        """Start ``cmd`` in the repository; with ``pipes``, stdin and stdout are pipes to the bench
        (stderr still goes to the log)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env={**os.environ, **env},
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else log,
                stderr=log if pipes else subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C reaches us, and we stop it in order
                preexec_fn=_die_with_parent,
            )
        return self.proc

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        except ProcessLookupError:
            pass

    def memory_kib(self) -> dict[str, int]:
        """VmHWM (peak resident set) and VmRSS of the process, from /proc/PID/status."""
        assert self.proc is not None
        found = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                found[key] = int(value.split()[0])
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        assert self.proc is not None
        return process_cpu_seconds(self.proc.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Server(Child):
    """``uvicorn APP --factory --workers 1`` on uvloop + httptools, access log off, log level warning.

    With one worker uvicorn serves in the process it was started as (no supervisor), so ``pid`` is the
    process whose memory and CPU are measured.
    """

    def __init__(self, name: str, app: str, env: dict[str, str], log_path: Path) -> None:
        super().__init__(name, log_path)
        self.app, self.env = app, env
        self.port = free_port()

    def __enter__(self) -> Server:
        self.start()
        return self

    def start(self, timeout: float = 30.0) -> None:
        cmd = [
            sys.executable, "-m", "uvicorn", self.app, "--factory", "--workers", "1",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        self.spawn(cmd, self.env)
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.log_tail()}")


class WorkerChild(Child):
    """A service's worker, ``python -m MODULE`` (arq serves in that very process: its pid is measured),
    ready once every one of its queues' arq health-check keys exists."""

    def __init__(
        self,
        name: str,
        module: str,
        env: dict[str, str],
        log_path: Path,
        health_keys: list[str],
        redis_url: str,
    ) -> None:
        super().__init__(name, log_path)
        self.module, self.env, self.health_keys, self.redis_url = module, env, health_keys, redis_url

    def start(self, timeout: float = 60.0) -> None:
        self.spawn([sys.executable, "-m", self.module], self.env)
        client = redis.Redis.from_url(self.redis_url)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
                if client.exists(*self.health_keys) == len(self.health_keys):  # set once per poll loop pass
                    return
                time.sleep(0.1)
        finally:
            client.close()
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.log_tail()}")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime


def pids_with_cmdline(*needles: bytes) -> list[int]:
    """Processes whose command line (or process title) contains every one of ``needles``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if all(n in cmdline for n in needles):
            found.append(int(proc.name))
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy so far, summed over cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _CLOCK_TICKS  # all but idle and iowait; no guest


def postgres_backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend serving ``database``, by pid; backends are
    recognised by their process title ("postgres: 15/main: USER DATABASE HOST(PORT) STATE")."""
    found = {}
    needle = f" {database} ".encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            title = (proc / "cmdline").read_bytes()
            if not title.startswith(b"postgres: ") or needle not in title:
                continue
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        found[int(proc.name)] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return found


def postgres_background_cpu() -> dict[int, float]:
    """CPU seconds used so far by PostgreSQL's own processes, by pid: the postmaster and the background
    processes (WAL writer, checkpointer, background writer, autovacuum...) that a write-heavy run keeps
    busy. Client backends (their titles name a client address) are not counted, whatever database."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            title = (proc / "cmdline").read_bytes()
            postmaster = b"/bin/postgres\0" in title
            if not (postmaster or title.startswith(b"postgres: ")):
                continue
            if not postmaster and (b"[local]" in title or _CLIENT_ADDRESS.search(title)):
                continue  # a client backend
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        found[int(proc.name)] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return found


_CLIENT_ADDRESS = re.compile(rb" [0-9a-fA-F.:]+\(\d+\)")  # "127.0.0.1(43644)" in a backend's title


def run_loadgen(spec_path: Path, *options: str, timeout: float = 120.0) -> dict[str, Any]:
    """Run ``bench.loadgen`` in its own process (its timings stay clear of this process's work)."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", str(spec_path), *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_die_with_parent,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"loadgen failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)
