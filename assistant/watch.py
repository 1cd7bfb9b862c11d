"""Keep the index in step with folders while they change: ``assistant ingest --watch`` and ``serve --watch``.

Design and trade-offs:

* **Why watchfiles.** It wraps the Rust ``notify`` crate (inotify on Linux, FSEvents on macOS,
  ReadDirectoryChangesW on Windows) in one binary wheel, so the watcher costs no CPU while
  nothing changes and hears of a change at once; it groups events itself (``debounce`` and
  ``step``), keeps collecting them while Python is busy with a sync (nothing is lost between two
  batches), and stops on a ``threading.Event``, which a background thread needs. watchdog calls
  back once per event, so the grouping would be our own timer thread; polling ourselves would
  stat or hash every file every few seconds and still react late. On file systems without
  change notification (some network mounts) set ``WATCHFILES_FORCE_POLLING=1``.
* **Events only trigger; ingest decides.** Each batch of changes re-runs the ordinary ingest over
  the watched paths (``Assistant.ingest``), never a per-event update. That sync is incremental:
  it hashes each file and skips those whose version is complete in the index, so an unchanged
  file is never re-read or re-embedded, and files gone from a watched folder are removed by
  ingest's own removal step, exactly as ``assistant ingest DIR`` removes them. The cost is a hash
  of every watched file and one read of the index's metadata per batch (measured: 0.4-0.6 s for
  the 300-document dev corpus, 3.4 MB / 4,119 chunks, on 2 cores busy with two evaluations; the
  metadata read grows with the index: some 10 s at 100k chunks, extrapolated, once per batch,
  not per file); the gain is that the outcome depends only on what is on disk, never on reading
  the events right: a renamed folder, an editor that saves through a temporary file and a
  rename, a file deleted and re-created, or a change made while a sync ran all come out as a
  plain ``assistant ingest`` would leave them.
* **Crash-safe** because ingest is: new chunks are written before old ones are deleted, so a
  watcher killed mid-sync (Ctrl-C, kill -9, power loss) leaves what a killed ``assistant ingest``
  leaves, and the next start, which always begins with a full sync, completes it.
* **Debounce window.** A batch closes once ``watch_debounce_ms`` (default 500 ms) pass with no
  new change, or at the latest after ``MAX_WINDOWS`` such windows (10 s) while changes keep
  coming, so a ``cp -r``, a ``git checkout`` or an editor's save is one sync, and a file that is
  appended to forever is still re-synced every 10 s. 500 ms is long enough to cover an editor's
  write-then-rename and short enough to feel immediate. A file still being written when the
  window closes is indexed as it was and synced again by its next change ("added", then
  "changed"), or reported as unreadable until it is complete (a half-copied PDF).
* **What counts as a change.** Only what ingest would read: files with a supported suffix and
  folders (a rename or a new folder), outside hidden files and folders, plus any deletion (a
  deleted path could have been a folder). Editor swap and backup files and the index's own
  files (when the index lies inside a watched folder) trigger nothing.
* **One line per change**: ``added notes.md (3 chunks)``, ``changed notes.md (4 chunks)``,
  ``removed notes.md``; paths relative to the working folder when under it. A file saved with the
  same bytes prints nothing (the index did not change).
* **Errors.** A file ingest cannot read is one line, ``skipped bad.pdf: corrupt PDF: ...``, shown
  once and again only if the reason changes (it is retried on every sync, so a fixed file is
  picked up); an indexed file that becomes unreadable loses its chunks, as in ingest. A sync that
  fails as a whole (a Chroma server gone, a full disk) prints one ``error:`` line and watching
  continues: the next change retries everything. The initial sync is not forgiven: its error
  (a missing folder, an index built by another embedder) would repeat on every sync, so
  ``ingest --watch`` exits with it at once, as ``assistant ingest`` does (``serve --watch``
  prints it and serves on, unwatched).
* **Stopping.** Ctrl-C stops ``ingest --watch`` with "stopped watching" and exit status 0, whether
  it arrives while waiting or in the middle of a sync (which is crash-safe, see above); no
  traceback. ``stop()`` does the same for a watcher in a thread.
* **serve --watch** runs the watcher in a daemon thread of the serve process, on the app's own
  ``Assistant`` (one embedder, one Chroma client). Every sync that changes the index stamps a new
  store version (``Store.touch``); the retriever compares that stamp on each search and reloads
  its chunks and lexical index, and the answer cache is keyed by it, so the next question sees
  the new documents and no answer from before the change is replayed.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable

import watchfiles
from watchfiles import Change

from .documents import SUPPORTED
from .errors import AssistantError, InputError
from .ingest import IngestReport
from .text import shown_path

log = logging.getLogger(__name__)

MAX_WINDOWS = 20  # a batch closes after at most this many debounce windows, even while changes keep coming
POLL_MS = 1000  # how long the watcher waits for a change before looking again (the first wait precedes the first sync)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _shown(source: str) -> str:
    """A path as the lines print it: relative to the working folder when under it, else absolute."""
    try:
        rel = os.path.relpath(source)
    except ValueError:  # another drive (Windows)
        rel = source
    inside = rel != os.pardir and not rel.startswith(os.pardir + os.sep)
    return shown_path(rel if inside else source)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _chunks(store, source: str) -> int:
    """How many chunks the index holds for a file (ids only: nothing is read but the count)."""
    return len(store.collection.get(where={"source": source}, include=[])["ids"])


class Watcher:
    """Re-sync files and folders into an Assistant's index whenever they change.

    ``run()`` watches in the calling thread until ``stop()`` or Ctrl-C; ``start()`` runs it in a
    daemon thread. Lines go to ``echo`` (default: changes to stdout, problems to stderr).
    """

    def __init__(
        self,
        assistant,
        paths: Iterable[str],
        *,
        echo: Callable[[str], None] | None = None,
        rebuild: bool = False,
    ):
        self.assistant = assistant
        self.paths = [str(p) for p in paths] or ["seeds"]
        missing = [p for p in self.paths if not os.path.exists(p)]
        if missing:  # before anything starts: a typo must not look like an empty folder
            raise InputError("no such file or folder to watch: " + ", ".join(shown_path(p) for p in missing))
        self.rebuild = rebuild  # for the initial sync only
        self.quiet_ms = int(assistant.settings.watch_debounce_ms)
        self.syncs = 0  # syncs after the initial one (a burst of changes is one)
        self.ready = threading.Event()  # set once the initial sync is done and changes are watched
        self._echo = echo
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._skipped: dict[str, str] = {}  # what was last reported as unreadable: path -> reason
        roots = [os.path.abspath(p) for p in self.paths]
        self._dirs = [r for r in roots if os.path.isdir(r)]
        self._files = {r for r in roots if r not in self._dirs}
        index = os.path.abspath(assistant.settings.index_dir)
        # the index's own writes are no change, unless a watched folder lies inside it (its uploads, say)
        self._ignored = [] if any(_under(r, index) for r in roots) else [index]

    # -- output ----------------------------------------------------------------------------
    def _say(self, line: str) -> None:
        if self._echo is not None:
            self._echo(line)
        else:
            print(line, flush=True)

    def _warn(self, line: str) -> None:
        if self._echo is not None:
            self._echo(line)
        else:
            print(line, file=sys.stderr, flush=True)

    # -- what counts as a change -------------------------------------------------------------
    def wanted(self, change: Change, path: str) -> bool:
        """Could this event change what ingest reads? (the filter handed to watchfiles)"""
        path = os.path.abspath(path)
        if path in self._files:
            return True
        if any(_under(path, i) for i in self._ignored):
            return False
        root = next((d for d in self._dirs if _under(path, d)), None)
        if root is None:  # a neighbour of a watched file
            return False
        if path != root and any(part.startswith(".") for part in os.path.relpath(path, root).split(os.sep)):
            return False  # hidden files and folders are never ingested
        if change == Change.deleted:  # it may have been a folder: ingest finds out
            return True
        return os.path.splitext(path)[1].lower() in SUPPORTED or os.path.isdir(path)

    # -- syncing -----------------------------------------------------------------------------
    def _initial_sync(self) -> None:
        report = self.assistant.ingest(*self.paths, progress=None, rebuild=self.rebuild)  # errors: raised
        for path, reason in report.skipped:
            self._warn(f"skipped {_shown(path)}: {reason}")
        self._skipped = dict(report.skipped)
        self._say(report.summary())
        self._say(f"watching {', '.join(_shown(os.path.abspath(p)) for p in self.paths)} for changes (Ctrl-C to stop)")
        self.ready.set()

    def sync(self) -> IngestReport | None:
        """Re-sync the watched paths once and print a line per changed document; errors are printed, not raised."""
        try:
            report = self.assistant.ingest(*self.paths, progress=False)
        except AssistantError as e:
            self._warn(f"error: {e} (still watching)")
            return None
        except Exception as e:  # one line, and the watcher lives on: the next change retries
            log.debug("watch sync failed", exc_info=True)
            shown = " ".join(str(e).split())[:200]
            self._warn(f"error: unexpected {type(e).__name__}: {shown} (still watching)")
            return None
        self.syncs += 1
        store = self.assistant.store
        skipped = dict(report.skipped)
        for source in report.added:
            self._say(f"added {_shown(source)} ({_count(_chunks(store, source), 'chunk')})")
        for source in report.updated:
            self._say(f"changed {_shown(source)} ({_count(_chunks(store, source), 'chunk')})")
        for source in report.removed:
            if source not in skipped:
                self._say(f"removed {_shown(source)}")
        for source, reason in report.skipped:
            if self._skipped.get(source) != reason or source in report.removed:
                dropped = "; its old version was removed from the index" if source in report.removed else ""
                self._warn(f"skipped {_shown(source)}: {reason}{dropped}")
        self._skipped = skipped
        return report

    # -- running -----------------------------------------------------------------------------
    def run(self) -> None:
        """Sync once, then after every batch of changes, until ``stop()`` or Ctrl-C.

        The watcher is started before the initial sync (watchfiles' first wait of ``POLL_MS``
        precedes it), so a change made while the initial sync runs is caught by the next one.
        """
        targets = sorted(set(self._dirs) | {os.path.dirname(f) for f in self._files})
        changes = watchfiles.watch(
            *targets,
            watch_filter=self.wanted,
            debounce=self.quiet_ms * MAX_WINDOWS,
            step=self.quiet_ms,
            stop_event=self._stop,
            rust_timeout=POLL_MS,
            yield_on_timeout=True,  # the first wait ends the first loop: then the initial sync runs
            raise_interrupt=True,  # caught below: watchfiles' own catch would log a warning line
        )
        started = False
        try:
            for batch in changes:
                if not started:
                    started = True
                    self._initial_sync()
                elif batch and not self._stop.is_set():
                    self.sync()
        except KeyboardInterrupt:
            pass
        finally:
            changes.close()
            self.ready.set()  # nobody waits for a watcher that has ended
        self._say("stopped watching")

    def start(self) -> Watcher:
        """Run in a daemon thread (``serve --watch``): every error is printed, none raised."""

        def target() -> None:
            try:
                self.run()
            except AssistantError as e:
                self._warn(f"error: {e} (not watching)")
            except Exception as e:
                log.debug("watcher failed", exc_info=True)
                self._warn(f"error: unexpected {type(e).__name__}: {' '.join(str(e).split())[:200]} (not watching)")

        self._thread = threading.Thread(target=target, name="watch", daemon=True)
        self._thread.start()
        atexit.register(self.stop)  # a sync in progress may finish first (bounded by the timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching; wait (at most ``timeout`` s) for a sync in progress to finish."""
        self._stop.set()
        atexit.unregister(self.stop)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
