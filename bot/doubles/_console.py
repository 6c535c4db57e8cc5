"""Console edits: what a person clicking in a plane's console does to EUCORA's objects.

Every plane double offers the same small control API for the drift tests (issue 17)::

    double.console_edit("google-chrome", ConsoleEdit.ASSIGNMENT, group=lab, value="available")
    double.console_revert()   # everything the edits changed is as it was before the first one

The kinds are the drifts ``bot.core.drift`` names: the version replaced, a group's assignment
intent changed, a ring's group removed, an extra group assigned, the object deleted, the marker
stripped. A plane that cannot hold an edit (Landscape keeps no assignment intent, an AWX job's
launch vars cannot be edited) refuses it with :class:`ConsoleEditError`, naming why.
"""

from __future__ import annotations

import copy
import threading
from enum import StrEnum
from typing import Any


class ConsoleEdit(StrEnum):
    """The kinds of console edit (``value``/``group`` say what each one needs)."""

    VERSION = "version"  # value: the new version
    ASSIGNMENT = "assignment"  # group, value: required / available / uninstall
    REMOVE_GROUP = "remove-group"  # group
    ADD_GROUP = "add-group"  # group, value: its assignment intent
    DELETE = "delete"  # the intent's object(s)
    STRIP_MARKER = "strip-marker"  # the EUCORA marker taken off the object


class ConsoleEditError(ValueError):
    """The plane cannot hold that edit (the message says why)."""


class ConsoleEdits:
    """Mixin: :meth:`console_edit` and :meth:`console_revert` over the double's own state.

    A double names the attributes holding its objects (``_console_fields``) and implements
    ``_console_apply``; the first edit keeps a deep copy of those attributes for the revert.
    """

    _console_fields: tuple[str, ...] = ()
    _console_saved: dict[str, Any] | None = None
    lock: threading.RLock

    def console_edit(
        self, intent: str, kind: ConsoleEdit, *, group: str = "", value: str = ""
    ) -> None:
        """Change the plane's objects of ``intent`` as a person in the console would."""
        with self.lock:
            if self._console_saved is None:
                # one deep copy of them all: objects they share stay shared (an AWX job's template)
                self._console_saved = copy.deepcopy(
                    {name: getattr(self, name) for name in self._console_fields}
                )
            self._console_apply(intent, ConsoleEdit(kind), group, value)

    def console_revert(self) -> None:
        """Undo every console edit since the first one (no-op when there was none)."""
        with self.lock:
            saved = self._console_saved
            if saved is None:
                return
            for name, value in saved.items():
                setattr(self, name, value)
            self._console_saved = None

    def _console_apply(self, intent: str, kind: ConsoleEdit, group: str, value: str) -> None:
        raise NotImplementedError  # pragma: no cover - each double implements it

    @staticmethod
    def refuse(plane: str, kind: ConsoleEdit, why: str) -> ConsoleEditError:
        """The error for an edit the plane cannot hold."""
        return ConsoleEditError(f"{plane}: a console cannot {kind.value}: {why}")
