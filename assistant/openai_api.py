"""An OpenAI-compatible HTTP API (``/v1/models``, ``/v1/chat/completions``) over one ``Assistant``.

It lets the ``openai`` client, Open WebUI, LibreChat and anything else that speaks OpenAI's chat
API use the assistant, on the same port as the web app (``web.launch(..., openai_api=assistant)``
adds these routes to the FastAPI app Gradio serves; ``assistant serve`` does that).

Design and trade-offs:

* **One model, the assistant.** ``/v1/models`` lists a single model, ``assistant``; any model
  name is accepted in a request and echoed back, because clients insist on sending one and the
  name changes nothing: the assistant answers only from the indexed documents.
* **The conversation comes from ``messages``.** The server keeps no state (like ``Assistant``):
  the last user message is the question; earlier user/assistant pairs become the
  ``(question, answer)`` history ``Assistant.stream`` uses to rewrite a follow-up. System and
  developer messages are ignored on purpose: a client (or a document pasted into one) must not
  be able to replace the prompts that keep answers grounded and cited.
* **Citations ride along as extra fields.** The message content is the answer text with its
  ``[n]`` markers, exactly as the CLI and web app show it. The sources are a top-level
  ``citations`` list (``n, source, title, page, section, start, end, quote``; ``page`` is null for
  formats without pages; ``quote`` is always
  ``Assistant.text_of(source)[start:end]``) plus ``refused``; in a stream they come in the
  final chunk, the one whose ``finish_reason`` is ``"stop"``; so do ``question`` (the question
  as answered) and ``cached`` (true when the answer came from the answer cache). OpenAI's schema has no place for
  them, but its clients keep unknown fields (``openai`` puts them in ``model_dump()``), and
  clients that do not know them still show a readable answer.
* **Streaming is by verified sentence.** ``Assistant.stream`` yields text only after each
  sentence is checked against its sources, so chunks are sentences, not tokens: the stream
  starts (an empty ``role`` chunk) as soon as retrieval is done, then grows by sentences.
* **One line with the web app.** Answers go through the admission queue and answer cache the
  web app uses (``assistant/queueing.py``): an identical question on an unchanged index is
  answered from the cache at once; otherwise the request takes its place in line. A full line is
  a 429 with ``Retry-After`` at once. A streamed request that has to wait gets its stream at once
  and an SSE comment line ``: Waiting: 3rd in line, about 40 s (position=3, estimate_s=40)`` on
  every move of the line and every ``WAIT_REPEAT_S`` (OpenAI clients ignore comments); errors
  after waiting (the time limit, a bad ``docs``) then arrive as an ``error`` event, not a status
  code. A plain request waits silently. Waiting costs no thread: it polls the ticket on the
  event loop, and a client that goes away leaves the line.
* **The event loop never runs the pipeline.** Retrieval and the LLM are synchronous and slow,
  so each step of the generator runs in a worker thread (``anyio.to_thread``) under a
  capacity limiter of its own (``ANSWER_CONCURRENCY``, or the queue's concurrency + 1 when that
  is more), so admitted answers never take every thread the web app's handlers also need. When a
  client disconnects mid-answer, the generator is closed, which stops the LLM and frees the slot.
* **Errors in OpenAI's shape.** ``{"error": {"message", "type", "param", "code"}}`` with one
  line of text: a bad request (invalid JSON, no user message, empty question) and
  ``InputError``/``SettingsError`` are 400, ``IndexNotReady`` (also an empty index) is 409,
  ``Busy`` is 429 with ``Retry-After``, other ``AssistantError``\\s (LLM or index unreachable, the
  time limit) are 503, a missing or wrong key is 401.
  Anything else is a bug: logged with its traceback, answered with a one-line 500. Errors
  found before the first chunk get their status code; an error mid-stream can only be an
  ``error`` event (which the ``openai`` client raises as ``APIError``).
* **Bearer keys, separate from the page login.** ``ASSISTANT_AUTH`` puts a login in front of
  the web page (a browser session); API clients send ``Authorization: Bearer <key>`` instead,
  checked against ``ASSISTANT_API_KEYS`` (comma-separated) with ``hmac.compare_digest``. With
  no keys set the API is open, like the page without ``ASSISTANT_AUTH``: fine on 127.0.0.1
  (the default bind), to be set before listening beyond loopback.
* **Accounts.** With users (``assistant users add``), every request needs a key: a user's own
  (``assistant users key NAME``) answers as that user, from their private collection (the
  default) or the shared one, never another user's (a 403, the same whether it exists or not);
  an ``ASSISTANT_API_KEYS`` key then reads the shared collection only. The rule lives in
  ``assistant/accounts.py`` (``Policy.for_api``); this module only asks it for each request.
* **Scope.** An optional top-level ``"docs": ["path", ...]`` (files or folders, as the CLI's
  ``--doc``) answers from those documents only; not OpenAI's schema, but clients can send extra
  body fields (``extra_body`` in the ``openai`` client). A path the index does not hold is a 400.
* **Collections.** An optional top-level ``"collection": "NAME"`` answers from that collection of
  documents (``Assistant.using``; default: the server's ``collection`` setting). It is a body field
  rather than one model per collection so that ``/v1/models`` stays one fixed entry and the model
  name keeps meaning nothing; an invalid name is a 400, a collection that does not exist a 409.
  ``"user-alice+documents"`` (names joined by ``+``) answers from those collections together, the
  citations from either (``assistant/combined.py``).
* **Usage is an estimate** (about 4 characters a token), because the pipeline makes several
  LLM calls per answer (rewrite, draft, judge) and their counts are not exposed; the fields are
  valid integers so clients that sum them keep working.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import Generator, Iterator
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.routing import BaseRoute

from . import accounts, combined, queueing
from .errors import AssistantError, Busy, Forbidden, IndexNotReady, InputError, SettingsError

log = logging.getLogger(__name__)

MODEL_ID = "assistant"
ANSWER_CONCURRENCY = 2  # pipeline steps running at once for API requests; more wait (not in threads)
WAIT_POLL_S = 0.25  # how often a waiting request looks at its place in line
WAIT_REPEAT_S = 10.0  # a waiting stream repeats its status this often even when the line did not move
MAX_BODY_BYTES = 1_000_000  # a chat request is a few KB; a bigger body is a mistake or an attack
_done = object()  # the end of an event generator (``next`` with a default, in a worker thread)


# --------------------------------------------------------------------------- requests


def _content_text(content: Any) -> str:
    """Message content as text: clients send a string or a list of parts ({type: text, text})."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        )
    raise InputError("message content must be a string or a list of content parts")


def conversation(messages: Any) -> tuple[str, list[tuple[str, str]]]:
    """The question (last user message) and the (question, answer) history before it.

    A user message without an assistant reply after it (a retried turn) does not enter the
    history, and only the last of several user messages in a row counts: history pairs must be
    questions with the answers they got, or the follow-up rewrite would be misled.
    """
    if not isinstance(messages, list) or not messages:
        raise InputError("'messages' must be a non-empty list of {role, content} objects")
    turns: list[tuple[str, str]] = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise InputError("each message must be an object with a 'role' and a 'content'")
        if m["role"] in ("user", "assistant"):  # system/developer/tool messages are ignored (see above)
            turns.append((m["role"], _content_text(m.get("content"))))
    last = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=None)
    if last is None:
        raise InputError("the request has no user message: the last user message is the question")
    question = turns[last][1]
    if not question.split():
        raise InputError("the question is empty: send a question about the documents")
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for role, text in turns[:last]:
        if role == "user":
            pending = text
        elif pending is not None:
            history.append((pending, text))
            pending = None
    return question, history


def api_keys(setting: str) -> list[str]:
    """``ASSISTANT_API_KEYS`` as a list: comma-separated, blanks dropped (empty = no key needed)."""
    return [k.strip() for k in (setting or "").split(",") if k.strip()]


def authorized(header: str | None, keys: list[str]) -> bool:
    """Whether an ``Authorization`` header carries one of the keys.

    Every key is compared (``hmac.compare_digest``, no early exit), so the time taken does not
    tell an attacker how much of a guess was right, nor which key it was close to.
    """
    if not keys:
        return True
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    given = token.strip().encode("utf-8", "surrogateescape")
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given, key.encode("utf-8"))
    return ok


# --------------------------------------------------------------------------- responses


def error_response(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    code: str | None = None,
    headers: dict | None = None,
) -> JSONResponse:
    """OpenAI's error shape, so clients show the message instead of failing to parse."""
    body = {"error": {"message": " ".join(str(message).split()), "type": type_, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _error_of(e: BaseException) -> tuple[int, str, str | None, str]:
    """(status, type, code, one-line message) for an exception, per assistant/errors.py."""
    if isinstance(e, (InputError, SettingsError)):
        return 400, "invalid_request_error", None, str(e)
    if isinstance(e, Busy):
        return 429, "rate_limit_error", "busy", str(e)
    if isinstance(e, IndexNotReady):
        return 409, "invalid_request_error", "index_not_ready", str(e)
    if isinstance(e, Forbidden):
        return 403, "permission_error", "forbidden", str(e)
    if isinstance(e, AssistantError):
        return 503, "server_error", "service_unavailable", str(e)
    return 500, "server_error", None, f"unexpected error ({type(e).__name__}); the server log has the details"


def citation_dicts(answer) -> list[dict]:
    return [
        {
            "n": c.n,
            "source": c.source,
            "title": c.title,
            "page": c.page,
            "section": c.section,
            "start": c.start,
            "end": c.end,
            "quote": c.quote,
        }
        for c in answer.citations
    ]


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4


def usage(question: str, history: list[tuple[str, str]], answer: str) -> dict:
    prompt = _tokens(question) + sum(_tokens(q) + _tokens(a) for q, a in history)
    completion = _tokens(answer)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _replay(events: list) -> Generator:
    yield from events


def _sse(data: dict | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


# --------------------------------------------------------------------------- routes


def router(assistant) -> APIRouter:
    """The /v1 routes over one (stateless, shared) Assistant; keys are read from its settings once."""
    keys = api_keys(getattr(assistant.settings, "api_keys", ""))
    created = int(time.time())
    limiter: list[anyio.CapacityLimiter] = []  # made on first use: it belongs to the server's event loop
    gate = queueing.gate(assistant)
    policy = accounts.Policy(assistant.settings)  # with users: per-user keys and private collections
    api = APIRouter(prefix="/v1")

    def caller(request: Request) -> accounts.Access | None:
        """Who sent the request (None: refused); without users, anyone with a key (or anyone)."""
        header = request.headers.get("authorization")
        ok = authorized(header, keys)
        if not policy.private:
            return accounts.LOCAL if ok else None
        return policy.for_api(header, shared_key=ok and bool(keys))

    def refused() -> JSONResponse:
        which = "your key (`assistant users key NAME`)" if policy.private else "one of the keys in ASSISTANT_API_KEYS"
        return error_response(
            401,
            f"missing or invalid API key: send 'Authorization: Bearer <key>' with {which}",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def denied(request: Request) -> JSONResponse | None:
        """The 401 for a request without a valid key, else None (a key check runs off the event loop:
        argon2 takes milliseconds the first time a key is seen)."""
        return None if await anyio.to_thread.run_sync(caller, request) is not None else refused()

    async def in_thread(fn, *args):
        if not limiter:
            limiter.append(anyio.CapacityLimiter(max(ANSWER_CONCURRENCY, gate.queue.concurrency + 1)))
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter[0])

    def model(model_id: str = MODEL_ID) -> dict:
        return {"id": model_id, "object": "model", "created": created, "owned_by": "assistant"}

    @api.get("/models")
    async def list_models(request: Request):
        return await denied(request) or JSONResponse({"object": "list", "data": [model()]})

    @api.get("/models/{model_id:path}")
    async def get_model(model_id: str, request: Request):
        return await denied(request) or JSONResponse(model(model_id))

    def lookup(question: str, history: list[tuple[str, str]], docs: list[str] | None, collection: str | None = None):
        """(cache key, cached events or None); an empty index or a missing collection fails before anyone waits."""
        if gate.on(collection).store.count() == 0:
            raise IndexNotReady("the index is empty: run `assistant ingest PATH` or add documents in the web app")
        return gate.cached(question, history, docs, collection)

    async def waiting(ticket: queueing.Ticket, request: Request | None = None):
        """Yield the ticket's Status whenever it changes, until admitted; leaves the line on any error,
        a timeout (``TimedOut``), cancellation, or (``request``) a client that went away."""
        last, shown = None, 0.0
        try:
            while (status := ticket.status()) is not None:
                if status != last or time.monotonic() - shown >= WAIT_REPEAT_S:  # a heartbeat too
                    last, shown = status, time.monotonic()
                    yield status
                ticket.check()
                if request is not None and await request.is_disconnected():
                    raise anyio.get_cancelled_exc_class()()
                await anyio.sleep(WAIT_POLL_S)
        except BaseException:
            ticket.done()
            raise

    async def begin(ticket, key, question, history, docs, collection=None) -> tuple[Iterator, Any]:
        """The admitted ticket's event stream and its first event (the slot is freed if that fails)."""
        try:
            events = gate.run(ticket, key, question, history, docs, collection)
            return events, await in_thread(next, events, _done)
        except BaseException:
            ticket.done()
            raise

    @api.post("/chat/completions")
    async def chat_completions(request: Request):
        who = await anyio.to_thread.run_sync(caller, request)  # argon2, the first time: not on the event loop
        if who is None:
            return refused()
        raw = b""
        async for part in request.stream():
            raw += part
            if len(raw) > MAX_BODY_BYTES:
                return error_response(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return error_response(400, "the request body is not valid JSON")
        if not isinstance(body, dict):
            return error_response(400, "the request body must be a JSON object")
        try:
            question, history = conversation(body.get("messages"))
        except InputError as e:
            return error_response(400, str(e))
        docs = body.get("docs")
        if docs is not None and not (isinstance(docs, list) and all(isinstance(d, str) for d in docs)):
            return error_response(400, '"docs" must be a list of file or folder paths', code="invalid_docs")
        name = body.get("model") if isinstance(body.get("model"), str) and body.get("model") else MODEL_ID
        cid, now = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        docs = docs or None
        collection = body.get("collection")
        if collection is not None:
            if not isinstance(collection, str):
                return error_response(400, '"collection" must be the name of a collection', code="invalid_collection")
            try:
                collection = combined.check(collection)
            except InputError as e:
                return error_response(400, str(e), code="invalid_collection")
        try:
            collection = who.read(collection)  # the caller's own or the shared collection, never another's
        except Forbidden as e:
            return _failure(e, question)
        include_usage = isinstance(body.get("stream_options"), dict) and bool(
            body["stream_options"].get("include_usage")
        )
        sse_headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        try:
            key, hit = await in_thread(lookup, question, history, docs, collection)
            if hit is not None:
                events: Iterator = _replay(hit)
                first = next(events, _done)
            else:
                ticket = gate.queue.enter()  # Busy: refused at once
                if ticket.status() is None:  # admitted at once
                    events, first = await begin(ticket, key, question, history, docs, collection)
                elif body.get("stream"):  # the stream starts now and shows the place in line
                    waits = waiting(ticket)
                    queued = _queued(waits, begin(ticket, key, question, history, docs, collection), question)
                    return StreamingResponse(
                        _then_stream(queued, cid, now, name, question, history, include_usage),
                        media_type="text/event-stream",
                        headers=sse_headers,
                    )
                else:
                    async for _ in waiting(ticket, request):
                        pass
                    events, first = await begin(ticket, key, question, history, docs, collection)
        except Exception as e:
            return _failure(e, question)
        if body.get("stream"):
            chunks = _stream(events, first, cid, now, name, question, history, include_usage)
            return StreamingResponse(chunks, media_type="text/event-stream", headers=sse_headers)
        try:
            answer = await in_thread(_finish, events, first)
        except Exception as e:
            return _failure(e, question)
        return JSONResponse(
            {
                "id": cid,
                "object": "chat.completion",
                "created": now,
                "model": name,
                "system_fingerprint": None,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "logprobs": None,
                        "message": {"role": "assistant", "content": answer.answer, "refusal": None},
                    }
                ],
                "usage": usage(question, history, answer.answer),
                "citations": citation_dicts(answer),
                "refused": answer.refused,
                "question": answer.question,
                "cached": bool(answer.timings.get("cached")),
            }
        )

    async def _queued(waits, begun, question):
        """SSE comments while waiting, then ("started", (events, first)); an error event if that fails."""
        try:
            async for status in waits:
                yield f": {status.text()} (position={status.position}, estimate_s={round(status.estimate_s)})\n\n"
            yield ("started", await begun)
        except Exception as e:
            begun.close()
            status_, type_, code, message = _error_of(e)
            if status_ == 500:
                log.exception("OpenAI API: answering %r failed", question)
            yield _sse({"error": {"message": " ".join(message.split()), "type": type_, "param": None, "code": code}})
            yield _sse("[DONE]")
        finally:
            begun.close()  # never awaited (the client left while waiting): nothing to free beyond the ticket

    async def _then_stream(queued, cid, now, name, question, history, include_usage):
        async for item in queued:
            if isinstance(item, tuple):
                events, first = item[1]
                async for piece in _stream(events, first, cid, now, name, question, history, include_usage):
                    yield piece
            else:
                yield item

    async def _stream(events, first, cid, now, name, question, history, include_usage):
        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            return _sse(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": now,
                    "model": name,
                    "system_fingerprint": None,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                    **extra,
                }
            )

        yield chunk({"role": "assistant", "content": ""})
        shown, event = "", first
        try:
            while True:
                if event is _done:
                    raise RuntimeError("the answer stream ended without an answer")
                if event.kind == "text":
                    shown += event.data
                    yield chunk({"content": event.data})
                elif event.kind == "answer":
                    answer = event.data
                    if answer.answer.startswith(shown) and len(answer.answer) > len(shown):
                        yield chunk({"content": answer.answer[len(shown) :]})  # text the stream did not show
                    yield chunk(
                        {},
                        "stop",
                        citations=citation_dicts(answer),
                        refused=answer.refused,
                        question=answer.question,
                        cached=bool(answer.timings.get("cached")),
                    )
                    if include_usage:
                        yield _sse(
                            {
                                "id": cid,
                                "object": "chat.completion.chunk",
                                "created": now,
                                "model": name,
                                "choices": [],
                                "usage": usage(question, history, answer.answer),
                            }
                        )
                    break
                event = await in_thread(next, events, _done)
        except Exception as e:
            status, type_, code, message = _error_of(e)
            if status == 500:
                log.exception("OpenAI API: answering %r failed", question)
            yield _sse({"error": {"message": " ".join(message.split()), "type": type_, "param": None, "code": code}})
        finally:
            with anyio.CancelScope(shield=True):  # a client that went away must not keep the LLM busy
                await anyio.to_thread.run_sync(events.close)
        yield _sse("[DONE]")

    return api


def _finish(events: Generator, first) -> Any:
    event = first
    try:
        while event is not _done:
            if event.kind == "answer":
                return event.data
            event = next(events, _done)
    finally:
        events.close()
    raise RuntimeError("the answer stream ended without an answer")


def _failure(e: BaseException, question: str) -> JSONResponse:
    status, type_, code, message = _error_of(e)
    if status == 500:
        log.exception("OpenAI API: answering %r failed", question)
    headers = {"Retry-After": str(e.retry_after)} if isinstance(e, Busy) else None
    return error_response(status, message, type_, code, headers=headers)


def routes(assistant) -> list[BaseRoute]:
    """The routes as a list, the form ``gr.Blocks.launch(app_kwargs={"routes": ...})`` takes."""
    return list(router(assistant).routes)
