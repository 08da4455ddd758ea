"""The ceiling of the notifier bench: the notifier's own notifications (the rows its run wrote: same
ids, recipients, subjects and bodies) sent straight to the same sinks by a plain loop, with nothing
around it: no queue, no database, no rate limiter.

* ``concurrency`` tasks (as many as the worker's jobs, ``IOC_WORKER_CONCURRENCY``), each taking the
  next message's pair and sending its SMS and its e-mail at once, as a notifier job does;
* e-mail: ``aiosmtplib`` over ``smtp_connections`` connections opened beforehand and reused (as many
  as ``IOC_SMTP_CONNECTIONS``); each message is built in the loop as the notifier builds it
  (``email.mime.text.MIMEText`` with the compat32 API, the headers the notifier writes:
  X-IOC-Notification, Message-ID from the notification id) and sent as bytes;
* SMS: ``httpx.AsyncClient`` (as many connections as jobs, like the worker's), the eSMS JSON body
  with the notification id as RequestId; Zalo (the mixed run): the ZNS JSON body with the
  notification id as tracking_id, to the ZNS sink, every Zalo row the notifier made (the refused ones
  too: the notifier asked ZNS for them). Phone numbers in national form and the Unicode flag are
  worked out before the clock starts (the "rendering").

Driven by the bench over pipes: it reads the spec (a JSON file) and prepares, writes ``ready``, waits
for a line on stdin, sends everything, and writes one JSON report. On uvloop, as the workers run.

    python -m bench.direct spec.json
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from email.header import Header
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Any

import aiosmtplib
import httpx
import uvloop

from shared.phones import national_format
from shared.sms import is_gsm7
from shared.timeutil import utcnow


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    gateway = spec["gateway"]
    name, address = parseaddr(spec["mail_from"])
    sender, domain = formataddr((name, address), charset="utf-8"), address.rpartition("@")[2]
    # Group by message, in the order the notifier created them.
    pairs: dict[str, list[dict[str, Any]]] = {}
    for item in spec["items"]:
        if item["channel"] == "sms":
            item["phone"] = national_format(item["recipient"]).replace(" ", "")
            item["unicode"] = "0" if is_gsm7(item["body"]) else "1"
        pairs.setdefault(item["message_id"], []).append(item)
    work = iter(pairs.values())
    failures: dict[str, int] = {}
    sent = {"email": 0, "sms": 0, "zalo": 0}
    zalo = spec.get("zalo") or {}

    def failed(reason: str) -> None:
        failures[reason] = failures.get(reason, 0) + 1

    idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
    for _ in range(spec["smtp_connections"]):
        client = aiosmtplib.SMTP(hostname=spec["smtp_host"], port=spec["smtp_port"], timeout=15, start_tls=False)
        await client.connect()
        idle.put_nowait(client)
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=spec["concurrency"]))

    def email_message(item: dict[str, Any]) -> MIMEText:
        message = MIMEText(item["body"], "plain", "utf-8")
        message["From"] = sender
        message["To"] = formataddr((item["recipient_name"] or "", item["recipient"]), charset="utf-8")
        message["Subject"] = Header(item["subject"] or "", "utf-8")
        message["Date"] = format_datetime(utcnow())
        message["Message-ID"] = make_msgid(idstring=item["id"], domain=domain)
        message["X-IOC-Notification"] = item["id"]
        return message

    async def email(item: dict[str, Any]) -> None:
        raw = email_message(item).as_bytes()
        client = await idle.get()
        try:
            await client.sendmail(address, [item["recipient"]], raw)
            sent["email"] += 1
        except (aiosmtplib.SMTPException, OSError) as exc:
            failed(f"email {type(exc).__name__}")
        finally:
            idle.put_nowait(client)

    async def sms(item: dict[str, Any]) -> None:
        payload = {
            "ApiKey": gateway["api_key"],
            "SecretKey": gateway["secret_key"],
            "Phone": item["phone"],
            "Content": item["body"],
            "Brandname": gateway["brandname"],
            "SmsType": gateway["sms_type"],
            "IsUnicode": item["unicode"],
            "RequestId": item["id"],
            "CallbackUrl": gateway["callback_url"],
        }
        try:
            response = await http.post(gateway["url"], json=payload, timeout=10)
            code = response.json().get("CodeResult")
        except (httpx.HTTPError, ValueError) as exc:
            failed(f"sms {type(exc).__name__}")
            return
        if response.status_code == 200 and code == "100":
            sent["sms"] += 1
        else:
            failed(f"sms HTTP {response.status_code} CodeResult {code}")

    async def zns(item: dict[str, Any]) -> None:
        payload = {
            "phone": item["recipient"].lstrip("+"),
            "template_id": item["template_id"],
            "template_data": json.loads(item["template_data"] or "{}"),
            "tracking_id": item["id"],
        }
        try:
            response = await http.post(zalo["url"], json=payload, headers={"access_token": "t"}, timeout=10)
            error = response.json().get("error")
        except (httpx.HTTPError, ValueError) as exc:
            failed(f"zalo {type(exc).__name__}")
            return
        if error == 0:
            sent["zalo"] += 1
        elif error != -118:  # the half of the people not on Zalo: refused, as for the notifier
            failed(f"zalo error {error}")

    senders = {"sms": sms, "email": email, "zalo": zns}

    async def worker() -> None:
        for pair in work:
            await asyncio.gather(*(senders[i["channel"]](i) for i in pair))

    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    await http.aclose()
    while not idle.empty():
        client = idle.get_nowait()
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()
    total = sent["email"] + sent["sms"] + sent["zalo"]
    return {
        "sent": sent,
        "failures": failures,
        "elapsed_seconds": round(elapsed, 3),
        "rate_per_second": round(total / elapsed, 1),
        "cpu_seconds": round(cpu, 2),
        "concurrency": spec["concurrency"],
        "smtp_connections": spec["smtp_connections"],
    }


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    uvloop.install()
    report = asyncio.run(run(spec))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
