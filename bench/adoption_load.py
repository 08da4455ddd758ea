"""The adoption bench's load processes, built on ``bench/loadgen.py`` (its keep-alive connections over
raw asyncio streams on uvloop, its latency statistics): cheap, and in a process of their own so that
their timings stay clear of the bench's work.

* ``post SPEC``: the request bodies of ``bodies_file`` (pre-encoded JSON, written by the bench), each
  POSTed exactly once over ``connections`` keep-alive connections, every connection sending its next
  body as soon as its previous answer arrived. Connections are opened and every request is encoded
  before ``ready`` is written; sending starts at the ``go`` line on stdin. The report gives each
  request's status and ``accepted``/``duplicates``/``rejected`` counts, and the wall-clock times of
  the first send and the last answer.
* ``poll SPEC``: a closed loop of GETs on one URL from ``connections`` pollers (screens), for
  ``warmup`` + ``duration`` seconds, latency measured over ``duration``. With ``conditional`` each
  poller sends ``If-None-Match`` with the last ETag it received (a 304 then carries no body), as a
  screen does; without it every answer is a full body. Writes ``ready`` and starts at once.

One JSON report on stdout; the spec holds the API key, so the bench keeps it out of ``bench/results``.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import math
import resource
import sys
import time
from typing import Any

import orjson
import uvloop

from bench.adoption_support import read_bodies
from bench.loadgen import ERRORS, Connection, Stats, now


class Exchange(Connection):
    """A loadgen connection that also returns the response's head and body."""

    async def fetch(self, request: bytes) -> tuple[int, bytes, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        at = lowered.find(b"\r\ncontent-length:")
        length = 0
        if at >= 0:
            end = lowered.index(b"\r\n", at + 17)
            length = int(lowered[at + 17 : end])
        elif status != 304:
            raise ValueError("response without Content-Length")
        body = await self.reader.readexactly(length) if length else b""
        self.closing = b"\r\nconnection: close" in lowered
        return status, head, body


def header(head: bytes, name: bytes) -> bytes | None:
    lowered = head.lower()
    at = lowered.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 3
    return head[start : head.index(b"\r\n", start)].strip()


def request_head(spec: dict[str, Any], method: str, extra: str = "") -> str:
    headers = "".join(f"{k}: {v}\r\n" for k, v in spec.get("headers", {}).items())
    return f"{method} {spec['path']} HTTP/1.1\r\nHost: {spec['host']}:{spec['port']}\r\n{headers}{extra}"


def pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000, 2) if ordered else None


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def post(spec: dict[str, Any]) -> dict[str, Any]:
    head = request_head(spec, "POST", "Content-Type: application/json\r\n")
    requests = [
        f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
        for body in read_bodies(spec["bodies_file"])
    ]
    connections = [await Exchange.open(spec["host"], spec["port"]) for _ in range(spec["connections"])]
    opened = len(connections)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    cpu_at_go = cpu_seconds()

    results: list[Any] = [None] * len(requests)
    errors: collections.Counter[str] = collections.Counter()
    next_index = 0
    started_wall, started = time.time(), now()

    async def sender(conn: Exchange | None) -> None:
        nonlocal next_index, opened
        while next_index < len(requests):
            i = next_index
            next_index += 1
            try:
                if conn is not None and conn.stale():
                    conn.close()
                    conn = None
                if conn is None:
                    conn = await Exchange.open(spec["host"], spec["port"])
                    opened += 1
                sent = now()
                async with asyncio.timeout(spec["timeout"]):
                    status, _, body = await conn.fetch(requests[i])
            except ERRORS as exc:  # not retried: the bench counts it as a failure
                errors[type(exc).__name__] += 1
                results[i] = (0, 0, 0, 0, 0.0, now() - started)
                if conn is not None:
                    conn.close()
                conn = None
                continue
            done = now()
            answer = orjson.loads(body) if status == 202 else {}
            results[i] = (
                status,
                answer.get("accepted", 0),
                answer.get("duplicates", 0),
                len(answer.get("rejected", ())),
                done - sent,
                done - started,
            )
        if conn is not None:
            conn.close()

    await asyncio.gather(*(sender(c) for c in connections))
    answered = [r for r in results if r is not None]
    latencies = [r[4] for r in answered if r[0]]
    last = max((r[5] for r in answered), default=0.0)
    return {
        "requests": len(requests),
        "statuses": {str(k): v for k, v in sorted(collections.Counter(r[0] for r in answered).items())},
        "accepted": [r[1] for r in answered],
        "duplicates": sum(r[2] for r in answered),
        "rejected": sum(r[3] for r in answered),
        "errors": dict(errors),
        "connections": spec["connections"],
        "connections_opened": opened,
        "first_send_wall": started_wall,
        "last_answer_wall": started_wall + last,
        "posting_seconds": round(last, 3),
        "latency_ms": {"p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99), "max": pct(latencies, 1.0)},
        "cpu_seconds": round(cpu_seconds() - cpu_at_go, 2),  # sending only, not the preparation
    }


async def poll(spec: dict[str, Any]) -> dict[str, Any]:
    head = request_head(spec, "GET")
    plain = (head + "\r\n").encode("latin-1")
    conditional = spec.get("conditional", False)
    stats = Stats()
    codes: collections.Counter[int] = collections.Counter()
    body_bytes = 0
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    cpu_at_start = cpu_seconds()
    measure_from = now() + spec["warmup"]
    end = measure_from + spec["duration"]

    async def poller() -> None:
        nonlocal body_bytes
        conn: Exchange | None = None
        etag: bytes | None = None
        while now() < end:
            request = plain
            if conditional and etag is not None:
                request = (head + f"If-None-Match: {etag.decode('latin-1')}\r\n\r\n").encode("latin-1")
            try:
                if conn is not None and conn.stale():
                    conn.close()
                    conn = None
                if conn is None:
                    conn = await Exchange.open(spec["host"], spec["port"])
                    stats.connections_opened += 1
                started = now()
                async with asyncio.timeout(spec["timeout"]):
                    status, response_head, body = await conn.fetch(request)
            except ERRORS as exc:
                stats.errors[type(exc).__name__] += 1
                if conn is not None:
                    conn.close()
                conn = None
                continue
            done = now()
            measured = measure_from <= done <= end
            stats.answered(status, done - started, measured)
            if measured:
                codes[status] += 1
                body_bytes += len(body)
            if status == 200:
                etag = header(response_head, b"etag")
        if conn is not None:
            conn.close()

    await asyncio.gather(*(poller() for _ in range(spec["connections"])))
    report = stats.report(spec["duration"], mode="poll", connections=spec["connections"], conditional=conditional)
    completed = sum(codes.values())
    report["throughput_rps"] = round(completed / spec["duration"], 1)  # 304s included
    report["mean_body_bytes"] = round(body_bytes / codes[200]) if codes[200] else 0
    report["cpu_seconds"] = round(cpu_seconds() - cpu_at_start, 2)  # polling only, not the start-up
    return report


def main() -> None:
    mode, spec_path = sys.argv[1], sys.argv[2]
    with open(spec_path, "rb") as f:
        spec = orjson.loads(f.read())
    gc.disable()  # nothing here makes reference cycles; a collection would only add pauses
    report = uvloop.run(post(spec) if mode == "post" else poll(spec))
    sys.stdout.write(orjson.dumps(report).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
