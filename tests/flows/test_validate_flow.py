"""The validate flow's pause of the cyclic garbage collector (``paused_garbage_collection``)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot.flows.validate import paused_garbage_collection


class Node:
    """An object that can sit in a reference cycle and be watched by a weak reference."""

    def __init__(self) -> None:
        self.other: object = None


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if not was:
            gc.disable()


@pytest.mark.usefixtures("collector_on")
def test_the_batch_leaves_no_young_collection_behind() -> None:
    """What was built in the pause is moved to the oldest generation, not walked on the way out."""
    with paused_garbage_collection():
        assert not gc.isenabled()
        kept = [{"n": [i]} for i in range(20_000)]
        assert gc.get_count()[0] > 20_000  # the young generation's count, held while paused
    assert gc.isenabled()
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(kept) in oldest
    assert id(kept[-1]) in oldest


@pytest.mark.usefixtures("collector_on")
def test_a_cycle_built_in_the_pause_is_still_collected() -> None:
    with paused_garbage_collection():
        a, b = Node(), Node()
        a.other, b.other = b, a
        watch = weakref.ref(a)
        del a, b
    assert watch() is not None
    gc.collect()
    assert watch() is None


def test_a_collector_switched_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with paused_garbage_collection():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
