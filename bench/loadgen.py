"""A small, cheap HTTP/1.1 load generator: asyncio on uvloop, raw streams, keep-alive connections.

It shares a 2-core machine with the server under test, so it does as little as possible per request:
requests are pre-encoded templates with a fixed-width counter spliced in, and a response is parsed by
its status line and Content-Length only (no chunked encoding; both benched apps send Content-Length).

Modes:

* ``closed``: N connections; each sends its next request as soon as the previous answer arrived.
  Reports throughput and latency of the responses that completed inside the measured window.
* ``open``: requests are due at fixed times ``t0 + i / rate`` whatever the answers do; a due request
  takes an idle connection, or opens a new one (up to ``--max-connections``), or waits in line.
  Latency runs from the *scheduled* time, so a stalled server shows up in the tail instead of
  silently slowing the sender down (no coordinated omission).

The spec (a JSON file) names the target and the request bodies::

    {"host": "127.0.0.1", "port": 8000, "path": "/v1/registrations",
     "headers": {"Authorization": "Bearer …"}, "bodies": ["{… \\"phone\\": \\"091%N%\\" …}", …]}

Request ``n`` uses body ``n % len(bodies)`` with every ``%N%`` replaced by ``n`` on 7 digits.
Prints one JSON object (see ``Stats.report``) on stdout.

    python -m bench.loadgen spec.json --mode open --rate 200 --warmup 2 --duration 15
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import math
import resource
import sys
import time
from typing import Any

import uvloop

# uvloop's loop.time() is libuv's cached millisecond clock: far too coarse for latencies.
now = time.perf_counter

MARK = b"%N%"
WIDTH = 7  # digits of the counter: unique bodies for 10 million requests
COUNTER = b"%%0%dd" % WIDTH


class Requests:
    """Pre-encoded requests; ``next()`` costs one template lookup and a bytes join."""

    def __init__(self, spec: dict[str, Any], start: int) -> None:
        extra = "".join(f"{k}: {v}\r\n" for k, v in spec.get("headers", {}).items())
        self._templates: list[tuple[bytes, list[bytes]]] = []
        for body in spec["bodies"]:
            parts = body.encode("utf-8").split(MARK)
            length = sum(map(len, parts)) + (len(parts) - 1) * WIDTH
            head = (
                f"POST {spec['path']} HTTP/1.1\r\nHost: {spec['host']}:{spec['port']}\r\n{extra}"
                f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
            ).encode("latin-1")
            self._templates.append((head, parts))
        self.n = start

    def next(self) -> bytes:
        n = self.n
        self.n += 1
        head, parts = self._templates[n % len(self._templates)]
        return head + (COUNTER % (n % 10**WIDTH)).join(parts)


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.closing = False  # the server said "Connection: close"

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def exchange(self, request: bytes) -> int:
        """Send one request, read its whole response; returns the status code."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        at = lowered.find(b"\r\ncontent-length:")
        if at < 0:
            raise ValueError("response without Content-Length")
        end = lowered.index(b"\r\n", at + 17)
        length = int(lowered[at + 17 : end])
        if length:
            await self.reader.readexactly(length)
        self.closing = b"\r\nconnection: close" in lowered
        return status

    def stale(self) -> bool:
        """True once the server closed it or said it would (uvicorn drops connections idle for 5 s)."""
        return self.closing or self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError)


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []  # seconds, measured window only (open loop: failures too)
        self.ok = 0  # 2xx answers in the measured window: what throughput counts
        self.statuses: collections.Counter[int] = collections.Counter()  # measured window
        self.statuses_all: collections.Counter[int] = collections.Counter()  # warm-up included
        self.errors: collections.Counter[str] = collections.Counter()  # warm-up included
        self.connections_opened = 0

    def answered(self, status: int, latency: float, measured: bool) -> None:
        self.statuses_all[status] += 1
        if measured:
            self.statuses[status] += 1
            self.ok += 200 <= status < 300
            self.latencies.append(latency)

    def report(self, window: float, **extra: Any) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return round(lat[max(0, math.ceil(q * len(lat)) - 1)] * 1000, 3) if lat else None

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "completed": sum(self.statuses.values()),
            "ok": self.ok,
            "throughput_rps": round(self.ok / window, 1),
            "latency_ms": {
                "p50": pct(0.50),
                "p90": pct(0.90),
                "p99": pct(0.99),
                "p999": pct(0.999),
                "max": round(lat[-1] * 1000, 3) if lat else None,
                "mean": round(sum(lat) / len(lat) * 1000, 3) if lat else None,
            },
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "statuses_all": {str(k): v for k, v in sorted(self.statuses_all.items())},
            "errors": dict(self.errors),
            "connections_opened": self.connections_opened,
            "loadgen_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            **extra,
        }


async def closed_loop(spec: dict[str, Any], requests: Requests, args: argparse.Namespace) -> dict[str, Any]:
    stats = Stats()
    measure_from = now() + args.warmup
    end = measure_from + args.duration

    async def client() -> None:
        conn: Connection | None = None
        while now() < end:
            try:
                if conn is not None and conn.stale():
                    conn.close()
                    conn = None
                if conn is None:
                    conn = await Connection.open(spec["host"], spec["port"])
                    stats.connections_opened += 1
                started = now()
                async with asyncio.timeout(args.timeout):  # a timer handle, not a task per request
                    status = await conn.exchange(requests.next())
            except ERRORS as exc:
                stats.errors[type(exc).__name__] += 1
                if conn is not None:
                    conn.close()
                conn = None
                continue
            done = now()
            stats.answered(status, done - started, measure_from <= done <= end)
        if conn is not None:
            conn.close()

    await asyncio.gather(*(client() for _ in range(args.connections)))
    return stats.report(args.duration, mode="closed", connections=args.connections, next_counter=requests.n)


async def open_loop(spec: dict[str, Any], requests: Requests, args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats = Stats()
    idle: list[Connection] = []
    waiting: collections.deque[float] = collections.deque()  # due times with no connection free yet
    tasks: set[asyncio.Task[None]] = set()
    opened = peak_opened = peak_waiting = 0

    for _ in range(args.connections):  # a few warm connections; more are opened on demand
        idle.append(await Connection.open(spec["host"], spec["port"]))
        stats.connections_opened += 1
        opened = peak_opened = opened + 1

    t0 = now() + 0.05
    measure_from = t0 + args.warmup
    total = round((args.warmup + args.duration) * args.rate)

    async def run(conn: Connection | None, due: float) -> None:
        """Serve ``due``, then whatever queued up meanwhile, then go idle."""
        nonlocal opened
        while True:
            try:
                if conn is not None and conn.stale():
                    conn.close()
                    conn = None
                if conn is None:
                    conn = await Connection.open(spec["host"], spec["port"])
                    stats.connections_opened += 1
                async with asyncio.timeout(args.timeout):
                    status = await conn.exchange(requests.next())
            except ERRORS as exc:
                stats.errors[type(exc).__name__] += 1
                if due >= measure_from:  # a failure is no faster than its wait: keep it in the tail
                    stats.latencies.append(now() - due)
                if conn is not None:
                    conn.close()
                conn = None
            else:
                # From the scheduled time, not the send time: waiting for a connection counts.
                stats.answered(status, now() - due, due >= measure_from)
            if not waiting:
                break
            due = waiting.popleft()
        if conn is not None:
            idle.append(conn)
        else:  # its connection broke: free the slot
            opened -= 1

    for i in range(total):
        due = t0 + i / args.rate
        # Timers have millisecond resolution and may fire a little early: never send before ``due``.
        while (delay := due - now()) > 0:  # noqa: ASYNC110 (a clock, not a condition to wait for)
            await asyncio.sleep(delay)
        if idle:
            conn: Connection | None = idle.pop()
        elif opened < args.max_connections:
            conn, opened = None, opened + 1
            peak_opened = max(peak_opened, opened)
        else:
            waiting.append(due)
            peak_waiting = max(peak_waiting, len(waiting))
            continue
        task = loop.create_task(run(conn, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # Let the stragglers finish; whatever is still pending after the timeout counts as timed out.
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=args.timeout + 1)
        for task in pending:
            task.cancel()
        if pending or waiting:
            stats.errors["Unfinished"] += len(pending) + len(waiting)
            stats.latencies += [now() - due for due in waiting if due >= measure_from]
    for conn in idle:
        conn.close()
    return stats.report(
        args.duration,
        mode="open",
        rate=args.rate,
        scheduled=total,
        max_connections_used=peak_opened,
        peak_waiting=peak_waiting,
        next_counter=requests.n,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("spec", help="JSON file: host, port, path, headers, bodies")
    p.add_argument("--mode", choices=("closed", "open"), required=True)
    p.add_argument("--connections", type=int, default=64, help="closed: clients; open: pre-opened connections")
    p.add_argument("--max-connections", type=int, default=1000, help="open: cap on connections")
    p.add_argument("--rate", type=float, default=200.0, help="open: requests per second")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds run but not measured")
    p.add_argument("--duration", type=float, default=15.0, help="measured seconds")
    p.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    p.add_argument("--start", type=int, default=0, help="first value of the body counter")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    requests = Requests(spec, args.start)
    # Nothing here makes reference cycles; a collector pass would only add pauses to the timings.
    gc.disable()
    started = time.perf_counter()
    run = closed_loop if args.mode == "closed" else open_loop
    report = uvloop.run(run(spec, requests, args))
    report["wall_seconds"] = round(time.perf_counter() - started, 2)
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
