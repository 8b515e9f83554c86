"""No alert is lost or sent twice when the process dies between storing and delivering.

A real child process detects alerts (the alert job enqueues them with their deliveries), starts
delivering them to a slow local WeCom-shaped receiver and is SIGKILLed while the first message is
in flight. A second process re-runs the alert job (which must not enqueue anything again) and the
outbox sender; the receiver counts what it accepted. Every alert must arrive exactly once.

The receiver accepts a message only if its sender is still connected when it answers, like a
server that commits with its response; a message whose sender died mid-request is not delivered.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlmodel import select as sql_select

from storage.db import Database
from storage.models import AlertRow, DeliveryRow

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import time
T_START = time.monotonic()
import asyncio, random, sys
from datetime import UTC, datetime, timedelta

import httpx

from bot.notifiers.base import Secret
from bot.notifiers.wecom import WeComNotifier
from collectors.base import Author, Post
from kolwatch.jobs import run_alert_rules
from kolwatch.matching import MatcherCache
from kolwatch.outbox import OutboxSender
from kolwatch.pipeline import match_and_count
from kolwatch.settings import Secrets, Settings, WatchSettings, WorkspaceSettings
from nlp.types import Analysis
from storage import repos
from storage.db import Database

db_url, port, phase = sys.argv[1], int(sys.argv[2]), sys.argv[3]
T0 = datetime(2026, 3, 2, tzinfo=UTC)
NOW = T0 + timedelta(hours=50, minutes=5)
settings = Settings(
    workspaces=(WorkspaceSettings(name="acme", channels=("wecom:ops",),
                                  watches=(WatchSettings(name="鹿角", query="鹿角咖啡"),)),),
    alerts={"rules": {"max_age_hours": 100}},
)
db = Database(db_url)
print(f"{phase}: imported at {time.monotonic():.2f} (started {T_START:.2f})", flush=True)

def analysis(text):
    return Analysis(text=text, lang="zh", tokens=tuple(text.split()), keywords=tuple(text.split()[1:]),
                    hashtags=(), emoticons=(), mentions=(), urls=(), sentiment=0.5, label="neutral")

if phase == "first":
    db.create_all()
    with db.write() as s:
        watch = repos.WatchSpec("鹿角", "鹿角咖啡")
        repos.sync_config(s, workspaces=[repos.WorkspaceSpec("acme", watches=(watch,))], sources=[])
    rng = random.Random(3)
    posts = []
    for h in range(48):
        for i in range(rng.randint(1, 3)):
            posts.append(Post("weibo", f"q{h}-{i}", f"https://m.weibo.cn/status/q{h}-{i}",
                              Author("weibo", f"f{i}", f"粉丝{i}", followers=300), "鹿角咖啡 拿铁",
                              T0 + timedelta(hours=h + rng.random())))
    for i in range(150):
        followers = 3_000_000 if i == 0 else 500 + i
        posts.append(Post("weibo", f"b{i}", f"https://m.weibo.cn/status/b{i}",
                          Author("weibo", f"a{i}", f"顾客{i}", followers=followers), "鹿角咖啡 断货 事件",
                          T0 + timedelta(hours=48, minutes=50 * i / 150), likes=i))
    with db.write() as s:
        new = repos.upsert_posts(s, posts=posts, analyses=[analysis(p.text) for p in posts], now=T0)
        match_and_count(s, MatcherCache(), new, workspace_id=None)

stored = run_alert_rules(db, settings, Secrets({}), now=NOW)
print(f"{phase}: enqueued {stored} at {time.monotonic():.2f}", flush=True)

async def drain():
    async with httpx.AsyncClient(timeout=30) as client:
        wecom = WeComNotifier({"ops": Secret("test-key")}, client, base_url=f"http://127.0.0.1:{port}")
        sender = OutboxSender(db, {"wecom": wecom}, owner=f"{phase}-sender", lease_s=1.0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            await sender.drain()
            with db.read() as s:
                if repos.delivery_counts(s).get("pending", 0) == 0:
                    return
            await asyncio.sleep(0.3)  # a crashed sender's lease must expire first
        raise SystemExit("deliveries still pending after 30 s")

asyncio.run(drain())
print(f"{phase}: drained at {time.monotonic():.2f}", flush=True)
"""


class Receiver:
    """A WeCom-shaped webhook that counts accepted messages; slow until `fast` is set."""

    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.aborted = 0
        self.in_flight = threading.Event()
        self.fast = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                content = json.loads(body)["markdown"]["content"]
                if not owner.fast.is_set():
                    owner.in_flight.set()
                    # Slow: wait (bounded) until the sender hangs up or the test switches to fast.
                    for _ in range(100):
                        if _closed(self.connection) or owner.fast.wait(0.05):
                            break
                if _closed(self.connection):
                    owner.aborted += 1
                    return
                owner.accepted[content] += 1
                reply = b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _closed(conn: socket.socket) -> bool:
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _child(script: Path, db_url: str, port: int, phase: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(script), db_url, str(port), phase],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_during_delivery_then_restarted_delivers_each_alert_exactly_once(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'crash.db'}"
    with Receiver() as receiver:
        first = _child(script, db_url, receiver.port, "first")
        try:
            assert receiver.in_flight.wait(90), "the first process never started delivering"
        finally:
            first.send_signal(signal.SIGKILL)
            out, err = first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL, err
        assert "first: enqueued" in out and "drained" not in out

        db = Database(db_url)
        with db.read() as s:
            alerts = list(s.exec(sql_select(AlertRow)))
            before = list(s.exec(sql_select(DeliveryRow)))
        assert len(alerts) >= 2  # a volume spike, a KOL, an emerging term ...
        assert {(d.channel, d.target) for d in before} == {("wecom", "ops")}
        assert all(d.status == "pending" for d in before)
        assert sum(receiver.accepted.values()) == 0

        receiver.fast.set()
        second = _child(script, db_url, receiver.port, "second")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err[-2000:]
        assert "second: enqueued 0" in out  # the job re-ran over the same buckets: nothing new

        with db.read() as s:
            after = list(s.exec(sql_select(AlertRow)))
            deliveries = list(s.exec(sql_select(DeliveryRow)))
        db.dispose()
    assert [a.key for a in after] == [a.key for a in alerts]
    assert all(d.status == "sent" for d in deliveries) and len(deliveries) == len(alerts)
    assert receiver.aborted >= 1  # the message in flight at the kill was not accepted ...
    # ... and every alert was accepted exactly once, the interrupted one included.
    assert sum(receiver.accepted.values()) == len(alerts)
    assert all(count == 1 for count in receiver.accepted.values())
    for alert in alerts:
        assert sum(1 for content in receiver.accepted if alert.title in content) == 1, alert.title
