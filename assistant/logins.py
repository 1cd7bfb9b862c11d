"""Failed-login limits: after too many wrong passwords, a user name (and a client address) waits.

argon2 makes each password guess cost the server ~0.1-0.5 s of CPU and the attacker nothing
more, so without a limit one client can try thousands of passwords an hour against a name (and
keep the server's two cores busy hashing). ``LoginLimiter`` counts failed logins in a sliding
window of ``login_lockout_s`` seconds:

* **per user name**: ``login_attempts`` failures (default 5) and the name is locked until the
  oldest of them is ``login_lockout_s`` old (default 300 s). This is what stops guessing one
  person's password from many addresses.
* **per client address**: four times as many, whatever names they try, so one machine cannot
  spray a few guesses at every name. (Four times: several honest people behind one NAT mistype.)

A locked request is answered at once, before any password is hashed, with status 400 (the status
Gradio's login page shows an error for), ``Retry-After`` and the message "Too many failed logins
for this name or address: try again in 4 min 10 s." A successful login clears its name's count,
not its address's: an attacker with one account of their own must not reset the count of the
address they guess from.

``LoginGuard`` is an ASGI middleware (``app_kwargs={"middleware": ...}`` at launch) in front of
Gradio's ``POST /login``: it reads the form's user name and the client address, refuses locked
ones, passes the rest on to Gradio (whose ``auth=`` callable, ``accounts.Policy.login``, checks the
password) and counts a 400 answer as a failure. Gradio's own code is not changed or copied.

Trade-offs, stated: locking a name lets anyone lock its owner out for ``login_lockout_s`` by
typing wrong passwords (the price of stopping guessing; the owner can still use an API key). The
address is the connection's: behind a reverse proxy every client has the proxy's address, so only
the per-name limit means anything there. Counts live in memory (a restart forgets them) and are
bounded (``MAX_TRACKED`` names and addresses, the oldest forgotten first).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from urllib.parse import parse_qs

ADDRESS_FACTOR = 4  # failures allowed per address = this x the per-name limit
MAX_TRACKED = 10_000  # names + addresses remembered at most
MAX_FORM_BYTES = 64 * 1024  # a login form is tiny: a bigger one is passed on unread (Gradio refuses it)
LOGIN_PATHS = ("/login", "/login/")


def wait_text(seconds: float) -> str:
    s = max(1, math.ceil(seconds))
    if s < 60:
        return f"{s} s"
    return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"


class LoginLimiter:
    """Failed-login counts per name and per address, each in a sliding window of ``window_s``."""

    def __init__(self, attempts: int = 5, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.attempts = max(1, int(attempts))
        self.window_s = float(window_s)
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _limit(self, key: str) -> int:
        return self.attempts * (ADDRESS_FACTOR if key.startswith("addr:") else 1)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def _keys(self, name: str, address: str | None) -> list[str]:
        return [f"name:{name.strip().lower()}"] + ([f"addr:{address}"] if address else [])

    def locked(self, name: str, address: str | None) -> float:
        """Seconds until this name and address may try again (0: now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(name, address):
                times = self._recent(key, now)
                limit = self._limit(key)
                if times is not None and len(times) >= limit:
                    wait = max(wait, times[-limit] + self.window_s - now)
        return wait

    def failed(self, name: str, address: str | None) -> None:
        now = self.clock()
        with self._lock:
            for key in self._keys(name, address):
                times = self._recent(key, now) or deque(maxlen=self._limit(key))
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > MAX_TRACKED:
                self._failures.popitem(last=False)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(self._keys(name, None)[0], None)

    def message(self, wait_s: float) -> str:
        return f"Too many failed logins for this name or address: try again in {wait_text(wait_s)}."


class LoginGuard:
    """ASGI middleware: refuses locked logins before Gradio sees them, counts Gradio's refusals."""

    def __init__(self, app, limiter: LoginLimiter):
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") != "POST" or scope.get("path") not in LOGIN_PATHS:
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more and len(body) <= MAX_FORM_BYTES:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        form = parse_qs(body.decode("utf-8", "replace")) if not more else {}
        name = (form.get("username") or [""])[0]
        client = scope.get("client")
        address = client[0] if client else None
        wait = self.limiter.locked(name, address)
        if wait > 0:
            await _reply(send, 400, self.limiter.message(wait), retry_after=math.ceil(wait))
            return

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": more}
            return await receive()

        status: list[int] = []

        async def watch(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, replay, watch)
        if status and status[0] == 200:
            self.limiter.succeeded(name)
        elif status and status[0] in (400, 401):
            self.limiter.failed(name, address)


async def _reply(send, status: int, detail: str, retry_after: int) -> None:
    import json

    body = json.dumps({"detail": detail}).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
