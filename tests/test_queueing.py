"""The admission queue and answer cache (assistant/queueing.py) with fake work: no models, no server."""

from __future__ import annotations

import threading
import time

import pytest

from assistant.answer import Event
from assistant.errors import AssistantError, Busy, TimedOut
from assistant.queueing import AnswerCache, AnswerQueue, Gate, Status, cache_key, gate, ordinal
from assistant.schema import Answer
from assistant.settings import Settings


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_fifo_positions_and_estimates_from_recent_answer_times():
    clock = Clock()
    q = AnswerQueue(concurrency=1, max_queue=5, timeout_s=600, clock=clock)
    a = q.enter()
    assert a.admitted and a.status() is None
    b, c, d = q.enter(), q.enter(), q.enter()
    assert [t.status().position for t in (b, c, d)] == [1, 2, 3]
    assert d.status().estimate_s == pytest.approx(3 * 20.0)  # the prior before any answer finished
    clock.now += 10
    a.done(completed=True)  # a 10 s answer: b is next, in arrival order
    assert b.admitted and not c.admitted
    assert c.status() == Status(1, 10.0) and d.status() == Status(2, 20.0)
    clock.now += 30
    b.done(completed=True)  # mean of 10 and 30
    assert c.admitted and d.status() == Status(1, 20.0)
    assert d.status().text() == "Waiting: 1st in line, about 20 s"
    c.done()  # not completed (an error): not counted in the estimate
    assert d.admitted and q.mean_answer_s() == 20.0
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
    ]


def test_concurrency_slots_and_a_waiter_that_leaves():
    q = AnswerQueue(concurrency=2, max_queue=5)
    a, b, c, d, e = (q.enter() for _ in range(5))
    assert a.admitted and b.admitted and not c.admitted
    assert [t.status().position for t in (c, d, e)] == [1, 2, 3]
    assert e.status().estimate_s == pytest.approx(2 * 20.0)  # ceil(3 / 2) answers ahead
    d.done()  # gave up while waiting
    assert e.status().position == 2
    a.done(completed=True)
    assert c.admitted and e.status().position == 1
    a.done(completed=True)  # idempotent: frees nothing twice
    assert not e.admitted and q.running == 2


def test_a_full_line_is_refused_at_once_with_a_retry_time():
    clock = Clock()
    q = AnswerQueue(concurrency=1, max_queue=2, clock=clock)
    q.enter(), q.enter(), q.enter()
    with pytest.raises(Busy) as err:
        q.enter()
    assert isinstance(err.value, AssistantError)
    assert str(err.value) == "The assistant is busy: 2 questions are waiting; try again in about 60 s."
    assert err.value.retry_after == 60 and err.value.waiting == 2
    assert q.waiting == 2
    with pytest.raises(Busy, match="busy: 0 questions"):  # max_queue 0: only free slots
        z = AnswerQueue(max_queue=0)
        z.enter()
        z.enter()


def test_waiting_past_the_time_limit_is_a_one_line_message_and_frees_the_place():
    clock = Clock()
    q = AnswerQueue(concurrency=1, max_queue=5, timeout_s=30, clock=clock)
    a, b = q.enter(), q.enter()
    clock.now += 20
    c = q.enter()
    clock.now += 11  # b has waited 31 s, c 11 s
    with pytest.raises(TimedOut, match=r"No answer within 30 s \(answer_timeout_s\)"):
        b.wait(0)
    assert c.status().position == 1
    with pytest.raises(TimedOut):
        a.check()  # a running answer checks between its steps
    a.done()
    assert c.admitted
    d = q.enter()
    clock.now += 31
    c.done()  # d's deadline passed while nobody looked: it is dropped, not admitted
    assert not d.admitted and q.running == 0
    with pytest.raises(TimedOut):
        d.status()


def test_wait_blocks_until_the_line_moves():
    q = AnswerQueue(concurrency=1, max_queue=5)
    a, b = q.enter(), q.enter()
    t0 = time.monotonic()
    assert b.wait(0.05) == b.status()  # nothing moved: the status after the poll interval
    assert time.monotonic() - t0 >= 0.04
    threading.Timer(0.1, a.done).start()
    assert b.wait(5) is None and b.admitted


def test_threads_are_served_in_arrival_order():
    q = AnswerQueue(concurrency=1, max_queue=50)
    order, seen = [], []
    first = q.enter()
    tickets = [q.enter() for _ in range(8)]

    def worker(i, t):
        while t.wait(1) is not None:
            pass
        order.append(i)
        time.sleep(0.005)
        t.done(completed=True)

    threads = [threading.Thread(target=worker, args=(i, t)) for i, t in reversed(list(enumerate(tickets)))]
    for th in threads:
        th.start()
    seen.append(tickets[-1].status().position)
    first.done()
    for th in threads:
        th.join(10)
    assert order == list(range(8)) and seen == [8]


# --------------------------------------------------------------------------- cache and gate


class FakeStore:
    name = "documents"

    def __init__(self):
        self.stamp = "v1"

    def version(self):
        return self.stamp

    def count(self):
        return 3


class FakeAssistant:
    def __init__(self, **settings):
        self.settings = Settings.load(**settings)
        self.store = FakeStore()
        self.calls = []
        self.release = None

    def stream(self, question, history=None, docs=None):
        self.calls.append(question)
        yield Event("passages", [])
        if self.release is not None:
            self.release.wait(10)
        yield Event("text", f"Answer to {question}.")
        yield Event(
            "answer", Answer(question=question, answer=f"Answer to {question}.", refused=False, timings={"total_s": 1})
        )


def answer_of(events):
    return next(e.data for e in events if e.kind == "answer")


def test_cache_key_normalises_text_and_keeps_what_changes_the_answer():
    k = cache_key("Has  Trump\tauthorized it?", [("Q", "A")], ["b", "a"], "documents", "v1")
    assert k == cache_key("has trump AUTHORIZED it? ", [("q ", "a")], ["a", "b"], "documents", "v1")
    assert k != cache_key("Has Trump authorized it?", [], ["a", "b"], "documents", "v1")
    assert k != cache_key("Has Trump authorized it?", [("Q", "A")], ["a"], "documents", "v1")
    assert k != cache_key("Has Trump authorized it?", [("Q", "A")], ["a", "b"], "other", "v1")
    assert k != cache_key("Has Trump authorized it?", [("Q", "A")], ["a", "b"], "documents", "v2")


def test_cache_is_a_bounded_lru_of_copies():
    c = AnswerCache(2)
    ev = [Event("answer", Answer(question="q", answer="a", refused=False))]
    c.put(("a",), ev)
    c.put(("b",), ev)
    assert c.get(("a",)) is not None  # a is now the most recent
    c.put(("c",), ev)
    assert c.get(("b",)) is None and c.get(("a",)) and c.get(("c",))
    got = c.get(("a",))
    assert got[0].data.timings == {"cached": True} and ev[0].data.timings == {}  # the stored copy is untouched
    c.put(("d",), [Event("text", "no answer")])  # incomplete streams are not kept
    assert c.get(("d",)) is None
    assert AnswerCache(0).get(("a",)) is None


def test_gate_answers_an_identical_question_from_the_cache_until_the_index_changes():
    a = FakeAssistant(cache_size=8)
    g = Gate(a)
    first = answer_of(g.stream("Has Trump authorized the strikes?"))
    assert "cached" not in first.timings and a.calls == ["Has Trump authorized the strikes?"]
    again = answer_of(g.stream("  has trump authorized   the strikes? "))
    assert again.timings["cached"] is True and again.answer == first.answer and len(a.calls) == 1
    assert "cached" not in answer_of(g.stream("Has Trump authorized the strikes?", docs=["x.txt"])).timings
    assert "cached" not in answer_of(g.stream("Has Trump authorized the strikes?", [("q", "a")])).timings
    a.store.stamp = "v2"  # an ingest or a removal
    assert "cached" not in answer_of(g.stream("Has Trump authorized the strikes?")).timings
    assert len(a.calls) == 4 and g.queue.running == 0 and g.queue.mean_answer_s() < 5
    assert "cached" not in answer_of(Gate(FakeAssistant(cache_size=0)).stream("q")).timings


def test_gate_streams_positions_while_waiting_and_frees_the_slot_when_closed():
    a = FakeAssistant(max_queue=4)
    a.release = threading.Event()
    g = gate(a)
    assert gate(a) is g  # one gate per assistant
    running = g.stream("first question")
    assert next(running).kind == "passages"  # holds the only slot
    waiting = g.stream("second question", poll=0.05)
    e = next(waiting)
    assert e.kind == "waiting" and e.data == Status(1, 20.0) and e.data.text() == "Waiting: 1st in line, about 20 s"
    third = g.stream("third question", poll=0.05)
    assert next(third).data.position == 2
    third.close()  # a user who leaves the line
    assert g.queue.waiting == 1
    a.release.set()
    assert answer_of(running).question == "first question"
    rest = list(waiting)
    assert rest[0].kind in ("waiting", "passages") and answer_of(rest).question == "second question"
    assert g.queue.running == 0 and g.queue.waiting == 0
    closed = g.stream("fourth question")
    next(closed)
    closed.close()  # a client that went away mid-answer frees its slot
    assert g.queue.running == 0


def test_gate_gives_up_a_running_answer_past_its_time_limit():
    a = FakeAssistant(answer_timeout_s=1)
    g = Gate(a)
    clock = Clock()
    g.queue.clock = clock
    events = g.stream("slow question")
    next(events)
    clock.now += 2
    with pytest.raises(TimedOut):
        next(events)
    assert g.queue.running == 0 and len(g.cache) == 0
