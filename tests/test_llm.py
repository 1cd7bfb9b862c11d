"""LLM backends against real models: the packaged SmolLM2-135M GGUF, in-process and over HTTP."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest

from assistant.llm import EmbeddedLLM, LLMError, OpenAICompatibleLLM, load_llm
from assistant.models import ModelError, llm_model_path, tiny_llm_path
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
QUESTION = [{"role": "user", "content": "Name three colors."}]


@pytest.fixture(scope="module")
def tiny():
    llm = EmbeddedLLM(tiny_llm_path(), n_ctx=2048, threads=2)
    llm.load()
    return llm


def _long_system_prompt(tag: str) -> str:
    facts = "\n".join(
        f"[{i}] Item {i} is painted blue, weighs {i * 3} grams and was made in {1900 + i}." for i in range(40)
    )
    return f"Session {tag}. Answer from these sources only.\n{facts}"


def _timed_stream(llm, messages, **kw):
    t0 = time.perf_counter()
    stamps, pieces = [], []
    for piece in llm.stream(messages, **kw):
        stamps.append(time.perf_counter() - t0)
        pieces.append(piece)
    return pieces, stamps


def test_embedded_streams_several_pieces(tiny):
    pieces, stamps = _timed_stream(tiny, QUESTION, max_tokens=24)
    assert len(pieces) >= 3
    assert all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces).strip()
    assert stamps[0] < stamps[-1]  # pieces arrive one by one, not all at the end
    assert 0 < tiny.last_timings["predicted_n"] <= 24
    assert tiny.load_seconds is not None and tiny.load_seconds < 30


def test_embedded_reuses_kv_cache_of_shared_prefix(tiny):
    system = {"role": "system", "content": _long_system_prompt(uuid.uuid4().hex)}
    _, first = _timed_stream(tiny, [system, {"role": "user", "content": "What colour is item 5?"}], max_tokens=8)
    cold = dict(tiny.last_timings)
    _, second = _timed_stream(tiny, [system, {"role": "user", "content": "How heavy is item 7?"}], max_tokens=8)
    warm = dict(tiny.last_timings)
    assert cold["prompt_n"] > 500  # the whole prompt was evaluated once...
    assert warm["cache_n"] >= 0.9 * cold["prompt_n"]  # ...and reused the second time
    assert warm["prompt_n"] < 40
    assert second[0] < 0.7 * first[0]  # time to first piece


def test_complete_joins_stream_and_honours_max_tokens(tiny):
    text = tiny.complete(QUESTION, max_tokens=5)
    assert text.strip()
    assert tiny.last_timings["predicted_n"] <= 5


def test_closing_a_stream_early_frees_the_model(tiny):
    stream = tiny.stream([{"role": "user", "content": "Write a very long story about a dragon."}], max_tokens=400)
    next(stream)
    stream.close()
    t0 = time.perf_counter()
    assert tiny.complete(QUESTION, max_tokens=4)
    assert tiny.last_timings["predicted_n"] <= 4
    assert time.perf_counter() - t0 < 5  # did not wait for 400 tokens of the closed stream


def test_concurrent_requests_are_served_one_at_a_time(tiny):
    answers, errors = [], []

    def ask(i):
        try:
            answers.append(tiny.complete([{"role": "user", "content": f"Say the number {i}."}], max_tokens=8))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(answers) == 3 and all(a.strip() for a in answers)


def test_prompt_longer_than_context_is_an_llm_error(tiny):
    with pytest.raises(LLMError, match="too long"):
        tiny.complete([{"role": "user", "content": "word " * 3000}], max_tokens=4)


def test_embedded_bad_model_file_is_an_llm_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model" * 100)
    with pytest.raises(LLMError, match="could not load"):
        EmbeddedLLM(str(bad), n_ctx=512, threads=1).complete(QUESTION)


def test_missing_model_file_raises_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        llm_model_path(Settings(llm_model=str(tmp_path / "missing.gguf")))
    with pytest.raises(ModelError):
        load_llm(Settings(llm_model=str(tmp_path / "missing.gguf")))


def test_load_llm_picks_backend_from_settings():
    assert isinstance(load_llm(Settings(llm_url="http://127.0.0.1:9/v1")), OpenAICompatibleLLM)
    embedded = load_llm(Settings(llm_model=tiny_llm_path(), n_ctx=512))
    assert isinstance(embedded, EmbeddedLLM) and embedded._server is None  # loads lazily


def test_importing_llm_module_is_cheap():
    code = (
        "import sys, assistant.llm, assistant.models, assistant.llm_server; "
        "heavy = [m for m in ('xllamacpp', 'llama_index.core', 'openai', 'torch') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


# --- over HTTP: the real assistant.llm_server in a subprocess ----------------------------------

API_KEY = "test-key-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    yield from _serve(tmp_path_factory, "--n-ctx", "2048")


@pytest.fixture(scope="module")
def two_slot_url(tmp_path_factory):
    yield from _serve(tmp_path_factory, "--n-ctx", "1024", "--parallel", "2")


def _serve(tmp_path_factory, *args: str):
    log_path = tmp_path_factory.mktemp("llm_server") / "stderr.log"
    with (
        open(log_path, "w") as log,
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "assistant.llm_server",
                "--model",
                tiny_llm_path(),
                "--port",
                "0",
                *args,
                "--threads",
                "2",
                "--name",
                "tiny",
                "--api-key",
                API_KEY,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        ) as proc,
    ):
        try:
            line = proc.stdout.readline()  # "serving tiny at http://127.0.0.1:PORT/v1" once ready
            if not line.startswith("serving "):
                proc.kill()
                pytest.fail(f"llm_server did not start: {line!r} {log_path.read_text()[-2000:]}")
            yield line.split(" at ", 1)[1].strip()
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()


def _http(url, body=None):
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read().decode()


def test_llm_server_lists_model_and_answers_without_streaming(server_url):
    models = json.loads(_http(server_url + "/models"))
    assert [m["id"] for m in models["data"]] == ["tiny"]
    reply = json.loads(
        _http(server_url + "/chat/completions", {"model": "tiny", "messages": QUESTION, "max_tokens": 8})
    )
    assert reply["choices"][0]["message"]["content"].strip()


def test_llm_server_streams_sse(server_url):
    raw = _http(
        server_url + "/chat/completions", {"model": "tiny", "messages": QUESTION, "max_tokens": 8, "stream": True}
    )
    events = [line[6:] for line in raw.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and len(events) >= 4


def test_parallel_slots_each_get_the_context_and_answer_together(two_slot_url):
    import concurrent.futures

    base = two_slot_url.removesuffix("/v1")
    for _ in range(120):  # the port answers before the model is loaded
        try:
            props = json.loads(_http(base + "/props"))
            break
        except urllib.error.HTTPError:
            time.sleep(0.5)
    assert props["total_slots"] == 2 and props["default_generation_settings"]["n_ctx"] == 1024
    llm = OpenAICompatibleLLM(two_slot_url, model="tiny", api_key=API_KEY, timeout=60)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda _: llm.complete(QUESTION, max_tokens=8), range(2)))
    assert all(r.strip() for r in replies)


def test_openai_compatible_llm_streams_from_real_server(server_url):
    llm = OpenAICompatibleLLM(server_url, model="tiny", api_key=API_KEY, timeout=60)
    pieces, stamps = _timed_stream(llm, QUESTION, max_tokens=24)
    assert len(pieces) >= 3 and all(pieces)
    assert "".join(pieces).strip()
    assert llm.complete(QUESTION, max_tokens=6).strip()


YES_NO = [
    {"role": "system", "content": "Reply with one word: Yes or No."},
    {"role": "user", "content": "Is water wet?"},
]


def test_yes_probability_from_embedded_and_server_log_probabilities_agree(tiny, server_url):
    embedded = tiny.yes_probability(YES_NO)
    served = OpenAICompatibleLLM(server_url, model="tiny", api_key=API_KEY, timeout=60).yes_probability(YES_NO)
    assert 0.0 < embedded < 1.0 and 0.0 < served < 1.0  # graded, read from log-probabilities
    assert abs(embedded - served) < 0.05  # same model, same prompt, same numbers over HTTP


def test_yes_share_reads_the_first_tokens_alternatives():
    from assistant.llm import yes_share

    assert yes_share([{"token": "Yes", "logprob": -0.1}, {"token": " no", "logprob": -2.4}]) > 0.9
    assert yes_share([{"token": "No", "logprob": -0.05}, {"token": "yes", "logprob": -4.0}]) < 0.05
    assert yes_share([{"token": "Maybe", "logprob": -0.1}]) == 0.5 and yes_share([]) == 0.5


def test_openai_compatible_wrong_key_is_one_line_llm_error(server_url):
    llm = OpenAICompatibleLLM(server_url, model="tiny", api_key="wrong", timeout=30)
    with pytest.raises(LLMError) as e:
        llm.complete(QUESTION, max_tokens=4)
    msg = str(e.value)
    assert server_url in msg and "401" in msg and "\n" not in msg


def test_unreachable_server_fails_fast_with_url():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    llm = OpenAICompatibleLLM(url, timeout=5)
    t0 = time.perf_counter()
    with pytest.raises(LLMError) as e:
        llm.complete(QUESTION)
    assert time.perf_counter() - t0 < 10
    msg = str(e.value)
    assert url in msg and "unreachable" in msg and "\n" not in msg


def test_silent_server_times_out_with_url():
    with socket.socket() as s:  # accepts connections (backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
        llm = OpenAICompatibleLLM(url, timeout=1)
        t0 = time.perf_counter()
        with pytest.raises(LLMError) as e:
            llm.complete(QUESTION)
        assert time.perf_counter() - t0 < 10
    assert url in str(e.value) and "did not answer" in str(e.value)
