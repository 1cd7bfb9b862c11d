"""Accounts and private documents (assistant/accounts.py): the users file, the access rule, and two
users on a real Gradio server with the real embedder, real Chroma and the real /v1 API.

The LLM is a stand-in (``EchoLLM``: it repeats the first source sentence it is given, cited), so
what an answer can contain is exactly what retrieval let through: the property under test. Passwords
are hashed with the real argon2 parameters (~0.2-0.5 s each on two busy cores), so the users are
made once per module.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import gradio as gr
import httpx
import openai
import pytest
from conftest import EchoLLM, free_port
from gradio_client import Client

from assistant import Assistant, Settings
from assistant.accounts import LOCAL, Accounts, Policy, collection_of
from assistant.errors import Forbidden, InputError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")

ALICE_PW, BOB_PW = "alice-correct-horse", "bob-battery-staple"
SECRET = "4417-ALPHA"
HERON = (
    f"Title: Heron project notes\n\nThe Heron project vault code is {SECRET}. The Heron vault is in the east wing.\n"
)
CANTEEN = "Title: Staff canteen\n\nThe staff canteen opens at eight and closes at three.\n"


# --------------------------------------------------------------------------- the users file


def test_add_list_remove_and_the_file_holds_no_password(tmp_path):
    accounts = Accounts(tmp_path / "index" / "users.json")  # the folder does not exist yet
    assert not accounts.active() and accounts.list() == []
    assert accounts.add("Alice", ALICE_PW) == "alice"  # names are stored in lower case
    accounts.add("bob", BOB_PW)
    assert [r["name"] for r in accounts.list()] == ["alice", "bob"] and accounts.active()
    assert accounts.list()[0]["collection"] == "user-alice" and accounts.list()[0]["key"] is None

    raw = accounts.path.read_text(encoding="utf-8")
    assert ALICE_PW not in raw and BOB_PW not in raw
    records = json.loads(raw)["users"]
    assert all(r["password"].startswith("$argon2id$") for r in records.values())
    assert stat.S_IMODE(os.stat(accounts.path).st_mode) == 0o600
    assert not list(accounts.path.parent.glob(".users.json.*.tmp"))  # the temporary file was renamed

    with pytest.raises(InputError, match="already a user 'alice'"):
        accounts.add("ALICE", "another-password")
    with pytest.raises(InputError, match="too short"):
        accounts.add("carol", "short")
    with pytest.raises(InputError, match="invalid user name"):
        accounts.add("../root", ALICE_PW)
    with pytest.raises(InputError, match="no user 'nobody'"):
        accounts.remove("nobody")
    accounts.remove("bob")
    assert [r["name"] for r in Accounts(accounts.path).list()] == ["alice"]  # a fresh reader sees it


def test_a_wrong_password_or_key_is_refused(tmp_path):
    accounts = Accounts(tmp_path / "users.json")
    accounts.add("alice", ALICE_PW)
    accounts.add("bob", BOB_PW)
    assert accounts.check_password("alice", ALICE_PW) and accounts.check_password(" Alice ", ALICE_PW)
    assert not accounts.check_password("alice", BOB_PW)
    assert not accounts.check_password("alice", "")
    assert not accounts.check_password("mallory", ALICE_PW)

    key = accounts.issue_key("alice")
    assert re.fullmatch(r"asst-[0-9a-f]{12}-[\w-]{40,}", key)
    assert key not in accounts.path.read_text(encoding="utf-8")  # stored as a hash only
    assert accounts.user_of_key(key) == "alice" and accounts.user_of_key(key) == "alice"  # the second from cache
    prefix, key_id, secret = key.split("-", 2)
    assert accounts.user_of_key(f"{prefix}-{key_id}-{secret[:-1]}x") is None  # the right id, a wrong secret
    assert accounts.user_of_key("asst-000000000000-" + secret) is None
    assert accounts.user_of_key("not a key") is None and accounts.user_of_key("") is None

    again = accounts.issue_key("alice")  # a new key replaces the old one
    assert accounts.user_of_key(again) == "alice" and accounts.user_of_key(key) is None
    accounts.set_password("alice", "a-new-password")
    assert accounts.check_password("alice", "a-new-password") and not accounts.check_password("alice", ALICE_PW)
    accounts.remove("alice")
    assert accounts.user_of_key(again) is None  # a removed user's key stops working at once


def test_concurrent_adds_lose_nobody(tmp_path):
    """Six threads (each its own reader, as separate servers would be) and three `assistant users add`
    processes add users at once: the lock and the atomic rename keep every one of them."""
    path = tmp_path / "users.json"
    env = {**os.environ, "ASSISTANT_USERS_FILE": str(path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "assistant", "users", "add", f"proc{i}", "--password-stdin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for i in range(3)
    ]
    errors: list[BaseException] = []

    def add(i: int) -> None:
        try:
            Accounts(path).add(f"thread{i}", f"password-{i}-long")
        except BaseException as e:  # pragma: no cover - shown by the assert below
            errors.append(e)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    outs = [p.communicate(f"password-of-proc{i}\n", timeout=120) for i, p in enumerate(procs)]
    for t in threads:
        t.join(120)
    assert not errors and all(p.returncode == 0 for p in procs), (errors, outs)
    names = {r["name"] for r in Accounts(path).list()}
    assert names == {f"thread{i}" for i in range(6)} | {f"proc{i}" for i in range(3)}
    assert Accounts(path).check_password("proc1", "password-of-proc1")  # the line read from stdin, newline dropped


def test_the_cli_adds_lists_issues_keys_and_removes(tmp_path):
    from assistant import cli

    env = {"ASSISTANT_INDEX_DIR": str(tmp_path / "index")}

    def run(*argv, stdin=""):
        return subprocess.run(
            [sys.executable, "-m", "assistant", *argv],
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=120,
        )

    added = run("users", "add", "dana", "--password-stdin", stdin="dana-password\n")
    assert added.returncode == 0 and "added dana (private collection user-dana" in added.stdout
    assert "now require a login" in added.stderr
    no_tty = run("users", "add", "erin")  # no terminal and no --password-stdin: a clear refusal
    assert no_tty.returncode == 1 and "--password-stdin" in no_tty.stderr
    key = run("users", "key", "dana")
    assert key.returncode == 0 and "shown once" in key.stderr
    token = key.stdout.strip()
    listed = json.loads(run("users", "list", "--json").stdout)
    assert [(r["name"], r["key"]) for r in listed] == [("dana", token.split("-")[1])]
    assert Accounts(tmp_path / "index" / "users.json").user_of_key(token) == "dana"
    assert "kept their collection user-dana" in run("users", "remove", "dana").stderr
    run("users", "add", "dana", "--password-stdin", stdin="dana-password\n")
    (tmp_path / "index" / "uploads" / "user-dana").mkdir(parents=True)
    (tmp_path / "index" / "uploads" / "user-dana" / "note.txt").write_text("hers", encoding="utf-8")
    purged = run("users", "remove", "dana", "--purge")
    assert purged.returncode == 0 and "deleted uploads" in purged.stdout, purged.stderr
    assert not (tmp_path / "index" / "uploads" / "user-dana").exists()
    missing = run("users", "remove", "dana")
    assert missing.returncode == 1 and "error: there is no user 'dana'" in missing.stderr
    assert cli.build_parser().parse_args(["users", "list"]).action == "list"


# --------------------------------------------------------------------------- the rule


def test_the_rule_own_collection_and_the_shared_one_nothing_else(tmp_path):
    settings = Settings.load(index_dir=str(tmp_path / "index"))
    assert Policy(settings).for_user("anyone") is LOCAL  # no users: single-user mode, everything
    assert LOCAL.read("whatever") == "whatever" and LOCAL.read(None) is None and LOCAL.write("x") == "x"

    accounts = Accounts.of(settings)
    accounts.add("alice", ALICE_PW)
    accounts.add("bob", BOB_PW)
    policy = Policy(settings)
    alice = policy.for_user("alice")
    assert alice.read(None) == "user-alice" == alice.write(None) == collection_of("alice")
    assert alice.read("documents") == "documents" and alice.visible(["user-bob", "x"]) == ["user-alice", "documents"]
    for name in ("user-bob", "user-nobody", "reports"):  # the same refusal whether it exists or not
        with pytest.raises(Forbidden, match=f"cannot read the collection '{name}'"):
            alice.read(name)
    with pytest.raises(Forbidden, match="cannot change the collection 'documents'"):
        alice.write("documents")  # the shared collection is read-only in the web app
    # Her two collections together (assistant/combined.py): every member is checked by the same rule.
    assert alice.together == "user-alice+documents" == alice.read("user-alice + documents")
    assert alice.read("documents+user-alice") == "documents+user-alice"
    with pytest.raises(Forbidden, match="cannot read the collection 'user-bob'"):
        alice.read("user-alice+user-bob")
    with pytest.raises(Forbidden, match="uploads and removals go to one collection"):
        alice.write("user-alice+documents")
    assert LOCAL.read("a-1+b-2") == "a-1+b-2" and LOCAL.together is None  # no accounts: as asked
    with pytest.raises(Forbidden, match="log in"):
        policy.for_user(None).read(None)

    key = accounts.issue_key("bob")
    assert policy.for_api(f"Bearer {key}", shared_key=False).read(None) == "user-bob"
    assert policy.for_api("Bearer asst-1-2", shared_key=False) is None
    team = policy.for_api("Bearer team-key", shared_key=True)  # an ASSISTANT_API_KEYS key: shared only
    assert team is not None and team.read(None) == "documents" and team.together is None
    with pytest.raises(Forbidden):
        team.read("user-bob")
    with pytest.raises(Forbidden):
        team.read("documents+user-bob")
    accounts.remove("bob")
    with pytest.raises(Forbidden, match="log in"):  # removed: no access, even with a session still open
        policy.for_user("bob").read(None)


# --------------------------------------------------------------------------- two users, a real server


@pytest.fixture(scope="module")
def two_users(tmp_path_factory, shared_embedder):
    """A server over an index whose shared collection has the canteen note; alice and bob have accounts
    (and keys); ASSISTANT_API_KEYS has a team key. Yields a namespace of what the tests need."""
    from assistant.web import build_app, launch

    root = tmp_path_factory.mktemp("accounts")
    (root / "canteen.txt").write_text(CANTEEN, encoding="utf-8")
    (root / "heron.txt").write_text(HERON, encoding="utf-8")
    settings = Settings.load(index_dir=str(root / "index"), api_keys="team-key-123")
    a = Assistant(settings)
    a.embedder = shared_embedder
    a._llm = EchoLLM()
    a.ingest(str(root / "canteen.txt"))
    accounts = Accounts.of(settings)
    accounts.add("alice", ALICE_PW)
    accounts.add("bob", BOB_PW)
    keys = {"alice": accounts.issue_key("alice"), "bob": accounts.issue_key("bob")}
    app = build_app(a)
    port = free_port()
    launch(app, "127.0.0.1", port, prevent_thread_lock=True, openai_api=a)  # the login comes from the users
    url = f"http://127.0.0.1:{port}/"

    class Env:
        pass

    env = Env()
    env.__dict__.update(root=root, a=a, app=app, url=url, keys=keys, accounts=accounts, settings=settings)
    yield env
    app.close()


def _login(url: str, user: str, password: str) -> httpx.Client:
    http = httpx.Client(base_url=url, timeout=60)
    r = http.post("login", data={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return http


def upload_as(env, user: str, password: str, path: Path, collection: str | None) -> dict:
    """Upload a file the way the page does: log in, POST the file, run the Documents tab's upload
    event through Gradio's queue (it is not a public API endpoint), read its result from the stream."""
    http = _login(env.url, user, password)
    with open(path, "rb") as f:
        r = http.post("gradio_api/upload", files={"files": (path.name, f, "text/plain")})
    assert r.status_code == 200, r.text
    server_path = r.json()[0]
    fn_index = next(i for i, f in env.app.fns.items() if getattr(f.fn, "__name__", "") == "add_files")
    upload_id = next(c["id"] for c in env.app.config["components"] if c.get("props", {}).get("elem_id") == "upload")
    file_data = {"path": server_path, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}
    session = f"test-{user}-{time.time_ns()}"
    body = {
        "data": [[file_data], collection],
        "fn_index": fn_index,
        "session_hash": session,
        "event_data": None,
        "trigger_id": upload_id,
    }
    r = http.post("gradio_api/queue/join", json=body)
    assert r.status_code == 200, r.text
    with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}, timeout=120) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    return msg
    raise AssertionError("the upload event did not complete")


def _texts(*items) -> str:
    return json.dumps(items, ensure_ascii=False)


def leaks(*items) -> bool:
    """Does anything shown hold alice's secret, her document's text, file or collection?"""
    text = _texts(*items)
    return any(s in text for s in ("4417", "east wing", "heron.txt", "user-alice", "user\\\\-alice"))


def test_two_users_never_see_each_others_documents(two_users):
    env = two_users
    # Alice uploads her note: it lands in her own collection and folder, not the shared one.
    done = upload_as(env, "alice", ALICE_PW, env.root / "heron.txt", None)
    assert done["success"], done
    assert "1 added" in _texts(done["output"]["data"])
    alice_doc = str(Path(env.settings.uploads) / "user-alice" / "heron.txt")
    assert [d["source"] for d in env.a.using("user-alice").documents()] == [alice_doc]
    assert SECRET not in _texts(env.a.documents())  # the shared collection is unchanged
    # An upload aimed at the shared collection (or bob's) is refused and stores nothing.
    refused = upload_as(env, "alice", ALICE_PW, env.root / "heron.txt", "documents")
    assert "1 added" not in _texts(refused["output"]["data"]) and SECRET not in _texts(env.a.documents())

    alice = Client(env.url, auth=("alice", ALICE_PW), verbose=False)
    mine = alice.predict("What is the Heron project vault code?", api_name="/ask")
    assert SECRET in mine["answer"] and [c["source"] for c in mine["citations"]] == [alice_doc]  # the control
    # Her private and the shared collection in one question: each answer cites the document that has it.
    canteen = str(env.root / "canteen.txt")
    for q, source in (
        ("What is the Heron project vault code?", alice_doc),
        ("When does the staff canteen open?", canteen),
    ):
        r = alice.predict(q, None, "user-alice+documents", api_name="/ask")
        assert [c["source"] for c in r["citations"]] == [source], r

    bob = Client(env.url, auth=("bob", BOB_PW), verbose=False)
    question = "What is the Heron project vault code?"
    seen = []
    for collection in (None, "documents", "user-bob+documents"):  # his own (the default), the shared one, both
        seen.append(bob.predict(question, None, collection, api_name="/ask"))
        seen.append(bob.predict("Heron project vault code east wing", 10, None, collection, api_name="/search"))
    assert not leaks(seen), seen
    for attempt in (
        lambda: bob.predict(question, None, "user-alice", api_name="/ask"),  # her collection by name
        lambda: bob.predict(question, None, "user-bob+user-alice", api_name="/ask"),  # inside a combined name
        lambda: bob.predict(question, [alice_doc], "user-bob+documents", api_name="/ask"),  # by path, over both
        lambda: bob.predict("Heron vault", 5, None, "user-alice", api_name="/search"),
        lambda: bob.predict(question, [alice_doc], None, api_name="/ask"),  # her document by path
        lambda: bob.predict("Heron vault", 5, [alice_doc], "documents", api_name="/search"),
    ):
        with pytest.raises(Exception) as err:  # noqa: B017  (gradio_client's AppError carries our message)
            attempt()
        assert SECRET not in str(err.value) and "Traceback" not in str(err.value)
        message = str(err.value)
        assert "cannot read the collection 'user-alice'" in message or "no indexed document at" in message, message
    # Nor through Gradio's file route: the uploaded copy is not served to anyone.
    http = _login(env.url, "bob", BOB_PW)
    for path in (alice_doc, str(env.root / "heron.txt")):
        r = http.get(f"gradio_api/file={path}")
        assert r.status_code in (403, 404) and SECRET not in r.text


def test_the_documents_tab_lists_only_the_users_own_and_shared_collections(two_users):
    env = two_users
    load = next(f.fn for f in env.app.fns.values() if getattr(f.fn, "__name__", "") == "load_page")
    switch = next(f.fn for f in env.app.fns.values() if getattr(f.fn, "__name__", "") == "chat_switched")
    remove = next(f.fn for f in env.app.fns.values() if getattr(f.fn, "__name__", "") == "remove_doc")

    class As:  # what gr.Request gives a handler: the logged-in user's name
        def __init__(self, username):
            self.username = username

    table, _, _, chat_names, doc_names, whoami = load(As("bob"))
    assert chat_names["choices"] == [
        ("Mine and shared (user-bob + documents)", "user-bob+documents"),
        ("user-bob (mine)", "user-bob"),
        ("documents (shared)", "documents"),
    ]
    assert chat_names["value"] == "user-bob+documents"  # asking both at once is the default
    assert doc_names["choices"] == ["user-bob", "documents"] and doc_names["value"] == "user-bob"
    assert "private collection, user-bob" in doc_names["info"] and table["value"] == []
    assert whoami["visible"] and 'href="logout' in whoami["value"]
    assert 'Logged in as <b class="whoami-name">bob</b>' in whoami["value"]
    with pytest.warns(UserWarning, match="cannot read the collection 'user-alice'"):
        assert switch("user-alice", "user-bob", [], As("bob")) == (gr.skip(),) * 5
    upload_as(env, "alice", ALICE_PW, env.root / "heron.txt", None)  # (again: "already indexed")
    heron = str(Path(env.settings.uploads) / "user-alice" / "heron.txt")
    table, *_ = load(As("alice"))
    assert [r[3] for r in table["value"]] == [heron]  # her own tab lists it
    with pytest.warns(UserWarning, match="cannot change the collection 'user-alice'"):
        remove(heron, "user-alice", As("bob"))  # bob cannot remove it: not by collection
    with pytest.warns(UserWarning, match="not in the index"):
        remove(heron, None, As("bob"))  # nor by path through his own
    assert env.a.using("user-alice").documents() and Path(heron).exists()

    # The chat: bob's question in her collection is refused; in his own and the shared one, nothing of hers.
    respond = next(f.fn for f in env.app.fns.values() if getattr(f.fn, "__name__", "") == "respond")
    question = "What is the Heron project vault code?"
    with pytest.warns(UserWarning, match="cannot read the collection 'user-alice'"):
        out = list(respond(question, [], "user-alice", None, As("bob")))
    assert "cannot read the collection" in out[-1][1][-1]["content"] and "4417" not in _texts(out)
    for collection in (None, "documents", "user-bob+documents"):
        out = list(respond(question, [], collection, None, As("bob")))
        assert not leaks([o[1] for o in out], [o[2] for o in out if isinstance(o[2], str)])
    mine = list(respond(question, [], None, None, As("alice")))[-1][1][-1]["content"]
    assert "4417" in mine and "Heron project notes" in mine  # the control: her own chat finds it


def test_the_openai_api_takes_per_user_keys_and_keeps_them_apart(two_users):
    env = two_users
    upload_as(env, "alice", ALICE_PW, env.root / "heron.txt", None)  # idempotent: "already indexed"
    base = env.url + "v1"
    question = [{"role": "user", "content": "What is the Heron project vault code?"}]

    def client(key):
        return openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=120)

    mine = client(env.keys["alice"]).chat.completions.create(model="assistant", messages=question)
    assert SECRET in mine.choices[0].message.content  # the control: her key reaches her collection
    both = {"collection": "user-alice+documents"}  # her collection and the shared one in one question
    r = client(env.keys["alice"]).chat.completions.create(model="assistant", messages=question, extra_body=both)
    assert SECRET in r.choices[0].message.content
    canteen = [{"role": "user", "content": "When does the staff canteen open?"}]
    r = client(env.keys["alice"]).chat.completions.create(model="assistant", messages=canteen, extra_body=both)
    assert "opens at eight" in r.choices[0].message.content

    bob = client(env.keys["bob"])
    with pytest.raises(openai.ConflictError, match="empty") as err:  # his own collection, the default: empty
        bob.chat.completions.create(model="assistant", messages=question)
    assert not leaks(str(err.value))
    r = bob.chat.completions.create(model="assistant", messages=question, extra_body={"collection": "documents"})
    assert r.model_dump()["refused"] and not leaks(r.model_dump()), r.model_dump()
    streamed = bob.chat.completions.create(
        model="assistant", messages=question, stream=True, extra_body={"collection": "documents"}
    )
    assert not leaks([c.model_dump() for c in streamed])
    for name in ("user-alice", "user-bob+user-alice", "documents+user-alice"):
        with pytest.raises(openai.PermissionDeniedError, match="cannot read the collection 'user-alice'"):
            bob.chat.completions.create(model="assistant", messages=question, extra_body={"collection": name})
    r = bob.chat.completions.create(
        model="assistant", messages=question, extra_body={"collection": "user-bob+documents"}
    )
    assert not leaks(r.model_dump()), r.model_dump()
    with pytest.raises(openai.BadRequestError) as err:  # her document by path: not in his index
        bob.chat.completions.create(
            model="assistant",
            messages=question,
            extra_body={
                "docs": [str(Path(env.settings.uploads) / "user-alice" / "heron.txt")],
                "collection": "documents",
            },
        )
    assert SECRET not in str(err.value)
    # The team key of ASSISTANT_API_KEYS still works, for the shared collection only.
    team = client("team-key-123")
    assert team.models.list().data[0].id == "assistant"
    with pytest.raises(openai.PermissionDeniedError):
        team.chat.completions.create(model="assistant", messages=question, extra_body={"collection": "user-alice"})
    # A wrong key, or none, is a 401 with a message saying what to send.
    for key in ("asst-000000000000-nope", env.keys["bob"][:-2] + "xx", "x"):
        with pytest.raises(openai.AuthenticationError, match="missing or invalid API key"):
            client(key).chat.completions.create(model="assistant", messages=question)
    assert httpx.get(base + "/models", timeout=30).status_code == 401


def test_a_wrong_password_is_refused_and_a_removed_user_is_locked_out(two_users):
    env = two_users
    r = httpx.post(env.url + "login", data={"username": "bob", "password": ALICE_PW}, timeout=60)
    assert r.status_code == 400 and "Incorrect credentials" in r.text
    with pytest.raises(Exception, match="(?i)login|credentials|401"):
        Client(env.url, auth=("alice", BOB_PW), verbose=False)
    with pytest.raises(Exception):  # noqa: B017  (no login at all: the page and its API are closed)
        Client(env.url, verbose=False)
    assert httpx.get(env.url + "gradio_api/info", timeout=30).status_code == 401

    env.accounts.add("temp", "temp-password")
    temp = Client(env.url, auth=("temp", "temp-password"), verbose=False)
    assert temp.predict("canteen opens", 3, None, "documents", api_name="/search")  # added while serving
    env.accounts.remove("temp")  # while logged in: the next request is refused
    with pytest.raises(Exception, match="log in"):
        temp.predict("canteen opens", 3, None, "documents", api_name="/search")


def test_repeated_failed_logins_lock_the_name_with_a_clear_message(two_users):
    """The real login form (argon2, Gradio's /login, the LoginGuard in front): five wrong passwords for
    dave, then even his right one is refused at once, with the wait; others still log in."""
    env = two_users
    env.accounts.add("dave", "dave-password-1")
    try:
        for _ in range(env.settings.login_attempts):
            r = httpx.post(env.url + "login", data={"username": "dave", "password": "wrong-guess"}, timeout=60)
            assert r.status_code == 400 and "Incorrect credentials" in r.text
        r = httpx.post(env.url + "login", data={"username": "Dave", "password": "dave-password-1"}, timeout=60)
        assert r.status_code == 400  # Gradio's own refusal says "Incorrect credentials."; this is the guard's
        detail = r.json()["detail"]  # the argon2 checks of the five failures took a few seconds of the 300
        assert re.fullmatch(r"Too many failed logins for this name or address: try again in 4 min \d+ s\.", detail)
        assert 1 <= int(r.headers["retry-after"]) <= env.settings.login_lockout_s
        with pytest.raises(Exception):  # noqa: B017  (gradio_client cannot log in either)
            Client(env.url, auth=("dave", "dave-password-1"), verbose=False)
        _login(env.url, "alice", ALICE_PW)  # another name from the same address is not locked
        page = httpx.get(env.url, timeout=30).text  # the login page states the rule
        assert "After 5 failed logins, a name waits 5 min before it can try again." in page
    finally:
        env.accounts.remove("dave")


def test_votes_name_their_user_and_conversations_stay_in_their_session(two_users):
    env = two_users
    upload_as(env, "alice", ALICE_PW, env.root / "heron.txt", None)  # idempotent: "already indexed"

    class As:
        def __init__(self, username):
            self.username = username

    fns = {getattr(f.fn, "__name__", ""): f.fn for f in env.app.fns.values()}
    out = list(fns["respond"]("What is the Heron project vault code?", [], "user-alice+documents", None, As("alice")))
    session = out[-1][3]
    assert SECRET in session["history"][-1][1]  # the control: her answer has it
    like = gr.LikeData(None, {"index": 1, "value": ["..."], "liked": True})
    fns["vote"](session, "user-alice+documents", like, As("alice"))
    line = json.loads(env.settings.feedback.read_text(encoding="utf-8").splitlines()[-1])
    assert line["user"] == "alice" and line["collection"] == "user-alice+documents"

    # Bob's session holds none of it: a citation key of hers shows nothing in his evidence panel,
    # and her export file is not served to him (nor to her: Gradio serves only its own cached copies).
    bob_session = list(fns["respond"]("When does the staff canteen open?", [], None, None, As("bob")))[-1][3]
    for key in ("cite-1-1", "passage-1-0"):
        shown = fns["show_evidence"](key, bob_session)
        assert not leaks(shown)
    export = out[-1][5]["value"]
    assert SECRET in Path(export).read_text(encoding="utf-8")  # the control: her export has it
    http = _login(env.url, "bob", BOB_PW)
    r = http.get(f"gradio_api/file={export}")
    assert r.status_code in (403, 404) and SECRET not in r.text


def test_serve_asks_for_the_users_login_and_ignores_the_shared_pair(monkeypatch, tmp_path, capsys):
    from assistant import web

    seen = {}

    class Stop(Exception):
        pass

    def fake_launch(app, host, port, auth, **kwargs):
        seen.update(auth=auth, policy=app.policy)
        raise Stop

    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("ASSISTANT_AUTH", "admin:shared-pass")
    monkeypatch.setattr(web, "launch", fake_launch)
    monkeypatch.setattr(web, "_warm_up", lambda assistant: None)
    with pytest.raises(Stop):
        web.serve()
    assert seen["auth"] == ("admin", "shared-pass") and not seen["policy"].private  # no users: as before
    Accounts(tmp_path / "index" / "users.json").add("alice", ALICE_PW)
    with pytest.raises(Stop):
        web.serve()
    assert seen["policy"].private and seen["auth"] == seen["policy"].login
    assert "ASSISTANT_AUTH is ignored" in capsys.readouterr().err
