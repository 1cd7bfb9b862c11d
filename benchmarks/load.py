"""Load test of fair queueing: N concurrent users streaming answers from ``/v1/chat/completions``
of a real ``assistant serve`` process (embedded index, embedded LLM) on a loopback port.

What it does, end to end:

1. ``assistant ingest`` of the corpus (default: seeds/) into ``--work-dir``, then ``assistant serve``
   with ``answer_concurrency`` 1 (``--slots``), ``max_queue`` ``--max-queue``;
2. warm-up: each of the ``--common`` common questions once (loads the LLM, fills the answer cache;
   reported apart);
3. ``--users`` threads, each its own httpx client, alternate a common question (expected from the
   cache) and a question of their own carrying a unique marker ``(ref uI-N)`` (expected to queue),
   until ``--seconds`` have passed. Requests still waiting then leave the line (the client closes
   the stream; the server's heartbeat comment every 10 s lets it notice) and count as abandoned, not
   as errors; an answer already being written is waited for;
4. every answer is checked: no error event, the final chunk's ``question`` is exactly the one this
   user sent (no crossed answers), ``cached`` as expected, and every request that waited (its first
   data chunk came more than ``WAITED_S`` after sending) was shown its position (an SSE
   ``: Waiting: ...`` comment) before that;
5. writes latency percentiles for cached and uncached answers, the positions seen and the load
   average to ``--out`` (Markdown).

Exit status 0 only with no errors, no crossed answers and no waiting user left without a position.

    .venv/bin/python benchmarks/load.py                    # 20 users, 2 minutes
    .venv/bin/python benchmarks/load.py --seconds 300      # the full run
    .venv/bin/python benchmarks/load.py --llm-url http://127.0.0.1:8080/v1 --slots 4   # a server LLM
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_OUT = ROOT / "benchmarks" / "load-results.md"
WAITED_S = 8.0  # a first data chunk later than this means the request waited in line

COMMON = ["Has Trump authorized the strikes?", "What did Trump warn drug smugglers at the United Nations?"]
OWN = [
    "How many sources spoke to NBC News about the strike plans?",
    "What are U.S. military officials planning against Venezuela?",
    "Who leads Venezuela according to the article?",
    "What options are under review?",
    "What is the capital of Australia?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        ANONYMIZED_TELEMETRY="False",
        TOKENIZERS_PARALLELISM="false",
    )
    env.update(extra)
    return env


def assistant_cmd() -> list[str]:
    exe = BIN / "assistant"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "assistant.cli"]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q / 100 * (len(v) - 1))))]


def fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


@dataclass
class Result:
    user: int
    question: str
    expect_cached: bool
    latency: float = 0.0
    first_data: float | None = None  # seconds to the first data chunk
    positions: list[int] = field(default_factory=list)
    first_comment: float | None = None
    cached: bool | None = None
    echoed: str | None = None
    error: str | None = None
    abandoned: bool = False
    text: str = ""


def ask(base: str, question: str, stop: threading.Event | None, timeout: float) -> Result:
    r = Result(user=-1, question=question, expect_cached=False)
    t0 = time.monotonic()
    body = {"model": "assistant", "stream": True, "messages": [{"role": "user", "content": question}]}
    try:
        with httpx.stream("POST", base + "/chat/completions", json=body, timeout=timeout) as resp:
            if resp.status_code != 200:
                r.error = f"HTTP {resp.status_code}: {resp.read().decode(errors='replace')[:200]}"
                return r
            for line in resp.iter_lines():
                now = time.monotonic() - t0
                if line.startswith(":"):
                    m = re.search(r"position=(\d+)", line)
                    if m:
                        r.positions.append(int(m.group(1)))
                        r.first_comment = r.first_comment if r.first_comment is not None else now
                    if stop is not None and stop.is_set() and r.first_data is None:
                        r.abandoned = True  # still waiting at the end of the run: leave the line
                        return r
                    continue
                if not line.startswith("data: "):
                    continue
                if r.first_data is None:
                    r.first_data = now
                if line == "data: [DONE]":
                    break
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    r.error = chunk["error"]["message"]
                    continue
                choice = chunk["choices"][0] if chunk.get("choices") else {}
                r.text += (choice.get("delta") or {}).get("content") or ""
                if choice.get("finish_reason") == "stop":
                    r.echoed, r.cached = chunk.get("question"), chunk.get("cached")
    except httpx.HTTPError as e:
        r.error = f"{type(e).__name__}: {e}"
    r.latency = time.monotonic() - t0
    return r


def user_loop(i: int, base: str, stop: threading.Event, out: list[Result], lock: threading.Lock, timeout: float):
    n = 0
    while not stop.is_set():
        common = n % 2 == 0
        q = COMMON[(i + n // 2) % len(COMMON)] if common else f"{OWN[(i + n) % len(OWN)]} (ref u{i}-{n})"
        r = ask(base, q, stop, timeout)
        r.user, r.expect_cached = i, common
        with lock:
            out.append(r)
        n += 1


def problems_of(r: Result) -> list[str]:
    out: list[str] = []
    if r.abandoned:
        return out
    if r.error:
        out.append(f"user {r.user}: error {r.error!r} for {r.question!r}")
        return out
    if r.echoed != r.question:
        out.append(f"user {r.user}: asked {r.question!r} but got the answer to {r.echoed!r}")
    if r.expect_cached and r.cached is not True:
        out.append(f"user {r.user}: {r.question!r} was not answered from the cache")
    late = r.first_data is not None and r.first_data > WAITED_S
    if late and (r.first_comment is None or r.first_comment > (r.first_data or 0)):
        out.append(f"user {r.user}: waited {r.first_data:.0f}s for {r.question!r} without being shown a position")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=120.0, help="no new question after this; waiting ones leave")
    ap.add_argument("--slots", type=int, default=1, help="answer_concurrency (the LLM server's parallel slots)")
    ap.add_argument("--max-queue", type=int, default=30)
    ap.add_argument("--corpus", default=str(ROOT / "seeds"))
    ap.add_argument("--llm-url", help="an OpenAI-compatible server instead of the embedded model")
    ap.add_argument("--llm-model", help="a GGUF file for the embedded LLM (default: the packaged 1.5B)")
    ap.add_argument("--work-dir", default="/tmp/assistant-load")
    ap.add_argument("--request-timeout", type=float, default=900.0)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)

    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    extra = {
        "ASSISTANT_INDEX_DIR": str(work / "index"),
        "ASSISTANT_PORT": str(port),
        "ASSISTANT_ANSWER_CONCURRENCY": str(args.slots),
        "ASSISTANT_MAX_QUEUE": str(args.max_queue),
        "ASSISTANT_ANSWER_TIMEOUT_S": str(args.request_timeout),
    }
    if args.llm_url:
        extra["ASSISTANT_LLM_URL"] = args.llm_url
    if args.llm_model:
        extra["ASSISTANT_LLM_MODEL"] = args.llm_model
    env = env_for(extra)
    load_before = os.getloadavg()
    subprocess.run([*assistant_cmd(), "ingest", args.corpus], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    log_path = work / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([*assistant_cmd(), "serve"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        end = time.monotonic() + 180
        while True:
            if server.poll() is not None or time.monotonic() > end:
                raise SystemExit("server did not start:\n" + log_path.read_text()[-2000:])
            try:
                if httpx.get(base + "/models", timeout=3).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        warm = [ask(base, q, None, args.request_timeout) for q in COMMON]  # loads the LLM, fills the cache
        results: list[Result] = []
        lock, stop = threading.Lock(), threading.Event()
        threads = [
            threading.Thread(target=user_loop, args=(i, base, stop, results, lock, args.request_timeout), daemon=True)
            for i in range(args.users)
        ]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        time.sleep(args.seconds)
        stop.set()
        for th in threads:
            th.join(args.request_timeout)
        wall = time.monotonic() - t0
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    load_after = os.getloadavg()

    done = [r for r in results if not r.abandoned and not r.error]
    cached = [r.latency for r in done if r.cached]
    uncached = [r.latency for r in done if not r.cached]
    problems = [f"warm-up: {r.error}" for r in warm if r.error] + [p for r in results for p in problems_of(r)]
    errors = [r for r in results if r.error]
    crossed = [r for r in done if r.echoed != r.question]
    waited = [r for r in results if r.positions or (r.first_data or 0) > WAITED_S]
    shown = [r for r in waited if r.positions]
    abandoned = [r for r in results if r.abandoned]
    ok = not problems
    firsts = [r.first_comment for r in shown if r.first_comment is not None]
    llm = f"server {args.llm_url}" if args.llm_url else "embedded (packaged Qwen2.5-Coder-1.5B Q4_K_M)"
    cmd = "python benchmarks/load.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# Load test: fair queueing on `assistant serve`",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Result: **{'PASS' if ok else 'FAIL'}** — {len(done)} answers ({len(cached)} from the cache), "
        f"errors: {len(errors)}, crossed answers: {len(crossed)}, waiting users shown a position: "
        f"{len(shown)}/{len(waited)}, abandoned at the end: {len(abandoned)}",
        "",
        "## Set-up",
        f"- machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (other work on the machine counts)",
        f"- LLM: {llm}; answer_concurrency {args.slots}, max_queue {args.max_queue}; corpus {args.corpus}",
        f"- {args.users} users (httpx streaming `/v1/chat/completions`), {args.seconds:.0f} s of new questions, "
        "alternating a common question (cached after the warm-up) and one of their own with a unique marker",
        f"- warm-up (LLM load + {len(COMMON)} uncached answers): " + ", ".join(f"{r.latency:.1f}s" for r in warm),
        "",
        "## Latency as users see it (seconds, waiting included)",
        "",
        "| answers | n | p50 | p95 | max |",
        "|---|---|---|---|---|",
        f"| cached | {len(cached)} | {fmt(pct(cached, 50))} | {fmt(pct(cached, 95))} | "
        f"{fmt(max(cached, default=None))} |",
        f"| uncached | {len(uncached)} | {fmt(pct(uncached, 50))} | {fmt(pct(uncached, 95))} | "
        f"{fmt(max(uncached, default=None))} |",
        "",
        f"- throughput: {len(uncached)} uncached answers in {wall:.0f}s ({len(uncached) / wall * 60:.1f}/min)",
        f"- positions shown: first seen {sorted({r.positions[0] for r in shown})}; "
        f"time to the first position line p95 {fmt(pct(firsts, 95))}s",
        "",
        "## Problems",
        *([f"- {p}" for p in problems[:30]] or ["- none"]),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    shutil.copy(log_path, work / "serve-last.log")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
