"""Prints the hostile suites' figures and failure tables (harness.report) after pytest's summary, so
they are visible with -q and captured output too."""
from __future__ import annotations

import harness


def pytest_terminal_summary(terminalreporter):
    if harness.SUMMARY:
        terminalreporter.section("hostile suites")
        for line in harness.SUMMARY:
            terminalreporter.write_line(line)
