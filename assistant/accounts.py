"""Accounts and private documents: who may log in, and which collections each person may read or write.

``assistant users add NAME`` turns a single-user assistant into a shared one. With one user or
more in the users file, ``assistant serve`` asks for a login (Gradio's ``auth=`` with
``Policy.login``), the ``/v1`` API wants a key (``assistant users key NAME``), and every request
is answered for one person only. Without users nothing changes: no login (or the one
``ASSISTANT_AUTH`` pair), every collection, as before (``LOCAL``).

The rule (``Policy`` / ``Access``), the one place that decides it; the web app and the API only
ask it at each request:

* Each user has a **private collection**, ``user-NAME`` (created on first use, uploads saved in
  ``<uploads>/user-NAME/``), which only they can read and write, and read access to the
  **shared collection**, the ``collection`` setting (``documents``), which only the command
  line writes (``assistant ingest``). A request without a collection uses the private one; the
  two together, ``user-NAME+documents`` (``assistant/combined.py``; the Chat tab's default choice),
  answer from both at once, each member checked by this same rule.
* Anything else, another user's collection or one typed in, is refused with the same message
  whether it exists or not (``Forbidden``: a 403 on ``/v1``), so names cannot be probed.
  Because a request reaches only those two collections, search, answers, citations, the
  Documents tab and the document text behind a citation stay inside them: ``docs`` paths are
  resolved against the chosen collection's own index, and the evidence panel only shows
  citations of the session's own answers.
* A removed user loses access at once, even in a browser that is still logged in (the file is
  read again when it changes). A key from ``ASSISTANT_API_KEYS`` belongs to nobody: in this
  mode it reads the shared collection only. A request without a known user reads nothing.
* The mode is decided when the server starts: adding the first user to a running single-user
  server takes effect at its restart, and removing the last one never opens a running server
  (nobody can log in until it restarts).

Design and trade-offs:

* **argon2id** (argon2-cffi, the reference C code): memory-hard, so a stolen users file costs an
  attacker ~64 MiB and ~0.1-0.5 s per password guess (RFC 9106's low-memory profile, the
  library's default), the property plain SHA-256 or PBKDF2 lacks against GPUs. The same cost on
  every login is the price; logins run in a worker thread under a limit of ``LOGIN_CONCURRENCY``
  so a burst of them can neither block the server's event loop nor take all its memory, and an
  unknown name is checked against a dummy hash so the time taken does not tell which names exist.
  API keys are random (256 bits), so guessing is hopeless whatever the hash; they are still
  stored only as argon2id hashes, with a cheaper profile (``KEY_HASHER``) since one is checked on
  every request, plus an in-memory cache of keys already verified (reset when the file changes).
  A key is ``asst-<id>-<secret>``: the id (not secret, stored as is) finds the one hash to check.
  It is shown once; ``users key`` again replaces it (the way to revoke one).
* **One JSON file, not a database.** A team is a handful of people, written to rarely; a file is
  readable, easy to back up, and needs no server or migrations. Every change is a
  read-modify-write under an exclusive ``flock`` on ``<file>.lock`` (concurrent ``users add``
  from several shells lose nobody), written to a temporary file in the same folder, fsynced and
  renamed over the old one (``os.replace``: a crash leaves the old file or the new one, never
  half of one), mode 0600. A file that cannot be read or parsed is an error, never "no users":
  a broken file must not open a server.
* **Failed logins** are limited per name and per client address (``assistant/logins.py``, in
  front of Gradio's login form): after ``login_attempts`` wrong passwords a name waits
  ``login_lockout_s`` seconds, told so in one line.
* **What is protected:** other users' documents, their search results, citations and document
  text, through the page, ``/ask``, ``/search``, ``/v1``, a collection name or a document path;
  conversations, which live in each browser session's server-side state (``gr.State``), on disk
  only as a user's own export and the answers they rate (the owner's feedback file).
* **What is not:** anyone with the server's files (the index, uploads, this file: plain files;
  use disk encryption), the command line (it is the owner's: it reads every collection), traffic
  (put TLS in front beyond loopback), a locked-out name's owner (anyone can lock a name for
  ``login_lockout_s`` by failing on purpose: the price of stopping guessing), and
  Gradio's own upload cache (temporary copies of uploaded files under a content-hash path, which
  only someone who already has the file's bytes can name). An identical question on the shared
  collection may be answered from the cache another user filled: shared content by definition.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import combined
from .errors import Forbidden, InputError, SettingsError, StoreError
from .store import INTERNAL, check_name

FORMAT = 1  # the users file's "version"
PRIVATE_PREFIX = "user-"  # a user's private collection: user-NAME
KEY_PREFIX = "asst"  # API keys: asst-<id>-<secret>
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
LOGIN_CONCURRENCY = 2  # password checks at once (each takes ~64 MiB for a fraction of a second)
KEY_CACHE = 1024  # verified API keys remembered (until the users file changes)
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")

PASSWORD_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile: t=3, m=64 MiB, p=4
KEY_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)  # random 256-bit keys: cheap is enough
_DUMMY = PASSWORD_HASHER.hash("not a password of anyone")  # checked for unknown names: same time as a real one


def normal_name(name: str | None) -> str:
    """A user name as stored: trimmed, lower case."""
    return str(name or "").strip().lower()


def check_username(name: str) -> str:
    """A valid user name (1-64 of a-z 0-9 . _ -, letter or digit at both ends), else InputError."""
    name = normal_name(name)
    if not _NAME.fullmatch(name) or INTERNAL in name:
        raise InputError(
            f"invalid user name {name!r}: use 1-64 lower-case letters, digits, '.', '_' or '-' "
            f"(no '{INTERNAL}'), starting and ending with a letter or digit"
        )
    return name


def collection_of(name: str) -> str:
    """The private collection of a user: ``user-NAME``."""
    return check_name(PRIVATE_PREFIX + check_username(name))


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InputError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"the password is too long: at most {MAX_PASSWORD} characters")
    return password


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _verify(hasher: PasswordHasher, stored: str, given: str) -> bool:
    try:
        return hasher.verify(stored, given)
    except (VerificationError, InvalidHashError):
        return False


# --------------------------------------------------------------------------- the users file


class Accounts:
    """The users file: add, remove, list, passwords and API keys (hashed), read again when it changes."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple | None = None  # (inode, mtime, size) of the file the cache holds
        self._users: dict[str, dict] = {}
        self._keys: dict[bytes, str] = {}  # sha256 of a verified key -> user

    @classmethod
    def of(cls, settings) -> Accounts:
        return cls(settings.users)

    # -- reading ---------------------------------------------------------------------------
    def _stat(self) -> tuple | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise SettingsError(f"cannot read the users file {self.path}: {e.strerror or e}") from None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read(self) -> dict[str, dict]:
        """The file's users; none when it does not exist; a SettingsError when it cannot be read."""
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise SettingsError(
                f"cannot read the users file {self.path}: {getattr(e, 'strerror', None) or e} "
                "(fix or restore it; `assistant users` needs it)"
            ) from None
        users = data.get("users") if isinstance(data, dict) else None
        if not isinstance(users, dict) or not all(isinstance(u, dict) for u in users.values()):
            raise SettingsError(f"the users file {self.path} is not an assistant users file")
        return users

    def users(self) -> dict[str, dict]:
        """{name: record}, from the file as it is now (cached while it is unchanged)."""
        with self._lock:
            seen = self._stat()
            if seen != self._seen or seen is None:
                self._users = self._read() if seen is not None else {}
                self._seen = seen
                self._keys.clear()
            return self._users

    def active(self) -> bool:
        """Are there users (so logins and private collections are on)?"""
        return bool(self.users())

    def exists(self, name: str | None) -> bool:
        return normal_name(name) in self.users()

    def list(self) -> list[dict]:
        """One row per user: name, created, collection, key (its id, or None)."""
        return [
            {
                "name": name,
                "created": record.get("created", ""),
                "collection": collection_of(name),
                "key": (record.get("key") or {}).get("id"),
            }
            for name, record in sorted(self.users().items())
        ]

    # -- writing ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict]]:
        """The users, read under an exclusive lock and written back atomically (0600) on success."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = os.fdopen(os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600), "r+")
        except OSError as e:
            raise SettingsError(f"cannot write the users file {self.path}: {e.strerror or e}") from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            users = self._read()
            yield users
            self._write(users)

    def _write(self, users: dict[str, dict]) -> None:
        folder = self.path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"version": FORMAT, "users": users}, f, indent=2, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # the rename itself durable (not every file system allows this)
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def add(self, name: str, password: str) -> str:
        """Add a user (InputError if the name is taken); returns the stored name."""
        name = check_username(name)
        collection_of(name)
        taken = InputError(f"there is already a user {name!r} (`assistant users passwd {name}` changes the password)")
        if name in self.users():
            raise taken
        hashed = PASSWORD_HASHER.hash(check_password(password))  # slow: outside the lock
        with self._locked() as users:
            if name in users:  # added meanwhile by another process
                raise taken
            users[name] = {"password": hashed, "created": _now(), "key": None}
        return name

    def set_password(self, name: str, password: str) -> None:
        name = normal_name(name)
        hashed = PASSWORD_HASHER.hash(check_password(password))
        with self._locked() as users:
            self._record(users, name)["password"] = hashed

    def remove(self, name: str) -> None:
        name = normal_name(name)
        with self._locked() as users:
            self._record(users, name)
            del users[name]

    def issue_key(self, name: str) -> str:
        """A new API key for the user, replacing any earlier one; returned once, stored hashed."""
        name = normal_name(name)
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        token = f"{KEY_PREFIX}-{key_id}-{secret}"
        hashed = KEY_HASHER.hash(secret)
        with self._locked() as users:
            self._record(users, name)["key"] = {"id": key_id, "hash": hashed, "created": _now()}
        return token

    @staticmethod
    def _record(users: dict[str, dict], name: str) -> dict:
        if name not in users:
            raise InputError(f"there is no user {name!r} (`assistant users list` shows them)")
        return users[name]

    # -- checking --------------------------------------------------------------------------
    def check_password(self, name: str | None, password: str | None) -> bool:
        """Is this the user's password? An unknown name takes as long as a known one."""
        record = self.users().get(normal_name(name))
        stored = record.get("password") if record else None
        if not isinstance(stored, str) or not isinstance(password, str):
            _verify(PASSWORD_HASHER, _DUMMY, str(password or ""))
            return False
        return _verify(PASSWORD_HASHER, stored, password)

    def user_of_key(self, token: str | None) -> str | None:
        """The user an API key belongs to, or None."""
        if not token or not isinstance(token, str):
            return None
        users = self.users()
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        with self._lock:
            known = self._keys.get(digest)
        if known is not None and known in users:
            return known
        prefix, _, rest = token.partition("-")
        key_id, _, secret = rest.partition("-")
        if prefix != KEY_PREFIX or not key_id or not secret:
            return None
        for name, record in users.items():
            key = record.get("key") or {}
            if isinstance(key, dict) and hmac.compare_digest(str(key.get("id", "")), key_id):
                if isinstance(key.get("hash"), str) and _verify(KEY_HASHER, key["hash"], secret):
                    with self._lock:
                        if len(self._keys) >= KEY_CACHE:
                            self._keys.clear()
                        self._keys[digest] = name
                    return name
                return None
        return None


def purge(settings, name: str) -> list[str]:
    """Delete a (removed) user's private collection and upload folder; what was deleted."""
    from .store import Store

    collection = collection_of(name)
    done = []
    store = Store(settings.model_copy(update={"collection": collection}))
    if store.count():
        done.append(f"collection {collection} ({len(store.documents())} documents)")
    store.drop()
    uploads = Path(settings.uploads) / collection
    if uploads.is_dir():
        shutil.rmtree(uploads)
        done.append(f"uploads {uploads}")
    return done


# --------------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class Access:
    """What one request may reach: collections to read and write, and the one used by default.

    ``readable is None`` is single-user local mode: every collection, the caller's choice as is.
    """

    user: str | None
    readable: tuple[str, ...] | None
    writable: tuple[str, ...] | None
    default: str | None

    @property
    def private(self) -> bool:
        return self.readable is not None

    def _allowed(self, collection: str | None, names: tuple[str, ...] | None, verb: str) -> str | None:
        if names is None:  # local mode: what was asked (None: the app's own collection), a combined name normalised
            if collection and combined.is_combined(collection):
                return combined.check(collection)
            return collection or None
        asked = combined.parts(collection) if collection else ((self.default,) if self.default else ())
        if asked and all(n in names for n in asked):
            return combined.join(asked)
        if not self.readable:
            raise Forbidden("log in to use the assistant")
        if not names:
            raise Forbidden(f"this API key can only read the shared collection {self.default!r}")
        name = next((n for n in asked if n not in names), collection)
        shown = " and ".join(f"{n} (yours)" if self.user and n == self.default else n for n in names)
        if verb == "change" and combined.is_combined(collection):
            raise Forbidden(f"uploads and removals go to one collection: you can change {shown}")
        raise Forbidden(f"you cannot {verb} the collection {name!r}: you can {verb} {shown}")

    def read(self, collection: str | None) -> str | None:
        """The collection a read (question, search, document list) uses; Forbidden if not this caller's."""
        return self._allowed(collection, self.readable, "read")

    def write(self, collection: str | None) -> str | None:
        """The collection an upload or removal uses; Forbidden if not this caller's."""
        return self._allowed(collection, self.writable, "change")

    @property
    def together(self) -> str | None:
        """The combined name of everything this caller may read (``user-NAME+documents``), or None
        when that is a single collection (or everything, locally)."""
        if not self.readable or len(self.readable) < 2:
            return None
        return combined.join(self.readable)

    def visible(self, names: Iterable[str]) -> list[str]:
        """The collections to offer in a chooser: all of ``names`` locally, else the readable ones."""
        if self.readable is None:
            return sorted(set(names))
        return list(self.readable)


LOCAL = Access(user=None, readable=None, writable=None, default=None)


class Policy:
    """Which collections each caller may use; decided once at start: private when users exist."""

    def __init__(self, settings, accounts: Accounts | None = None):
        self.settings = settings
        self.accounts = accounts or Accounts.of(settings)
        self.private = self.accounts.active()  # a broken users file fails here, closed
        self.shared = settings.collection
        self._created: set[str] = set()
        self._limiter: Any = None

    def nobody(self) -> Access:
        return Access(user=None, readable=(), writable=(), default=None)

    def for_user(self, username: str | None) -> Access:
        """A logged-in user's access (``request.username``); without users, ``LOCAL``."""
        if not self.private:
            return LOCAL
        name = normal_name(username)
        if not name or not self.accounts.exists(name):  # not logged in, or removed since
            return self.nobody()
        own = collection_of(name)
        self._create(own)
        readable = (own,) if own == self.shared else (own, self.shared)
        return Access(user=name, readable=readable, writable=(own,), default=own)

    def for_api(self, header: str | None, shared_key: bool) -> Access | None:
        """The caller of a /v1 request in private mode: a user's key -> that user's access; one of
        ``ASSISTANT_API_KEYS`` (``shared_key``) -> the shared collection only; else None (401)."""
        scheme, _, token = (header or "").strip().partition(" ")
        user = self.accounts.user_of_key(token.strip()) if scheme.lower() == "bearer" else None
        if user is not None:
            return self.for_user(user)
        if shared_key:
            return Access(user=None, readable=(self.shared,), writable=(), default=self.shared)
        return None

    async def login(self, username: str, password: str) -> bool:
        """Gradio's ``auth=`` callable: the argon2 check in a worker thread, a few at a time."""
        import anyio
        import anyio.to_thread

        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(LOGIN_CONCURRENCY)
        return await anyio.to_thread.run_sync(self.accounts.check_password, username, password, limiter=self._limiter)

    def _create(self, collection: str) -> None:
        """A user's private collection exists from their first request (empty until they upload)."""
        if collection in self._created:
            return
        from .store import Store

        try:
            Store(self.settings.model_copy(update={"collection": collection}))  # get_or_create
        except StoreError:  # the index is unreachable: the request's own use of it says so, in one line
            return
        self._created.add(collection)
