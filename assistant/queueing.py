"""Fair queueing in front of answering: one admission queue and one answer cache per Assistant.

The web app (chat and ``/ask``) and the OpenAI-compatible ``/v1`` API share them (``gate(assistant)``
creates them on first use from the assistant's settings), so every user of a server waits in the
same line, in arrival order, and knows where they stand.

Design and trade-offs:

* **Admission, not threads.** ``AnswerQueue`` lets ``answer_concurrency`` answers run at once
  (1 for the embedded LLM, which generates one answer at a time; a server LLM with parallel
  slots takes more). Everyone else waits in a FIFO line: slots are handed to the head of the line
  by the request that frees them, so nobody overtakes. Front ends use their own transport only to
  carry requests here (the web app raises Gradio's concurrency above ours), so the waiting happens
  where positions are known.
* **Position and estimate.** A waiting ticket knows its position (1 = next) and an estimated wait:
  the mean of the last ``WINDOW`` answer times (service time, admission to done) x
  ``ceil(position / concurrency)``; before the first answer a prior of ``INITIAL_ANSWER_S``. The
  web app shows "Waiting: 3rd in line, about 40 s" in the chat; a streamed ``/v1`` answer sends it
  as SSE comment lines (``: waiting: ...``), which OpenAI clients ignore.
* **Refuse early.** With ``max_queue`` questions already waiting, a new one is refused at once with
  ``Busy`` ("The assistant is busy: N questions are waiting; try again in about S s."); the ``/v1``
  API answers 429 with ``Retry-After: S``. Waiting longer than anyone would is worse than a clear no.
* **A time limit per request.** ``answer_timeout_s`` counts from arrival (waiting included). A
  ticket past its deadline leaves the line with ``TimedOut``, a one-line message. While answering,
  the deadline is checked between steps of the answer stream (retrieval, each verified sentence):
  a step in progress (one LLM call, itself bounded by ``llm_timeout_s``) finishes first, then the
  stream is closed and the slot handed on.
* **The answer cache.** An identical question (whitespace and case normalised) with the same
  history, scope (``docs``) and collection, on an unchanged index (the store's ``version()`` stamp,
  which every ingest and removal changes, also from another process) is answered from a bounded
  LRU of complete answer streams at once, without queueing; the replayed ``Answer`` has
  ``timings["cached"] = True``. Only complete answers are kept (not errors, not timeouts). The
  stamp costs one metadata read of the index per question: cheap next to an answer.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from .answer import Event
from .errors import Busy, TimedOut

WINDOW = 10  # recent answer times the estimate averages
INITIAL_ANSWER_S = 20.0  # the estimate's prior before any answer finished (the 1.5B LLM on a laptop)
POLL_S = 1.0  # how often a waiting front end refreshes its status at the latest


@dataclass(frozen=True)
class Status:
    """Where a waiting request stands: ``position`` 1 is next; ``estimate_s`` until its turn."""

    position: int
    estimate_s: float

    def text(self) -> str:
        return f"Waiting: {ordinal(self.position)} in line, about {max(1, round(self.estimate_s))} s"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class Ticket:
    """One request's place: waiting until admitted, then holding a slot until ``done``."""

    def __init__(self, queue: AnswerQueue, deadline: float):
        self.queue = queue
        self.deadline = deadline
        self.admitted_at: float | None = None
        self.finished = False
        self.expired = False  # dropped from the line at its deadline

    @property
    def admitted(self) -> bool:
        return self.admitted_at is not None

    def status(self) -> Status | None:
        """None once admitted (or finished), else the current position and estimate."""
        return self.queue.status(self)

    def wait(self, timeout: float | None = None) -> Status | None:
        """Block until admitted (None) or until ``timeout`` passed or the line moved (the new Status).

        Raises ``TimedOut`` (and leaves the line) once the deadline has passed.
        """
        return self.queue.wait(self, timeout)

    def check(self) -> None:
        """Raise ``TimedOut`` when the deadline has passed (called between steps of an answer)."""
        if self.queue.clock() >= self.deadline:
            raise self.queue.timed_out()

    def done(self, completed: bool = False) -> None:
        """Leave the line or free the slot (idempotent); ``completed`` records the answer time."""
        self.queue.release(self, completed)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.done()


class AnswerQueue:
    """FIFO admission with a concurrency limit, a maximum line length and a time limit."""

    def __init__(
        self,
        concurrency: int = 1,
        max_queue: int = 30,
        timeout_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.concurrency = max(1, int(concurrency))
        self.max_queue = max(0, int(max_queue))
        self.timeout_s = float(timeout_s)
        self.clock = clock
        self._cond = threading.Condition()
        self._waiting: deque[Ticket] = deque()
        self._running: set[Ticket] = set()
        self._times: deque[float] = deque(maxlen=WINDOW)
        self._moves = 0  # changes of the line, so waiters know when to refresh

    # -- numbers ---------------------------------------------------------------------------
    def mean_answer_s(self) -> float:
        with self._cond:
            return sum(self._times) / len(self._times) if self._times else INITIAL_ANSWER_S

    def estimate(self, position: int) -> float:
        return self.mean_answer_s() * math.ceil(position / self.concurrency)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    def timed_out(self) -> TimedOut:
        return TimedOut(
            f"No answer within {self.timeout_s:g} s (answer_timeout_s): the assistant is busy; try again later."
        )

    # -- moves -----------------------------------------------------------------------------
    def enter(self) -> Ticket:
        """A ticket, admitted at once when a slot is free and nobody waits; ``Busy`` when the line is full."""
        with self._cond:
            ticket = Ticket(self, self.clock() + self.timeout_s)
            self._expire()
            if not self._waiting and len(self._running) < self.concurrency:
                self._admit(ticket)
                return ticket
            if len(self._waiting) >= self.max_queue:
                n = len(self._waiting)
                raise Busy(n, max(1, math.ceil(self.estimate(n + 1))))
            self._waiting.append(ticket)
            self._moves += 1
            return ticket

    def _admit(self, ticket: Ticket) -> None:
        ticket.admitted_at = self.clock()
        self._running.add(ticket)

    def status(self, ticket: Ticket) -> Status | None:
        with self._cond:
            if ticket.expired:
                raise self.timed_out()  # it expired while nobody looked (see _expire)
            if ticket.admitted or ticket.finished:
                return None
            position = self._waiting.index(ticket) + 1
            return Status(position, self.estimate(position))

    def wait(self, ticket: Ticket, timeout: float | None = None) -> Status | None:
        with self._cond:
            moves = self._moves
            end = self.clock() + (timeout if timeout is not None else math.inf)
            while not ticket.admitted:
                now = self.clock()
                if now >= ticket.deadline or ticket.expired:
                    self._drop(ticket)
                    raise self.timed_out()
                if self._moves != moves or now >= end:
                    break
                self._cond.wait(min(end, ticket.deadline) - now)
        return self.status(ticket)

    def release(self, ticket: Ticket, completed: bool = False) -> None:
        with self._cond:
            if ticket.finished:
                return
            if ticket in self._running and completed and ticket.admitted_at is not None:
                self._times.append(self.clock() - ticket.admitted_at)
            self._drop(ticket)

    def _drop(self, ticket: Ticket) -> None:
        """Take a ticket out (waiting or running) and hand free slots to the head of the line."""
        ticket.finished = True
        self._running.discard(ticket)
        try:
            self._waiting.remove(ticket)
        except ValueError:
            pass
        self._expire()
        while self._waiting and len(self._running) < self.concurrency:
            self._admit(self._waiting.popleft())
        self._moves += 1
        self._cond.notify_all()

    def _expire(self) -> None:
        """Forget waiting tickets past their deadline (a client that vanished without leaving the
        line must not take a slot when its turn comes; a live one gets TimedOut on its next look)."""
        now = self.clock()
        for t in [t for t in self._waiting if now >= t.deadline]:
            self._waiting.remove(t)
            t.finished = t.expired = True
            self._moves += 1


# --------------------------------------------------------------------------- the answer cache


def normal(text: str) -> str:
    return " ".join(str(text or "").split()).casefold()


def cache_key(question: str, history, docs, collection: str, version: str) -> tuple:
    """What makes two questions the same: normalised text and history, scope, collection, index stamp."""
    if isinstance(docs, str):
        docs = [docs]
    return (
        normal(question),
        tuple((normal(q), normal(a)) for q, a in (history or [])),
        tuple(sorted(str(d).strip() for d in (docs or []) if str(d).strip())),
        collection,
        version,
    )


class AnswerCache:
    """A bounded LRU of complete answer streams (lists of Events), thread-safe."""

    def __init__(self, size: int = 256):
        self.size = max(0, int(size))
        self._items: OrderedDict[tuple, list[Event]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> list[Event] | None:
        """A fresh copy of the stored events (the Answer marked ``timings["cached"]``), or None."""
        with self._lock:
            events = self._items.get(key)
            if events is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
        out = copy.deepcopy(events)
        for e in out:
            if e.kind == "answer":
                e.data.timings = {**(e.data.timings or {}), "cached": True}
        return out

    def put(self, key: tuple, events: list[Event]) -> None:
        if not self.size or not any(e.kind == "answer" for e in events):
            return
        stored = copy.deepcopy(events)
        with self._lock:
            self._items[key] = stored
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


# --------------------------------------------------------------------------- per assistant


class Gate:
    """The queue and the cache of one Assistant, and the answer stream that goes through both."""

    def __init__(self, assistant, queue: AnswerQueue | None = None, cache: AnswerCache | None = None):
        s = assistant.settings
        self.assistant = assistant
        self.queue = queue or AnswerQueue(
            getattr(s, "answer_concurrency", 1), getattr(s, "max_queue", 30), getattr(s, "answer_timeout_s", 600.0)
        )
        self.cache = cache if cache is not None else AnswerCache(getattr(s, "cache_size", 256))

    def on(self, collection: str | None):
        """The Assistant answering in ``collection`` (``Assistant.using``; None: this one)."""
        if collection is None or not hasattr(self.assistant, "using"):
            return self.assistant
        return self.assistant.using(collection)

    def key(self, question: str, history, docs, collection: str | None = None) -> tuple | None:
        """The cache key, or None when the index has no version stamp (then nothing is cached)."""
        if not self.cache.size:
            return None
        assistant = self.on(collection)
        store = assistant.store
        version = getattr(store, "version", None)
        if version is None:
            return None
        name = getattr(store, "name", None) or getattr(assistant.settings, "collection", "")
        return cache_key(question, history, docs, str(name), str(version()))

    def cached(self, question: str, history, docs, collection: str | None = None):
        """(key, a replay of the cached answer's events or None)."""
        key = self.key(question, history, docs, collection)
        return key, (self.cache.get(key) if key is not None else None)

    def run(
        self, ticket: Ticket, key: tuple | None, question: str, history, docs, collection: str | None = None
    ) -> Generator[Event, None, None]:
        """The answer stream of an admitted ticket: deadline checked between steps, kept in the
        cache when complete, the slot freed at the answer or however it ends (a closed generator too)."""
        events: Iterator[Event] | None = None
        seen: list[Event] = []
        completed = False
        try:
            ticket.check()
            events = self.on(collection).stream(question, history, docs=docs)
            for event in events:
                ticket.check()
                seen.append(event)
                if event.kind == "answer":  # before yielding it: a consumer may stop at the answer
                    completed = True
                    if key is not None:
                        self.cache.put(key, seen)
                    ticket.done(completed=True)  # the work is done: the next in line may start
                yield event
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
            ticket.done(completed=completed)

    def stream(
        self, question: str, history=None, docs=None, collection: str | None = None, poll: float = POLL_S
    ) -> Generator[Event, None, None]:
        """For synchronous front ends: a cached answer at once, else ``Event("waiting", Status)``
        while in line (on every move of the line, at least every ``poll`` s), then the answer."""
        key, hit = self.cached(question, history, docs, collection)
        if hit is not None:
            yield from hit
            return
        ticket = self.queue.enter()
        try:
            status = ticket.status()
            while status is not None:
                yield Event("waiting", status)
                status = ticket.wait(poll)
        except BaseException:
            ticket.done()
            raise
        yield from self.run(ticket, key, question, history, docs, collection)


_gates_lock = threading.Lock()


def gate(assistant) -> Gate:
    """The Gate of an assistant, created on first use. Assistants made by ``Assistant.using`` (other
    collections of the same index) share their origin's queue and cache: one LLM, one line."""
    with _gates_lock:
        return _gate(assistant)


def _gate(assistant) -> Gate:
    g = getattr(assistant, "_answer_gate", None)
    if g is None:
        origin = getattr(assistant, "_origin", None)
        if origin is not None and origin is not assistant:
            root = _gate(origin)
            g = Gate(assistant, root.queue, root.cache)
        else:
            g = Gate(assistant)
        assistant._answer_gate = g
    return g
