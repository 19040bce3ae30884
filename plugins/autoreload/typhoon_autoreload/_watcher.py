"""Waiting, in a background thread, for one of a set of files to change.

A :class:`Watcher` is one-shot: it watches until a relevant change arrives, stops
watching (so the kernel watch handles are released), then reports the changed paths
once. That matches its only use: a relevant change always ends in a restart.

What is watched is given as two sets that may grow while the watcher runs:

* *files* -- each is watched through its parent directory, not through the file's own
  inode, so editors that save by writing a new file and renaming it over the old one
  are seen. Only creation and modification count: a file that disappears is not a
  reason to restart (the next program could not import it), its reappearance is.
* *trees* -- directories (templates, static files) where any change below them
  counts, except editor scratch files (``.swp``, ``~`` backups, ``.#`` locks).

Backends. ``watchfiles`` asks the kernel for notifications (inotify, FSEvents,
ReadDirectoryChangesW); every directory is watched non-recursively, so watching the
directory of every imported module (the standard library and ``site-packages``
included) costs one kernel watch per directory. Where ``watchfiles`` is not installed
or cannot start, a polling backend compares ``stat`` results every ``check_time``.

Debounce. Changes are collected until ``debounce`` seconds pass without a new one, so
an editor or a version-control checkout writing many files produces one report.
"""

from __future__ import annotations

__all__ = ["Backend", "Targets", "Watcher", "is_scratch_file", "normalise"]

import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

try:
    import watchfiles

    _HAVE_WATCHFILES = True
except ImportError:  # a platform without a watchfiles wheel: the polling backend is used
    _HAVE_WATCHFILES = False

_logger = logging.getLogger("typhoon.general")

#: How many directories below one tree root are watched at most.
MAX_TREE_DIRECTORIES = 4096
#: The longest a burst of changes is collected before it is reported anyway (seconds).
MAX_BURST = 2.0
#: File modification times lag the wall clock by up to a scheduler tick or so.
_CLOCK_MARGIN_NS = 50_000_000

_SCRATCH = re.compile(
    r"""(
        \.sw[a-px]$         # vim swap files (and its .swx probe)
      | ~$                  # backup files (emacs, vim, many others)
      | ^\.\#               # emacs lock files
      | ^\#.*\#$            # emacs auto-save files
      | ^4913$              # vim's probe for a writable directory
      | \.py[cod]$          # compiled bytecode
      | ^\.DS_Store$
      | \.___jb_\w+___$     # JetBrains safe-write temporaries
    )""",
    re.VERBOSE,
)
_SKIPPED_DIRECTORIES = frozenset({"__pycache__", ".git", ".hg", ".svn", "node_modules"})

Backend = Literal["watchfiles", "poll"]

_THREAD_NAME = "typhoon-autoreload"


class _QuietForOurThread(logging.Filter):
    """Drops watchfiles' per-batch INFO lines ("N changes detected") logged from the
    watcher's thread: it yields every batch, most of them unrelated to the program."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.threadName != _THREAD_NAME


logging.getLogger("watchfiles.main").addFilter(_QuietForOurThread())


def is_scratch_file(path: str) -> bool:
    """Whether ``path`` names an editor temporary or a cache file rather than content."""
    return bool(_SCRATCH.search(os.path.basename(path)))


@dataclass(frozen=True)
class Targets:
    """What to watch: exact ``files`` and whole ``trees`` (absolute, normalised paths)."""

    files: frozenset[str] = frozenset()
    trees: frozenset[str] = frozenset()

    def directories(self) -> frozenset[str]:
        """The existing directories to watch non-recursively to see every target."""
        found = {os.path.dirname(path) for path in self.files}
        for root in self.trees:
            found.update(_tree_directories(root))
        return frozenset(path for path in found if os.path.isdir(path))

    def is_relevant(self, path: str, deleted: bool) -> bool:
        """Whether a change of ``path`` (a deletion when ``deleted``) should be reported."""
        if is_scratch_file(path):
            return False
        if path in self.files:
            return not deleted
        return any(_is_below(path, root) for root in self.trees)


def _is_below(path: str, root: str) -> bool:
    return path.startswith(root.rstrip(os.sep) + os.sep)


def _tree_directories(root: str) -> list[str]:
    """``root`` and the directories below it (hidden and cache directories skipped)."""
    found: list[str] = []
    for current, subdirs, _files in os.walk(root):
        found.append(current)
        if len(found) >= MAX_TREE_DIRECTORIES:
            _logger.warning(
                "autoreload watches only the first %d directories below %s",
                MAX_TREE_DIRECTORIES,
                root,
            )
            break
        subdirs[:] = [
            name
            for name in subdirs
            if name not in _SKIPPED_DIRECTORIES and not name.startswith(".")
        ]
    return found


class Watcher:
    """Watches ``targets()`` from a daemon thread and calls ``on_change`` once.

    ``targets`` is called again every ``check_time`` seconds (and after :meth:`refresh`)
    because the set grows as modules are imported; the kernel watch is re-created only
    when new directories appear. ``on_change`` receives the sorted changed paths and is
    called from the watcher's thread after watching has stopped.

    A file modified between ``changed_since`` and the moment the watch is in place is
    reported too, so an edit saved while the program was starting is not lost.
    """

    def __init__(
        self,
        targets: Callable[[], Targets],
        on_change: Callable[[list[str]], None],
        *,
        check_time: float = 0.5,
        debounce: float = 0.1,
        backend: Backend | None = None,
        changed_since: float | None = None,
    ) -> None:
        self._targets = targets
        #: Files modified after this time (``time.time()``) but before watching began
        #: count as changed: the program may have read them before the change.
        self.changed_since = changed_since
        self._on_change = on_change
        self.check_time = max(0.01, check_time)
        self.debounce = max(0.0, debounce)
        #: ``"watchfiles"`` or ``"poll"``; may turn to ``"poll"`` if watchfiles fails.
        self.backend: Backend = backend or ("watchfiles" if _HAVE_WATCHFILES else "poll")
        self._stopped = False
        self._checked: set[str] = set()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the watching thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start watching in a daemon thread (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=_THREAD_NAME, daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        """Re-read the targets now instead of at the next ``check_time`` tick."""
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop watching without reporting; wait up to ``timeout`` for the thread."""
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # --- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            changed = self._watch_with_watchfiles() if self.backend == "watchfiles" else None
            if changed is None and not self._stopped:
                self.backend = "poll"
                changed = self._watch_by_polling()
        except Exception:
            _logger.error("autoreload stopped watching after an error", exc_info=True)
            return
        if changed and not self._stopped:
            self._on_change(changed)

    def _watch_with_watchfiles(self) -> list[str] | None:
        """Watch through kernel notifications; ``None`` when they cannot be used."""
        failures = 0
        since = self.changed_since
        while not self._stopped:
            targets = self._targets()
            directories = targets.directories()
            if not directories:
                self._wake.wait(self.check_time)
                self._wake.clear()
                continue
            self._wake.clear()
            try:
                changed, since = self._watch_directories(targets, directories, since)
            except (OSError, RuntimeError) as exc:
                # A directory vanished between listing and watching, or the kernel
                # refused (a watch limit, reported by watchfiles as a RuntimeError):
                # list again, then give up on notifications.
                failures += 1
                if failures >= 3:
                    _logger.warning(
                        "autoreload cannot use file notifications (%s); polling every %.2fs",
                        exc,
                        self.check_time,
                    )
                    return None
                time.sleep(min(self.check_time, 0.2))
                continue
            failures = 0
            if changed:
                return changed
        return []

    def _watch_directories(
        self, targets: Targets, directories: frozenset[str], since: float | None
    ) -> tuple[list[str], float | None]:
        """One kernel watch over ``directories``.

        Returns the changed paths, or ``[]`` when the targets need new directories (or
        :meth:`refresh` was called), together with the time from which the next watch
        must look for changes it could not see.

        Changes made while no watch was in place are found by comparing modification
        times (see :meth:`_missed`) once this watch is in place (at its first yield,
        within ``check_time``), and whenever the targets grow.
        """
        step = max(1, round(self.debounce * 1000))
        started = time.time()
        _logger.debug(
            "autoreload watches %d directories for %d files and %d trees",
            len(directories),
            len(targets.files),
            len(targets.trees),
        )
        # Every batch is yielded (no watch_filter), so that the targets are re-read
        # even while unrelated files in the same directories keep changing.
        changes_iter = watchfiles.watch(
            *sorted(directories),
            watch_filter=None,
            debounce=max(step, round(MAX_BURST * 1000)),
            step=step,
            stop_event=self._wake,
            rust_timeout=max(1, round(self.check_time * 1000)),
            yield_on_timeout=True,
            raise_interrupt=False,
            recursive=False,
        )
        deleted = watchfiles.Change.deleted
        pending: set[str] = set()
        try:
            for changes in changes_iter:
                if self._stopped:
                    break
                found = {
                    path for kind, path in changes if targets.is_relevant(path, kind == deleted)
                }
                if since is not None and self.changed_since is not None:
                    # The watch is in place: look for what changed before it was.
                    found.update(self._missed(targets, since))
                    since = None
                    if found and not changes:
                        pending |= found
                        continue  # a burst may still be going on: take one more step
                found |= pending
                if found:
                    return sorted(found), None
                since = None
                fresh = self._targets()
                if fresh != targets:
                    if not fresh.directories() <= directories:
                        break  # new directories: watch again with them
                    targets = fresh
                    if self.changed_since is not None:
                        # Files that just became targets may have changed unseen.
                        found.update(self._missed(targets, started))
                        if found:
                            return sorted(found), None
        finally:
            changes_iter.close()
        return [], started if since is None else since

    def _missed(self, targets: Targets, since: float) -> list[str]:
        """Target files whose modification time says they changed while unwatched.

        A file checked before counts when modified after ``since`` (the start of the
        watch that could not see it); a file never checked counts when modified after
        ``changed_since`` (the program may have read it any time after that).
        """
        assert self.changed_since is not None
        snapshot = _snapshot(targets)
        gap, origin = int(since * 1e9), int(self.changed_since * 1e9)
        future = _future_ns()
        missed = sorted(
            path
            for path, (mtime, _size) in snapshot.items()
            if (gap if path in self._checked else origin) < mtime <= future
            and targets.is_relevant(path, False)
        )
        self._checked.update(snapshot)
        return missed

    def _watch_by_polling(self) -> list[str]:
        """Compare ``stat`` results every ``check_time``: the fallback backend."""
        known: dict[str, tuple[int, int]] | None = None
        origin_ns = None if self.changed_since is None else int(self.changed_since * 1e9)
        previous_ns = 0
        pending: set[str] = set()
        quiet_since = 0.0
        while not self._stopped:
            targets = self._targets()
            taken_ns = time.time_ns()
            current = _snapshot(targets)
            changed = [
                path
                for path, signature in current.items()
                if _changed(path, signature, known, previous_ns, origin_ns)
                and targets.is_relevant(path, False)
            ]
            if known is not None:
                changed += [
                    path
                    for path in known
                    if path not in current and targets.is_relevant(path, True)
                ]
            known, previous_ns = current, taken_ns
            if changed:
                pending.update(changed)
                quiet_since = time.monotonic()
            elif pending and time.monotonic() - quiet_since >= self.debounce:
                return sorted(pending)
            interval = min(self.check_time, self.debounce) if pending else self.check_time
            self._wake.wait(interval)
            self._wake.clear()
        return []


def _changed(
    path: str,
    signature: tuple[int, int],
    known: dict[str, tuple[int, int]] | None,
    previous_ns: int,
    origin_ns: int | None,
) -> bool:
    """Whether a polled file changed since the previous look (taken at ``previous_ns``).

    On the first look (``known`` is ``None``) and for a file seen for the first time (a
    new file, or a module imported meanwhile), the file counts when it was modified
    after ``origin_ns``, the watcher's ``changed_since``. Without one, a new file counts
    when modified after the previous look, with a margin because file times come from a
    coarse clock that lags the wall clock.
    """
    before = None if known is None else known.get(path)
    if before is not None:
        return before != signature
    if origin_ns is not None:
        return origin_ns < signature[0] <= _future_ns()
    return known is not None and signature[0] > previous_ns - _CLOCK_MARGIN_NS


def _future_ns() -> int:
    """Modification times later than this are ignored: a file stamped in the future
    (clocks that disagree, archives) would otherwise restart every new program."""
    return time.time_ns() + 1_000_000_000


def _snapshot(targets: Targets) -> dict[str, tuple[int, int]]:
    """Modification time and size of every existing target file and tree file."""
    result: dict[str, tuple[int, int]] = {}
    for path in targets.files:
        _stat_into(result, path)
    for root in targets.trees:
        for directory in _tree_directories(root):
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for name in names:
                _stat_into(result, os.path.join(directory, name))
    return result


def _stat_into(result: dict[str, tuple[int, int]], path: str) -> None:
    try:
        info = os.stat(path)
    except OSError:
        return
    if stat.S_ISREG(info.st_mode):
        result[path] = (info.st_mtime_ns, info.st_size)


def normalise(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Absolute, normalised forms of ``paths`` (plus their resolved forms if different)."""
    result: list[str] = []
    for path in paths:
        absolute = os.path.abspath(os.fspath(path))
        result.append(absolute)
        resolved = os.path.realpath(absolute)
        if resolved != absolute:
            result.append(resolved)
    return result
