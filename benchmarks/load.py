"""Load test of the web app: N concurrent gradio_client users asking through ``/ask``, with an
ingest running in another process at the same time.

What it does, end to end, with real processes:

1. copies the corpus into a work folder and holds a few files back (``--holdback``, or the
   files in ``--late``) for the concurrent ingest;
2. starts ``chroma run`` (``--chroma server``, the default; ``embedded`` uses a local index
   folder), runs ``assistant ingest`` on the corpus (incremental: a second run with the same
   ``--work-dir`` re-embeds nothing), then starts ``assistant serve`` on a free loopback port;
3. one warm-up question (loads the LLM; reported apart), then ``--users`` threads, each with
   its own ``gradio_client.Client`` (its own session), ask different questions (user i asks
   question i, i+users, ... of the list) until ``--questions-per-user`` or ``--minutes`` is
   reached; answers still queued at the deadline are waited for (``--request-timeout``);
4. meanwhile ``assistant ingest LATE`` runs in a separate process; when it ends, ``/search``
   must find the new documents in the running app (no restart);
5. every answer is checked: no error, the returned ``question`` is the one this user asked
   (answers are never crossed between users), and each citation is an exact quote of its file;
6. prints and writes latency percentiles and the rest to ``--out`` (Markdown).

Exit status 0 only when there were no errors, no crossed answers, no bad citations and the
late documents became searchable.

    .venv/bin/python benchmarks/load.py --users 20 --minutes 3            # the packaged 1.5B model
    .venv/bin/python benchmarks/load.py --users 2 --questions-per-user 1 \\
        --llm-model "$(.venv/bin/python -c 'from assistant.models import tiny_llm_path as p; print(p())')"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
BIN = Path(sys.executable).parent
DEFAULT_OUT = ROOT / "benchmarks" / "load-results.md"

FALLBACK_QUESTIONS = [
    "Has Trump authorized the strikes?",
    "How many sources spoke to NBC News about the strike plans?",
    "What did Trump warn drug smugglers at the United Nations?",
    "What is the capital of Australia?",
]


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        GRADIO_ANALYTICS_ENABLED="False",
        ANONYMIZED_TELEMETRY="False",
        TOKENIZERS_PARALLELISM="false",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(extra)
    return env


def assistant_cmd() -> list[str]:
    exe = BIN / "assistant"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "assistant.cli"]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise SystemExit(f"server exited with {proc.returncode} before answering {url}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not come up within {timeout:.0f}s")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)


# --------------------------------------------------------------------------- data


def load_questions(path: str | None) -> list[str]:
    files = (
        [Path(path)]
        if path
        else [SHARED / "eval" / "seed_questions.jsonl", SHARED / "eval" / "dev" / "questions.jsonl"]
    )
    out: list[str] = []
    for f in files:
        if f.is_file():
            for line in f.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    out.append(json.loads(line)["question"])
    return list(dict.fromkeys(out)) or FALLBACK_QUESTIONS


def default_corpora() -> list[Path]:
    dev = SHARED / "eval" / "dev" / "corpus"
    return [p for p in (ROOT / "seeds", dev) if p.is_dir()]


def prepare_folders(work: Path, corpora: list[Path], holdback: int, late_src: Path | None) -> tuple[Path, Path | None]:
    """work/corpus (what is indexed before the load) and work/late (ingested during it)."""
    corpus, late = work / "corpus", work / "late"
    files = sorted(
        f
        for c in corpora
        for f in c.rglob("*")
        if f.is_file()
        and not f.name.startswith(".")
        and f.suffix.lower() in {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"}
    )
    if late_src is not None:
        held = sorted(f for f in late_src.rglob("*") if f.is_file())
        keep = files
    else:
        n = min(holdback, max(0, len(files) - 1))
        held = files[len(files) // n - 1 :: len(files) // n][:n] if n else []  # spread over the corpus
        keep = [f for f in files if f not in set(held)]
    for folder, chosen in ((corpus, keep), (late, held)):
        folder.mkdir(parents=True, exist_ok=True)
        names = set()
        for f in chosen:
            names.add(f.name)
            dest = folder / f.name
            if not dest.exists() or dest.stat().st_size != f.stat().st_size:
                shutil.copy2(f, dest)
        for old in folder.iterdir():  # a reused work dir: keep the folder equal to the selection
            if old.is_file() and old.name not in names:
                old.unlink()
    return corpus, (late if held else None)


# --------------------------------------------------------------------------- checking answers


class Texts:
    """The text each source's citation offsets index into, read once per file."""

    def __init__(self):
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, source: str) -> str:
        with self._lock:
            if source not in self._cache:
                from assistant.documents import text_of

                self._cache[source] = text_of(source)
            return self._cache[source]


def as_dict(result) -> dict:
    if isinstance(result, str):
        result = json.loads(result)
    if isinstance(result, (list, tuple)):
        result = next((x for x in result if isinstance(x, dict)), None)
    if not isinstance(result, dict):
        raise TypeError(f"/ask returned {type(result).__name__}, not a dict")
    return result


def problems_of(result: dict, asked: str, texts: Texts, roots: list[Path]) -> tuple[list[str], list[str]]:
    """(crossed-answer problems, citation problems) of one /ask result."""
    crossed, cites = [], []
    if result.get("question") != " ".join(asked.split()):
        crossed.append(f"asked {asked!r}, got the answer to {result.get('question')!r}")
    if not isinstance(result.get("answer"), str) or not result["answer"].strip():
        crossed.append("empty answer")
    if not isinstance(result.get("refused"), bool):
        crossed.append("no refused flag")
    for c in result.get("citations") or []:
        src = str(c.get("source", ""))
        if not any(src.startswith(str(r)) for r in roots):
            cites.append(f"citation outside the corpus: {src}")
            continue
        try:
            if texts.get(src)[int(c["start"]) : int(c["end"])] != c["quote"]:
                cites.append(f"quote is not {Path(src).name}[{c['start']}:{c['end']}]")
        except Exception as e:  # the file moved or cannot be read
            cites.append(f"{Path(src).name}: {type(e).__name__}: {e}")
    return crossed, cites


# --------------------------------------------------------------------------- the load


@dataclass
class Record:
    user: int
    question: str
    started: float
    latency: float | None = None
    server_total: float | None = None
    refused: bool | None = None
    n_citations: int = 0
    error: str = ""
    crossed: list[str] = field(default_factory=list)
    bad_citations: list[str] = field(default_factory=list)


def make_client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, analytics_enabled=False)


def user_loop(
    i: int,
    url: str,
    questions: list[str],
    n_users: int,
    per_user: int,
    deadline: list[float],
    timeout: float,
    texts: Texts,
    roots: list[Path],
    records: list[Record],
    lock: threading.Lock,
    start_gate: threading.Barrier,
) -> None:
    """One user: connect, wait until every user is connected, then ask until done (deadline[0] is set then)."""
    try:
        client = make_client(url)
    except Exception as e:
        with lock:
            records.append(Record(i, "", time.time(), error=f"client: {type(e).__name__}: {e}"))
        start_gate.abort()
        return
    try:
        start_gate.wait()
    except threading.BrokenBarrierError:
        return
    k = 0
    while (per_user == 0 or k < per_user) and (time.monotonic() < deadline[0] or k == 0):
        q = questions[(i + k * n_users) % len(questions)]
        rec = Record(i, q, time.time())
        t0 = time.perf_counter()
        try:
            result = as_dict(client.submit(q, api_name="/ask").result(timeout=timeout))
            rec.latency = time.perf_counter() - t0
            rec.server_total = (result.get("timings") or {}).get("total_s")
            rec.refused = result.get("refused")
            rec.n_citations = len(result.get("citations") or [])
            rec.crossed, rec.bad_citations = problems_of(result, q, texts, roots)
        except Exception as e:
            rec.latency = time.perf_counter() - t0
            rec.error = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
        with lock:
            records.append(rec)
        k += 1


@dataclass
class IngestRun:
    started_at: float = 0.0
    seconds: float | None = None
    report: dict | None = None
    error: str = ""
    searchable: bool | None = None
    search_note: str = ""


def concurrent_ingest(late: Path, env: dict, url: str, delay: float, run: IngestRun, log: Path) -> None:
    time.sleep(delay)
    run.started_at = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run(
        assistant_cmd() + ["ingest", str(late), "--json"], env=env, cwd=late.parent, capture_output=True, text=True
    )
    run.seconds = time.perf_counter() - t0
    log.write_text(proc.stderr)
    if proc.returncode != 0:
        run.error = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return
    run.report = json.loads(proc.stdout)
    # The running app must see the new documents without a restart.
    from assistant.documents import UnreadableFile, read_document
    from assistant.ingest import header_end

    wanted = {str(p) for p in run.report["added"] + run.report["updated"] + run.report["unchanged"]}
    found, tried = 0, 0
    client = make_client(url)
    for src in sorted(wanted):
        try:
            doc = read_document(src)
        except UnreadableFile:
            continue
        tried += 1
        query = " ".join(doc.text[header_end(doc.text) :].split()[:30])  # the opening words of the body
        hits = client.predict(query, 10, api_name="/search")
        hits = json.loads(hits) if isinstance(hits, str) else hits
        found += any(h.get("source") == src for h in hits)
    run.searchable = tried > 0 and found == tried
    run.search_note = f"{found}/{tried} late documents found by /search with their opening words"


def pct(values: list[float], q: float) -> float | None:
    vs = sorted(values)
    if not vs:
        return None
    pos = (len(vs) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(vs) - 1)
    return vs[lo] + (vs[hi] - vs[lo]) * (pos - lo)


def fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=3.0, help="no new question after this (in-flight ones finish)")
    ap.add_argument("--questions-per-user", type=int, default=0, help="0 = until --minutes is up")
    ap.add_argument("--request-timeout", type=float, default=900.0, help="seconds one /ask may take, queue included")
    ap.add_argument(
        "--corpus", action="append", help="folder to index before the load (repeatable; default seeds/ + dev corpus)"
    )
    ap.add_argument("--late", help="folder ingested during the load (default: --holdback files of the corpus)")
    ap.add_argument("--holdback", type=int, default=10)
    ap.add_argument("--ingest-delay", type=float, default=5.0, help="seconds into the load when the ingest starts")
    ap.add_argument("--questions", help="a .jsonl file with a 'question' per line (default: seed + dev questions)")
    ap.add_argument("--chroma", choices=["server", "embedded"], default="server")
    ap.add_argument("--llm-model", help="a GGUF file (default: the packaged Qwen2.5-1.5B)")
    ap.add_argument("--llm-url", help="an OpenAI-compatible server instead of the embedded model")
    ap.add_argument("--work-dir", help="keep the index here (reused: a second run re-embeds nothing)")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="assistant-load-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    corpora = [Path(c).resolve() for c in args.corpus] if args.corpus else default_corpora()
    corpus, late = prepare_folders(work, corpora, args.holdback, Path(args.late).resolve() if args.late else None)
    questions = load_questions(args.questions)

    settings_env = {"ASSISTANT_INDEX_DIR": str(work / "index")}
    if args.llm_model:
        settings_env["ASSISTANT_LLM_MODEL"] = str(Path(args.llm_model).resolve())
    if args.llm_url:
        settings_env["ASSISTANT_LLM_URL"] = args.llm_url
    procs: list[subprocess.Popen] = []
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    load_before = os.getloadavg()
    try:
        if args.chroma == "server":
            port = free_port()
            with open(logs / "chroma.log", "wb") as log:
                chroma_exe = str(BIN / "chroma") if (BIN / "chroma").exists() else "chroma"
                procs.append(
                    subprocess.Popen(
                        [chroma_exe, "run", "--path", str(work / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )
            wait_http(f"http://127.0.0.1:{port}/api/v2/heartbeat", 60, procs[-1], logs / "chroma.log")
            settings_env["ASSISTANT_CHROMA_URL"] = f"http://127.0.0.1:{port}"
        env = env_for(settings_env)

        print(f"[load] ingesting {corpus} ...", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            assistant_cmd() + ["ingest", str(corpus), "--json"], env=env, cwd=work, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SystemExit(f"ingest failed: {proc.stderr[-2000:]}")
        first_ingest = json.loads(proc.stdout)
        first_ingest_s = time.perf_counter() - t0
        n_docs = len(first_ingest["added"]) + len(first_ingest["updated"]) + len(first_ingest["unchanged"])
        print(
            f"[load] {n_docs} documents indexed ({first_ingest['chunks']} chunks embedded, {first_ingest_s:.0f}s)",
            flush=True,
        )

        if late is not None:  # a reused work dir: the late files must be new to the index again
            docs = subprocess.run(
                assistant_cmd() + ["documents", "--json"], env=env, cwd=work, capture_output=True, text=True
            )
            stale = [d["source"] for d in json.loads(docs.stdout or "[]") if d["source"].startswith(str(late) + os.sep)]
            if stale:
                subprocess.run(assistant_cmd() + ["remove"] + stale, env=env, cwd=work, capture_output=True, text=True)

        app_port = free_port()
        url = f"http://127.0.0.1:{app_port}/"
        with open(logs / "serve.log", "wb") as log:
            procs.append(
                subprocess.Popen(
                    assistant_cmd() + ["serve", "--host", "127.0.0.1", "--port", str(app_port)],
                    env=env,
                    cwd=work,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
        wait_http(url, 300, procs[-1], logs / "serve.log")
        print(f"[load] app up at {url}", flush=True)

        texts, roots = Texts(), [corpus] + ([late] if late else [])
        t0 = time.perf_counter()
        warm = as_dict(make_client(url).predict(questions[0], api_name="/ask"))
        warm_s = time.perf_counter() - t0
        print(f"[load] warm-up answer in {warm_s:.1f}s (refused={warm.get('refused')})", flush=True)

        records: list[Record] = []
        lock = threading.Lock()
        deadline = [float("inf")]  # the clock starts once every user is connected

        def start_clock():
            deadline[0] = time.monotonic() + 60 * args.minutes

        gate = threading.Barrier(args.users, action=start_clock)
        threads = [
            threading.Thread(
                target=user_loop,
                daemon=True,
                name=f"user-{i}",
                args=(
                    i,
                    url,
                    questions,
                    args.users,
                    args.questions_per_user,
                    deadline,
                    args.request_timeout,
                    texts,
                    roots,
                    records,
                    lock,
                    gate,
                ),
            )
            for i in range(args.users)
        ]
        ingest_run = IngestRun()
        t_load = time.time()
        for t in threads:
            t.start()
        ingester = None
        if late is not None:
            ingester = threading.Thread(
                target=concurrent_ingest,
                daemon=True,
                name="ingest",
                args=(late, env, url, args.ingest_delay, ingest_run, logs / "late-ingest.log"),
            )
            ingester.start()
        print(
            f"[load] {args.users} users asking for {args.minutes:g} min"
            + (f" (at most {args.questions_per_user} each)" if args.questions_per_user else "")
            + (f"; ingesting {late} meanwhile" if late else ""),
            flush=True,
        )
        while any(t.is_alive() for t in threads):
            time.sleep(10)
            with lock:
                done = len(records)
            print(f"[load] {time.time() - t_load:5.0f}s: {done} answers", flush=True)
        if ingester is not None:
            ingester.join(timeout=args.request_timeout)
        wall = time.time() - t_load
        load_after = os.getloadavg()
    finally:
        for p in reversed(procs):
            stop(p)

    ok = [r for r in records if not r.error]
    lat = [r.latency for r in ok]
    server = [r.server_total for r in ok if r.server_total is not None]
    errors = [r for r in records if r.error]
    crossed = [r for r in records if r.crossed]
    bad_cites = [r for r in records if r.bad_citations]
    per_user = [sum(1 for r in ok if r.user == i) for i in range(args.users)]
    span = (max(r.started + r.latency for r in ok) - min(r.started for r in ok)) if ok else 0.0
    llm = args.llm_url or (
        Path(args.llm_model).name if args.llm_model else "packaged Qwen2.5-Coder-1.5B-Instruct Q4_K_M"
    )
    late_ok = late is None or (ingest_run.searchable and not ingest_run.error)
    passed = not errors and not crossed and not bad_cites and late_ok and bool(ok)

    cmd = " ".join(
        shlex.quote(a)
        for a in [".venv/bin/python", "benchmarks/load.py"] + (argv if argv is not None else sys.argv[1:])
    )
    lines = [
        "# Load test: concurrent users on `assistant serve`",
        "",
        f"Command: `{cmd}`  ",
        f"Result: **{'PASS' if passed else 'FAIL'}** — {len(ok)} answers, errors: {len(errors)}, "
        f"mismatched answers: {len(crossed)}, bad citations: {len(bad_cites)}",
        "",
        "## Set-up",
        f"- machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (other work on the machine counts)",
        f"- LLM: {llm}; Chroma: {args.chroma}; {n_docs} documents indexed before the load "
        f"({first_ingest['chunks']} chunks embedded in {first_ingest_s:.0f}s)",
        f"- {args.users} users (one gradio_client each), {args.minutes:g} min of new questions"
        + (f", at most {args.questions_per_user} per user" if args.questions_per_user else "")
        + f", {len(questions)} distinct questions; warm-up answer {warm_s:.1f}s",
        "",
        "## Latency of `/ask` as users see it (seconds, queue included)",
        "",
        "| answers | p50 | p90 | p95 | p99 | max | mean | server-side p50 | server-side p95 |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {len(ok)} | {fmt(pct(lat, 50))} | {fmt(pct(lat, 90))} | {fmt(pct(lat, 95))} | {fmt(pct(lat, 99))} | "
        f"{fmt(max(lat) if lat else None)} | {fmt(sum(lat) / len(lat) if lat else None)} | "
        f"{fmt(pct(server, 50))} | {fmt(pct(server, 95))} |",
        "",
        f"- throughput: {len(ok) / span * 60 if span else 0:.1f} answers/min over {span:.0f}s "
        f"(wall {wall:.0f}s); refused: {sum(1 for r in ok if r.refused)}; with citations: "
        f"{sum(1 for r in ok if r.n_citations)}",
        f"- answers per user: min {min(per_user) if per_user else 0}, max {max(per_user) if per_user else 0}",
        "- server-side = the answer's own `timings.total_s`, measured inside `Assistant.ask` (retrieval, waiting "
        "for the LLM, generation); the rest is Gradio's queue. The web app runs 2 answers at once and the LLM "
        "generates one at a time, so answers are served one after another",
        "",
        "## Ingest during the load",
        (
            "- none (no late files)"
            if late is None
            else f"- `assistant ingest` of {len(list(late.iterdir()))} files in a separate process, started "
            f"{ingest_run.started_at - t_load:.0f}s into the load: "
            + (
                f"failed: {ingest_run.error}"
                if ingest_run.error
                else f"{(ingest_run.report or {}).get('chunks', '?')} chunks in {fmt(ingest_run.seconds)}s; "
                f"{ingest_run.search_note}"
            )
        ),
        "",
        "## Problems",
    ]
    problems = (
        [f"- user {r.user}, {r.question!r}: {r.error}" for r in errors]
        + [f"- user {r.user}: {p}" for r in crossed for p in r.crossed]
        + [f"- user {r.user}, {r.question!r}: {p}" for r in bad_cites for p in r.bad_citations]
    )
    if late is not None and not late_ok:
        problems.append(f"- late documents not searchable: {ingest_run.error or ingest_run.search_note}")
    lines += problems[:50] or ["- none"]
    report = "\n".join(lines) + "\n"
    print(report, flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    print(f"[load] written to {out}; logs in {logs}", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
