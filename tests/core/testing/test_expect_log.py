"""ExpectLog: matching, requiredness, levels, and what it lets through."""

from __future__ import annotations

import logging

import pytest
from typhoon.log import app_log, gen_log
from typhoon.testing import ExpectLog


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def test_matching_records_are_swallowed(records: pytest.LogCaptureFixture) -> None:
    with ExpectLog(gen_log, "expected") as expectation:
        gen_log.warning("expected %s", "message")
        gen_log.warning("something else")
    assert expectation.matched
    assert expectation.matched_count == 1
    assert [r.getMessage() for r in records.records] == ["something else"]


def test_logger_by_name_and_regex_anchored_at_the_start(
    records: pytest.LogCaptureFixture,
) -> None:
    expectation = ExpectLog("typhoon.general", "message")
    with pytest.raises(AssertionError, match="did not get expected log message"), expectation:
        gen_log.warning("an expected message")  # "message" is not at the start
    assert [r.getMessage() for r in records.records] == ["an expected message"]


def test_missing_message_fails_unless_not_required() -> None:
    with pytest.raises(AssertionError), ExpectLog(gen_log, "never"):
        pass
    with ExpectLog(gen_log, "never", required=False) as expectation:
        pass
    assert not expectation.matched


def test_an_exception_in_the_block_is_not_hidden() -> None:
    with pytest.raises(KeyError), ExpectLog(gen_log, "never"):
        raise KeyError("real problem")


def test_level_must_match(records: pytest.LogCaptureFixture) -> None:
    with pytest.raises(AssertionError), ExpectLog(gen_log, "msg", level=logging.ERROR):
        gen_log.warning("msg at the wrong level")
    texts = [r.getMessage() for r in records.records]
    assert "msg at the wrong level" in texts
    assert any("unexpected level" in text for text in texts)


def test_level_is_enabled_for_the_block() -> None:
    logger = logging.getLogger("typhoon.test_expectlog_level")
    logger.setLevel(logging.WARNING)
    with ExpectLog(logger, "debug line", level=logging.DEBUG):
        logger.debug("debug line")
    assert logger.level == logging.WARNING


def test_logged_stack(records: pytest.LogCaptureFixture) -> None:
    with ExpectLog(app_log, "failed") as expectation:
        try:
            raise ValueError("x")
        except ValueError:
            app_log.error("failed", exc_info=True)
    assert expectation.logged_stack


def test_filter_is_removed_afterwards(records: pytest.LogCaptureFixture) -> None:
    with ExpectLog(gen_log, "hidden"):
        gen_log.warning("hidden")
    gen_log.warning("hidden")
    assert [r.getMessage() for r in records.records] == ["hidden"]
