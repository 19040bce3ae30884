"""Errors of the Twisted bridge, in typhoon's exception tree."""

from __future__ import annotations

__all__ = ["ReactorError"]

from typhoon.errors import TyphoonError


class ReactorError(TyphoonError, RuntimeError):
    """Twisted's reactor cannot be installed (or used) on the event loop asked for.

    Raised when another reactor is already installed in the process, when the asyncio
    reactor is bound to a different event loop, when the loop cannot carry Twisted's
    reactor (it needs a selector event loop; uvloop and the Windows proactor loop
    cannot), or when the reactor was stopped and would have to be started again.
    """
