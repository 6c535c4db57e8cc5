"""Console edits on the plane doubles: refused where the plane cannot hold them, reverted whole."""

from __future__ import annotations

import pytest

from bot.doubles._console import ConsoleEdit, ConsoleEditError
from bot.doubles.awx import AwxDouble
from bot.doubles.landscape import LandscapeDouble, Script


def script(identifier: int, title: str) -> Script:
    return Script(id=identifier, title=title, code="#!/bin/sh\n", time_limit=300, username=None)


def test_landscape_refuses_an_assignment_edit_it_cannot_hold() -> None:
    double = LandscapeDouble()
    double.scripts[1] = script(1, "eucora osquery-linux 5.14.2-1 lab [0123456789ab]")
    with pytest.raises(ConsoleEditError, match="holds no assignment"):
        double.console_edit("osquery-linux", ConsoleEdit.ASSIGNMENT, group="euc-lab", value="x")


def test_an_edit_of_an_intent_the_plane_does_not_hold_is_refused() -> None:
    with pytest.raises(ConsoleEditError, match="no job of cis"):
        AwxDouble().console_edit("cis", ConsoleEdit.ADD_GROUP, group="g", value="required")


def test_revert_puts_back_what_every_edit_changed() -> None:
    double = LandscapeDouble()
    double.console_revert()  # nothing edited yet: nothing to do
    double.scripts[1] = script(1, "eucora osquery-linux 5.14.2-1 lab [0123456789ab]")
    double.scripts[2] = script(2, "eucora osquery-linux 5.14.2-1 pilot [ba9876543210]")
    double.console_edit("osquery-linux", ConsoleEdit.VERSION, value="9.9.9")
    assert {s.title.split()[2] for s in double.scripts.values()} == {"9.9.9"}
    double.console_edit("osquery-linux", ConsoleEdit.DELETE)
    assert double.scripts == {}
    double.console_revert()
    assert sorted(s.title for s in double.scripts.values()) == [
        "eucora osquery-linux 5.14.2-1 lab [0123456789ab]",
        "eucora osquery-linux 5.14.2-1 pilot [ba9876543210]",
    ]
