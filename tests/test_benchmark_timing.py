"""The benchmarks' timing protocol: rounds with a rotating order and an untimed warm call, and
speed ratios taken within a round (so that a machine that slows down between rounds leaves
them alone)."""
from __future__ import annotations

import pytest

from benchmarks.common import interleaved_rounds, median_ratio


class FakeMachine:
    """A clock that advances only when an implementation works, by that implementation's cost."""

    def __init__(self):
        self.now = 0.0
        self.calls = []

    def clock(self) -> float:
        return self.now

    def impl(self, name: str, cost: float):
        def run(image):
            self.calls.append((name, image))
            self.now += cost
        return run


def test_each_round_warms_then_times_every_implementation_in_a_rotating_order():
    m = FakeMachine()
    impls = {"a": m.impl("a", 1.0), "b": m.impl("b", 3.0), "c": m.impl("c", 2.0)}
    times = interleaved_rounds(impls, ["x", "y"], rounds=3, clock=m.clock)
    assert times == {"a": [1000.0] * 3, "b": [3000.0] * 3, "c": [2000.0] * 3}   # the warm call is not timed
    order = [name for name, image in m.calls if image == "y"][::2]               # each warm call is on "y"
    assert [name for name, _ in m.calls[::3]] == order                           # warm, then both images
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]


def test_ratio_within_rounds_ignores_a_machine_that_slows_down():
    slow, fast = [3.0, 6.0, 12.0, 24.0, 48.0], [1.0, 2.0, 4.0, 8.0, 16.0]
    assert median_ratio(slow, fast) == pytest.approx(3.0)
    # one disturbed round moves the ratio of the medians (3 / 5), not the median of the ratios
    slow, fast = [3.0, 3.0, 15.0], [1.0, 5.0, 5.0]
    assert median_ratio(slow, fast) == pytest.approx(3.0)
