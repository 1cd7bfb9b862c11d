"""Failed-login limits (assistant/logins.py): the counting rule on a clock the test moves, and the
middleware in front of a real ASGI app. The real Gradio login form behind it is tested in
test_web.py (the ASSISTANT_AUTH pair) and test_accounts.py (argon2 users)."""

from __future__ import annotations

import asyncio
import json

from assistant.logins import MAX_TRACKED, LoginGuard, LoginLimiter, wait_text


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_name_is_locked_after_its_failures_and_unlocked_as_they_age():
    clock = Clock()
    limits = LoginLimiter(attempts=3, window_s=60, clock=clock)
    for _ in range(2):
        limits.failed("alice", "10.0.0.1")
        clock.now += 10
    assert limits.locked("alice", "10.0.0.9") == 0  # two failures of three allowed
    limits.failed("Alice ", "10.0.0.2")  # names are counted as logins compare them: trimmed, any case
    assert limits.locked("alice", "10.0.0.9") == 40  # until the first failure is 60 s old
    assert limits.locked("bob", "10.0.0.9") == 0  # another name is not affected
    clock.now += 40
    assert limits.locked("alice", None) == 0  # the oldest aged out: one more try
    limits.failed("alice", None)
    assert limits.locked("alice", None) == 10  # the three newest span 50 s: the next ages out in 10
    assert "try again in 10 s" in limits.message(10) and wait_text(250) == "4 min 10 s" and wait_text(120) == "2 min"


def test_an_address_is_locked_after_four_times_as_many_failures_whatever_the_names():
    clock = Clock()
    limits = LoginLimiter(attempts=2, window_s=100, clock=clock)
    for i in range(7):
        limits.failed(f"user{i}", "10.0.0.1")
    assert limits.locked("someone-new", "10.0.0.1") == 0  # 7 of 8 allowed
    limits.failed("user7", "10.0.0.1")
    assert limits.locked("someone-new", "10.0.0.1") == 100 and limits.locked("someone-new", "10.0.0.2") == 0


def test_a_success_clears_its_name_but_not_its_address():
    clock = Clock()
    limits = LoginLimiter(attempts=2, window_s=100, clock=clock)
    for _ in range(2):
        limits.failed("alice", "10.0.0.1")
    assert limits.locked("alice", "10.0.0.1") > 0
    limits.succeeded("alice")
    assert limits.locked("alice", "10.0.0.2") == 0
    for _ in range(6):
        limits.failed("bob", "10.0.0.1")
        limits.succeeded("bob")  # an attacker's own account between guesses: the address still counts
    assert limits.locked("carol", "10.0.0.1") > 0


def test_the_counts_are_bounded():
    limits = LoginLimiter(attempts=1, window_s=1000, clock=Clock())
    for i in range(MAX_TRACKED + 50):
        limits.failed(f"n{i}", None)
    assert len(limits._failures) == MAX_TRACKED
    assert limits.locked(f"n{MAX_TRACKED + 49}", None) > 0 and limits.locked("n0", None) == 0  # the oldest forgotten


def _post(app, body: bytes, client=("10.0.0.5", 5000), path="/login"):
    """One POST through an ASGI app: (status, headers, body)."""
    sent: list[dict] = []
    chunks = [body[:7], body[7:]]  # a body in two pieces, as a server may deliver it

    async def receive():
        piece = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": piece, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "client": client, "headers": []}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body_out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body_out


def test_the_guard_refuses_locked_logins_before_the_app_and_counts_its_refusals():
    seen: list[bytes] = []

    async def gradio(scope, receive, send):  # stands in for Gradio's /login: right password "pw"
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        seen.append(body)
        ok = body.endswith(b"password=pw")
        await send({"type": "http.response.start", "status": 200 if ok else 400, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    limits = LoginLimiter(attempts=2, window_s=300, clock=Clock())
    guard = LoginGuard(gradio, limits)
    assert _post(guard, b"username=alice&password=pw")[0] == 200
    assert seen == [b"username=alice&password=pw"]  # the app got the whole body, as sent
    assert _post(guard, b"username=alice&password=x")[0] == 400
    assert _post(guard, b"username=alice&password=y")[0] == 400
    status, headers, body = _post(guard, b"username=alice&password=pw")
    assert status == 400 and headers[b"retry-after"] == b"300" and len(seen) == 3  # not passed on
    assert json.loads(body)["detail"] == "Too many failed logins for this name or address: try again in 5 min."
    assert _post(guard, b"username=bob&password=pw")[0] == 200  # other names still log in
    assert _post(guard, b"x", path="/config")[0] == 400 and len(seen) == 5  # other paths pass untouched
