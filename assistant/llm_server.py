"""A real OpenAI-compatible LLM server for a GGUF file, for tests and for users without vLLM/Ollama.

Design: xllamacpp ships llama.cpp's own C++ HTTP server, so this module only configures it
(same parameters as the embedded LLM) and keeps the process alive. It serves, among others,
``POST /v1/chat/completions`` (streaming over SSE and not), ``GET /v1/models`` and ``GET /health``.
Point the assistant at it with ``ASSISTANT_LLM_URL=http://HOST:PORT/v1``.

    python -m assistant.llm_server --model PATH --port 8080      # PATH defaults to the packaged Qwen
    python -m assistant.llm_server --port 8080 --parallel 4      # four requests decoded together

It prints one line ``serving NAME at http://HOST:PORT/v1`` on stdout once it is ready (with
``--port 0`` the system picks a free port and that line tells which), and stops on Ctrl-C or
SIGTERM. It binds to loopback unless told otherwise; give ``--api-key`` before exposing it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .llm import LLMError, xllamacpp_params


def start(
    model_path: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    n_ctx: int = 4096,
    threads: int | None = None,
    name: str = "default",
    api_key: str = "",
    parallel: int = 1,
):
    """Start serving in background threads; returns ``(server, base_url)``. Keep ``server`` alive."""
    import xllamacpp

    params = xllamacpp_params(
        model_path, n_ctx, threads, host=host, port=port, name=name, api_key=api_key, parallel=parallel
    )
    try:
        server = xllamacpp.Server(params)
    except RuntimeError:
        raise LLMError(
            f"could not start the LLM server for {model_path} on {host}:{port}: the port is "
            "taken, or the file is not a loadable GGUF (see the llama.cpp error above)"
        ) from None
    return server, server.listening_address.rstrip("/") + "/v1"


def serve(
    model_path: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    n_ctx: int = 4096,
    threads: int | None = None,
    name: str = "default",
    api_key: str = "",
    parallel: int = 1,
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    server, url = start(model_path, host, port, n_ctx, threads, name, api_key, parallel)
    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        print(f"warning: serving on {host} with no API key", file=sys.stderr, flush=True)
    print(f"serving {name} at {url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    del server  # stops llama.cpp's threads


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m assistant.llm_server", description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="GGUF file (default: ASSISTANT_LLM_MODEL or the packaged Qwen)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    ap.add_argument("--n-ctx", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--name", default=None, help="model name clients send (default: ASSISTANT_LLM_NAME)")
    ap.add_argument("--api-key", default="", help="require this bearer token")
    ap.add_argument(
        "--parallel", type=int, default=1, help="requests decoded together (slots), each with --n-ctx tokens"
    )
    args = ap.parse_args(argv)

    from .models import ModelError, llm_model_path
    from .settings import Settings

    settings = Settings.load()
    try:
        if args.model:
            model = llm_model_path(Settings(llm_model=args.model))  # same checks, same message
        else:
            model = llm_model_path(settings)
        serve(
            model,
            args.host,
            args.port,
            args.n_ctx or settings.n_ctx,
            args.threads or settings.threads,
            args.name or settings.llm_name,
            args.api_key,
            args.parallel,
        )
    except (ModelError, LLMError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
