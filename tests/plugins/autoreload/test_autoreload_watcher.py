"""The watcher: which changes it reports, through both backends, and when.

Every test runs with the ``watchfiles`` backend (kernel notifications) and the polling
fallback. Waits are bounded by ``REPORT_TIMEOUT``; a change that must not be reported is
always followed by one that must, and the report is checked to hold only the latter.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typhoon_autoreload import _watcher
from typhoon_autoreload._watcher import Targets, Watcher, is_scratch_file

REPORT_TIMEOUT = 15.0


class Reports:
    """Collects what a watcher reports, from its thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue[list[str]] = queue.Queue()

    def __call__(self, paths: list[str]) -> None:
        self._queue.put(paths)

    def next(self, timeout: float = REPORT_TIMEOUT) -> list[str]:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing reported within {timeout}s") from None

    def empty_after(self, seconds: float) -> bool:
        try:
            report = self._queue.get(timeout=seconds)
        except queue.Empty:
            return True
        print("unexpected report:", report)
        return False


@pytest.fixture(params=["watchfiles", "poll"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def start_watcher(backend: str) -> Iterator[Callable[..., tuple[Watcher, Reports]]]:
    watchers: list[Watcher] = []

    def start(
        targets: Callable[[], Targets], debounce: float = 0.05, since: float | None = None
    ) -> tuple[Watcher, Reports]:
        reports = Reports()
        watcher = Watcher(
            targets,
            reports,
            check_time=0.05,
            debounce=debounce,
            backend=backend,  # type: ignore[arg-type]
            changed_since=time.time() if since is None else since,
        )
        watchers.append(watcher)
        watcher.start()
        return watcher, reports

    yield start
    for watcher in watchers:
        watcher.stop(timeout=5)
        assert not watcher.running


def files(*paths: Path) -> Callable[[], Targets]:
    return lambda: Targets(files=frozenset(str(path) for path in paths))


def test_a_modified_file_is_reported(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Reports]]
) -> None:
    module = tmp_path / "mod.py"
    module.write_text("A = 1\n")
    _watcher, reports = start_watcher(files(module))
    module.write_text("A = 2\n")
    assert reports.next() == [str(module)]


def test_neighbours_and_deletions_are_not_reported(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Reports]]
) -> None:
    kept, deleted = tmp_path / "kept.py", tmp_path / "deleted.py"
    kept.write_text("A = 1\n")
    deleted.write_text("B = 1\n")
    _watcher, reports = start_watcher(files(kept, deleted))
    (tmp_path / "neighbour.txt").write_text("not watched")
    deleted.unlink()
    assert reports.empty_after(0.5)
    kept.write_text("A = 2\n")
    assert reports.next() == [str(kept)]


def test_a_deleted_file_that_comes_back_is_reported(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Reports]]
) -> None:
    module = tmp_path / "mod.py"
    module.write_text("A = 1\n")
    _watcher, reports = start_watcher(files(module))
    module.unlink()
    assert reports.empty_after(0.3)
    module.write_text("A = 2\n")
    assert reports.next() == [str(module)]


def test_a_file_replaced_by_a_rename_is_reported(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Reports]]
) -> None:
    module = tmp_path / "mod.py"
    module.write_text("A = 1\n")
    _watcher, reports = start_watcher(files(module))
    temporary = tmp_path / "mod.py.new"
    temporary.write_text("A = 2  # saved atomically\n")
    os.replace(temporary, module)
    assert reports.next() == [str(module)]


def test_a_file_that_does_not_exist_yet_is_reported_when_created(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Reports]]
) -> None:
    later = tmp_path / "later.cfg"
    _watcher, reports = start_watcher(files(later))
    later.write_text("created")
    assert reports.next() == [str(later)]


def test_trees_report_changes_at_any_depth_but_not_scratch_files(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Reports]]
) -> None:
    deeper = tmp_path / "templates" / "sub" / "deeper"
    deeper.mkdir(parents=True)
    page = deeper / "page.html"
    page.write_text("one")
    root = str(tmp_path / "templates")
    _watcher, reports = start_watcher(lambda: Targets(trees=frozenset({root})))
    (deeper / ".page.html.swp").write_text("vim swap")
    (deeper / "page.html~").write_text("backup")
    (tmp_path / "outside.html").write_text("not below the tree")
    assert reports.empty_after(0.5)
    page.write_text("two")
    assert reports.next() == [str(page)]


def test_a_burst_of_writes_is_reported_once(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Reports]]
) -> None:
    modules = [tmp_path / f"mod{index}.py" for index in range(5)]
    for module in modules:
        module.write_text("A = 1\n")
    _watcher, reports = start_watcher(files(*modules), debounce=0.5)
    for module in modules:
        module.write_text("A = 2\n")
    assert reports.next() == sorted(str(module) for module in modules)
    assert reports.empty_after(0.3)


def test_targets_in_new_directories_are_watched_after_refresh(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Reports]]
) -> None:
    first = tmp_path / "first.py"
    first.write_text("A = 1\n")
    (tmp_path / "later").mkdir()
    second = tmp_path / "later" / "second.py"
    second.write_text("B = 1\n")
    current = {str(first)}
    watcher, reports = start_watcher(lambda: Targets(files=frozenset(current)))
    current.add(str(second))
    watcher.refresh()
    time.sleep(0.3)
    second.write_text("B = 2\n")
    assert reports.next() == [str(second)]


def test_a_change_before_the_watch_was_in_place_is_reported(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Reports]]
) -> None:
    old, edited = tmp_path / "old.py", tmp_path / "edited.py"
    old.write_text("A = 1\n")
    since = time.time()
    time.sleep(0.05)
    edited.write_text("B = 1\n")  # after the program started, before it watched
    _watcher, reports = start_watcher(files(old, edited), since=since)
    assert reports.next() == [str(edited)]


def test_stop_ends_the_thread_without_a_report(
    tmp_path: Path, start_watcher: Callable[..., tuple[Watcher, Reports]]
) -> None:
    module = tmp_path / "mod.py"
    module.write_text("A = 1\n")
    watcher, reports = start_watcher(files(module))
    assert watcher.running
    watcher.stop(timeout=5)
    assert not watcher.running
    module.write_text("A = 2\n")
    assert reports.empty_after(0.5)


@pytest.mark.parametrize(
    ("name", "scratch"),
    [
        (".page.html.swp", True),
        ("page.html.swx", True),
        ("page.html~", True),
        (".#page.html", True),
        ("#page.html#", True),
        ("4913", True),
        ("mod.cpython-311.pyc", True),
        ("page.html", False),
        ("mod.py", False),
        ("swap.html", False),
    ],
)
def test_scratch_files(name: str, scratch: bool) -> None:
    assert is_scratch_file(os.path.join("/srv", "app", name)) is scratch


def test_relevance_rules() -> None:
    targets = Targets(files=frozenset({"/app/mod.py"}), trees=frozenset({"/app/templates"}))
    assert targets.is_relevant("/app/mod.py", deleted=False)
    assert not targets.is_relevant("/app/mod.py", deleted=True)
    assert not targets.is_relevant("/app/other.py", deleted=False)
    assert targets.is_relevant("/app/templates/a/b.html", deleted=False)
    assert targets.is_relevant("/app/templates/a/b.html", deleted=True)
    assert not targets.is_relevant("/app/templates-old/b.html", deleted=False)
    assert not targets.is_relevant("/app/templates/a/.b.html.swp", deleted=False)


def test_without_watchfiles_the_watcher_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_watcher, "_HAVE_WATCHFILES", False)
    assert Watcher(Targets, print).backend == "poll"
    monkeypatch.setattr(_watcher, "_HAVE_WATCHFILES", True)
    assert Watcher(Targets, print).backend == "watchfiles"


def test_when_notifications_fail_the_watcher_falls_back_to_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*paths: object, **options: object) -> Iterator[set[tuple[object, str]]]:
        raise RuntimeError("inotify watch limit reached")

    monkeypatch.setattr(_watcher.watchfiles, "watch", refuse)
    module = tmp_path / "mod.py"
    module.write_text("A = 1\n")
    reports = Reports()
    watcher = Watcher(
        files(module), reports, check_time=0.05, debounce=0.05, changed_since=time.time()
    )
    watcher.start()
    try:
        deadline = time.monotonic() + REPORT_TIMEOUT
        while watcher.backend != "poll":
            assert time.monotonic() < deadline, "never fell back to polling"
            time.sleep(0.02)
        module.write_text("A = 2\n")
        assert reports.next() == [str(module)]
    finally:
        watcher.stop(timeout=5)
    assert "cannot use file notifications (inotify watch limit reached)" in caplog.text
