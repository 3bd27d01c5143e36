from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edged.gate.events import Direction
from edged.gate.inputs import report_states, rising_edges

SENSORS: dict[Direction, int] = {"in": 0, "out": 3}


def test_report_bytes_map_to_wired_sensors() -> None:
    assert report_states(bytes([1, 0, 0, 0]), SENSORS) == {"in": True, "out": False}
    assert report_states(bytes([0, 1, 1, 2]), SENSORS) == {"in": False, "out": True}
    assert report_states(b"\x01", SENSORS) == {"in": True, "out": False}  # short report: missing = inactive
    assert report_states(None, SENSORS) is None
    assert report_states("1000", SENSORS) is None


def test_only_rising_edges_count() -> None:
    assert rising_edges(None, {"in": True, "out": True}) == []  # unknown baseline: a beam already broken
    assert rising_edges({"in": False, "out": True}, {"in": True, "out": True}) == ["in"]
    assert rising_edges({"in": True, "out": False}, {"in": False, "out": False}) == []


@settings(deadline=None)
@given(
    st.one_of(st.binary(max_size=64), st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers())),
    st.dictionaries(st.sampled_from(["in", "out"]), st.integers(0, 255)),
)
def test_report_fuzz(report: object, sensors: dict[Direction, int]) -> None:
    states = report_states(report, sensors)
    if not isinstance(report, bytes):
        assert states is None
        return
    assert states is not None and set(states) == set(sensors)
    for direction, number in sensors.items():
        assert states[direction] == (number < len(report) and report[number] != 0)


@settings(deadline=None)
@given(st.lists(st.fixed_dictionaries({"in": st.booleans(), "out": st.booleans()}), min_size=1, max_size=30))
def test_edges_count_each_person_once(samples: list[dict[Direction, bool]]) -> None:
    previous: dict[Direction, bool] | None = None
    counted = {"in": 0, "out": 0}
    for state in samples:
        for direction in rising_edges(previous, state):
            counted[direction] += 1
        previous = state
    for direction in ("in", "out"):
        pairs = zip(samples, samples[1:], strict=False)
        expected = sum(1 for a, b in pairs if b[direction] and not a[direction])
        assert counted[direction] == expected
