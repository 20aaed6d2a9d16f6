"""The errors a user can fix: bad config, bad input data, a missing artifact or service.

Every one derives from ``HarnessError``; the ``harness`` command prints its message on one line and exits
with status 2 (``USAGE_ERROR``). Anything else is a bug and keeps its traceback. Each stage keeps its own
subclass (``RulePackError``, ``IntakeError``, ...) so callers can tell them apart, and the message names
the input and the problem.
"""

from __future__ import annotations

USAGE_ERROR = 2
"""Exit status for bad config or bad input data (the message says which and where)."""


class HarnessError(Exception):
    """A problem with what the user gave the harness, not with the harness."""


class ConfigError(HarnessError, ValueError):
    """A composed config that does not validate; the message names the key."""


class DataError(HarnessError, ValueError):
    """Input data that cannot be read as charts; the message names the file (and line) and the problem."""
