"""The one exception type whose message is written for a person.

Library code raises ``WorkbenchError`` (or a subclass: ``DataError``, ``DistributionError``,
``OptionError`` ...) with a message that names what is wrong and the fix. Only the command lines
(``workbench ...`` and ``labs/*.py``) turn it into a printed line and a non-zero exit, so a
notebook or a test calling the same code gets an ordinary exception it can catch, and a real bug
(any other exception) still shows its traceback.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Bad input or a missing piece of set-up; ``str(error)`` says what and how to fix it."""


class OptionError(WorkbenchError, ValueError):
    """A lab option, config file or sweep point that cannot be used."""
