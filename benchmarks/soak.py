"""Soak test of the web app's memory: many browser sessions asking many questions, RSS over time.

What it does, end to end, in this one process:

1. writes a corpus of ``--docs`` generated notes (depots in invented towns, ~20 KB each) and
   ingests it with the real embedder into embedded Chroma under ``--work-dir``;
2. starts the real Gradio app (``web.build_app`` + ``launch``) on a loopback port, with the memory
   settings under test: ``history_turns``, ``max_sessions``, ``text_cache_mb``;
3. ``--clients`` threads play ``--sessions`` browser sessions one after another, each its own
   ``session_hash`` (Gradio's per-browser key: its own ``gr.State``), asking ``--questions``
   questions through Gradio's queue exactly as the page does (the chat event, ``queue/join`` +
   ``queue/data``), each followed by a click on citation [1] (the evidence panel: the document-text
   cache). Questions name a random depot, so few repeat (the answer cache is exercised, not relied on);
4. every ``--sample-every`` questions: ``gc.collect()``, then this process's RSS (``VmRSS``), the
   sessions Gradio holds, the bytes in the text cache; printed as it goes;
5. writes the samples and a summary (RSS after warm-up, at the end, growth, the most) to ``--out``
   (JSON), with the load average.

The LLM is ``--llm echo`` (default: a stand-in that repeats the first source sentence, cited; no
model, so the run measures the server and takes minutes) or ``--llm tiny`` (the packaged SmolLM2,
real generation). ``--unbounded`` sets the three limits out of reach: the control that shows what
the bounds hold back.

    .venv/bin/python benchmarks/soak.py                          # 100 sessions x 6 questions, echo LLM
    .venv/bin/python benchmarks/soak.py --unbounded --out /tmp/soak-unbounded.json
    .venv/bin/python benchmarks/soak.py --llm tiny --sessions 100

``tests/test_soak.py`` runs a short version and asserts the growth bound.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import socket
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import httpx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "soak.json"
TOWNS = "Arlen Brisk Corvale Dunmere Eskby Fallow Garrow Hesket Imber Jorvik Kelda Lindow".split()
GOODS = "timber salt copper wool barley flint glass rope".split()


def rss_mb() -> float:
    """This process's resident set size, in MiB (Linux ``/proc/self/status``)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_corpus(folder: Path, n: int, seed: int = 7) -> list[dict]:
    """``n`` notes of about 20 KB each (so the text cache fills); returns the facts (town, good, year,
    staff) that questions ask about."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    facts = []
    for i in range(n):
        town = f"{rng.choice(TOWNS)}{i}"
        good, year, staff = rng.choice(GOODS), rng.randint(1890, 2020), rng.randint(5, 400)
        facts.append({"town": town, "good": good, "year": year, "staff": staff})
        lines = [f"Title: The {town} depot\n", f"The {town} depot opened in {year} and employs {staff} people."]
        lines += [
            f"Carts from the {town} depot carry {rng.choice(GOODS)} to the coast on day {d} of the month; the "
            f"loading yard holds {rng.randint(2, 90)} wagons and the night shift counts {rng.randint(1, 40)} workers."
            for d in range(1, 121)
        ]
        lines.append(f"The main trade of the {town} depot is {good}.")
        (folder / f"depot-{i:03d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return facts


class EchoLLM:
    """Repeats the first numbered source sentence of the prompt, cited; a rewrite returns the question."""

    def stream(self, messages, max_tokens=256, temperature=0.0, stop=None):
        lines = re.findall(r"^\[(\d+)\] (.+)$", messages[-1]["content"], flags=re.M)
        if not lines:
            yield "I could not find the answer in the documents."
            return
        n, text = lines[0]
        yield text.rstrip(".") + f" [{n}]."

    def complete(self, messages, **kw):
        if re.search(r"^\[\d+\] ", messages[-1]["content"], flags=re.M):
            return "".join(self.stream(messages))
        return messages[-1]["content"].strip().splitlines()[-1]

    def yes_probability(self, messages):
        return 0.9


def build(work: Path, docs: int, llm: str, limits: dict, shared_embedder=None):
    """(assistant, app, url, facts): the corpus indexed and the app serving it."""
    from assistant import Assistant, Settings
    from assistant.web import build_app, launch

    facts = write_corpus(work / "corpus", docs)
    extra = {}
    if llm == "tiny":
        from assistant.models import tiny_llm_path

        extra = {"llm_model": tiny_llm_path(), "max_answer_tokens": 32}
    settings = Settings.load(index_dir=str(work / "index"), max_queue=200, **limits, **extra)
    a = Assistant(settings)
    if shared_embedder is not None:
        a.embedder = shared_embedder
    if llm == "echo":
        a._llm = EchoLLM()
    a.ingest(str(work / "corpus"))
    app = build_app(a)
    port = free_port()
    launch(app, "127.0.0.1", port, prevent_thread_lock=True)
    return a, app, f"http://127.0.0.1:{port}/", facts


class Page:
    """One browser session: Gradio's queue protocol, as the page speaks it, for the chat and the evidence panel."""

    def __init__(self, http: httpx.Client, app, session_hash: str):
        self.http, self.session = http, session_hash
        fns = {getattr(f.fn, "__name__", ""): i for i, f in app.fns.items()}
        ids = {c.get("props", {}).get("elem_id"): c["id"] for c in app.config["components"]}
        self.respond, self.evidence = fns["respond"], fns["show_evidence"]
        self.ask_id, self.cite_id = ids["ask-btn"], ids["cite-go"]
        self.turn = 0

    def ask(self, question: str, timeout: float = 600) -> str:
        """The chat event: join the queue, read its stream to the end; the last answer text."""
        self.turn += 1
        body = {
            "data": [question, [], None, None],
            "fn_index": self.respond,
            "session_hash": self.session,
            "event_data": None,
            "trigger_id": self.ask_id,
        }
        r = self.http.post("gradio_api/queue/join", json=body)
        r.raise_for_status()
        event = r.json()["event_id"]
        last = ""
        with self.http.stream(
            "GET", "gradio_api/queue/data", params={"session_hash": self.session}, timeout=timeout
        ) as s:
            for line in s.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") != event:
                    continue
                if msg.get("msg") == "process_completed":
                    if not msg.get("success"):
                        raise RuntimeError(f"the chat event failed: {msg}")
                    return last or json.dumps(msg.get("output"))[:200]
                if msg.get("msg") == "process_generating":
                    last = json.dumps(msg.get("output", {}))[-300:]
        raise RuntimeError("the chat stream ended without completing")

    def show_citation(self) -> str:
        """A click on citation [1] of the last answer (not queued: ``queue=False``)."""
        body = {
            "data": [f"cite-{self.turn}-1", None],
            "fn_index": self.evidence,
            "session_hash": self.session,
            "event_data": None,
            "trigger_id": self.cite_id,
        }
        r = self.http.post("gradio_api/run/predict", json=body)
        r.raise_for_status()
        return json.dumps(r.json())


def run(
    sessions: int = 100,
    questions: int = 6,
    clients: int = 2,
    docs: int = 30,
    llm: str = "echo",
    history_turns: int = 3,
    max_sessions: int = 50,
    text_cache_mb: float = 0.25,
    sample_every: int = 100,
    work_dir: str | None = None,
    shared_embedder=None,
    log=print,
) -> dict:
    """The soak; returns {config, samples, summary} (see the module docstring)."""
    from assistant import web
    from assistant.queueing import gate

    limits = {"history_turns": history_turns, "max_sessions": max_sessions, "text_cache_mb": text_cache_mb}
    work = Path(work_dir or tempfile.mkdtemp(prefix="assistant-soak-"))
    start_rss = rss_mb()
    a, app, url, facts = build(work, docs, llm, limits, shared_embedder)
    rng = random.Random(11)
    started = time.monotonic()
    samples: list[dict] = []
    lock = threading.Lock()
    counters = {"next_session": 0, "questions": 0, "errors": 0, "cited": 0}

    def longest_conversation() -> int:
        """The most turns any session Gradio holds keeps (the chat's ``gr.State`` dicts)."""
        most = 0
        for state in list(app.state_holder.session_data.values()):
            for value in list(state.state_data.values()):
                if isinstance(value, dict) and isinstance(value.get("turns"), dict):
                    most = max(most, len(value["turns"]))
        return most

    def sample() -> None:
        gc.collect()
        row = {
            "t_s": round(time.monotonic() - started, 1),
            "sessions": counters["next_session"],
            "questions": counters["questions"],
            "rss_mb": round(rss_mb(), 1),
            "gradio_sessions": len(app.state_holder.session_data),
            "most_turns": longest_conversation(),
            "text_cache_kb": round(web.TEXTS.bytes / 1024, 1),
            "answer_cache": len(gate(a).cache),
        }
        samples.append(row)
        log(
            f"{row['t_s']:>7.1f} s  sessions {row['sessions']:>5}  questions {row['questions']:>6}  "
            f"RSS {row['rss_mb']:>7.1f} MiB  gradio sessions {row['gradio_sessions']:>5} "
            f"(turns <= {row['most_turns']})  "
            f"text cache {row['text_cache_kb']:>7.1f} KiB  answers cached {row['answer_cache']}"
        )

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=600) as http:
            while True:
                with lock:
                    s = counters["next_session"]
                    if s >= sessions:
                        return
                    counters["next_session"] += 1
                page = Page(http, app, f"soak-{n}-{s}")
                for _ in range(questions):
                    f = facts[rng.randrange(len(facts))]
                    question = rng.choice(
                        [
                            f"When did the {f['town']} depot open?",
                            f"How many people does the {f['town']} depot employ?",
                            f"What is the main trade of the {f['town']} depot?",
                            "And how many wagons does its loading yard hold?",
                        ]
                    )
                    try:
                        page.ask(question)
                        if "ev-passage" in page.show_citation():  # the quote shown in its document
                            with lock:
                                counters["cited"] += 1
                    except Exception as e:  # counted and reported; the soak goes on
                        with lock:
                            counters["errors"] += 1
                        log(f"error: {type(e).__name__}: {e}")
                    with lock:
                        counters["questions"] += 1
                        due = counters["questions"] % sample_every == 0
                    if due:
                        sample()

    try:
        sample()
        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sample()
    finally:
        app.close()
    warm = samples[max(1, len(samples) // 5)]  # after a fifth of the traffic: models, caches, sessions full
    end = samples[-1]
    summary = {
        "rss_start_mb": round(start_rss, 1),
        "rss_warm_mb": warm["rss_mb"],
        "rss_end_mb": end["rss_mb"],
        "rss_max_mb": max(s["rss_mb"] for s in samples),
        "growth_after_warm_mb": round(end["rss_mb"] - warm["rss_mb"], 1),
        "max_after_warm_mb": round(max(s["rss_mb"] for s in samples[samples.index(warm) :]) - warm["rss_mb"], 1),
        "questions": counters["questions"],
        "citations_shown": counters["cited"],
        "errors": counters["errors"],
        "wall_s": round(time.monotonic() - started, 1),
        "load_average": list(os.getloadavg()),
    }
    config = {
        "sessions": sessions,
        "questions_per_session": questions,
        "clients": clients,
        "docs": docs,
        "llm": llm,
        **limits,
    }
    return {"config": config, "samples": samples, "summary": summary}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--questions", type=int, default=6, help="questions per session")
    p.add_argument("--clients", type=int, default=2, help="sessions played at once")
    p.add_argument("--docs", type=int, default=30)
    p.add_argument("--llm", choices=("echo", "tiny"), default="echo")
    p.add_argument("--history-turns", type=int, default=3)
    p.add_argument("--max-sessions", type=int, default=50)
    p.add_argument("--text-cache-mb", type=float, default=0.25)
    p.add_argument("--unbounded", action="store_true", help="the control: limits out of reach")
    p.add_argument("--sample-every", type=int, default=100)
    p.add_argument("--work-dir")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args(argv)
    if args.unbounded:
        args.history_turns, args.max_sessions, args.text_cache_mb = 1000, 1_000_000, 10_000.0
    result = run(
        sessions=args.sessions,
        questions=args.questions,
        clients=args.clients,
        docs=args.docs,
        llm=args.llm,
        history_turns=args.history_turns,
        max_sessions=args.max_sessions,
        text_cache_mb=args.text_cache_mb,
        sample_every=args.sample_every,
        work_dir=args.work_dir,
    )
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    s = result["summary"]
    print(
        f"RSS {s['rss_warm_mb']} MiB after warm-up -> {s['rss_end_mb']} MiB at the end "
        f"({s['growth_after_warm_mb']:+} MiB; most {s['rss_max_mb']} MiB) over {s['questions']} questions, "
        f"{s['errors']} errors, {s['wall_s']} s; load {s['load_average']}; written to {args.out}"
    )
    return 0 if not s["errors"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
