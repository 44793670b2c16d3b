"""The wording of a runtime's end, as Lambda's Go init words it."""

from __future__ import annotations

import signal

import pytest

from lamina.execution.exit_description import describe_exit


@pytest.mark.parametrize(
    ("returncode", "words"),
    [
        (3, "exit status 3"),
        (137, "exit status 137"),  # an exit status, not a signal
        (0, "exit status 0"),
        (-signal.SIGKILL, "signal: killed"),
        (-signal.SIGSEGV, "signal: segmentation fault"),
        (-signal.SIGTERM, "signal: terminated"),
        (-signal.SIGABRT, "signal: aborted"),
        (-signal.SIGBUS, "signal: bus error"),
        (-signal.SIGUSR1, "signal: user defined signal 1"),
        (-40, "signal: signal 40"),  # a real-time signal: Go has no name for it
    ],
)
def test_an_end_is_worded_as_lambda_words_it(returncode: int, words: str) -> None:
    assert describe_exit(returncode) == words
