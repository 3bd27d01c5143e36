"""The lane's identity evidence over a track, against a real (encrypted) gallery: fused frames, and a
track that split while the lane was behind handing its evidence to the track that follows it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edged.app_wiring import GallerySearch
from edged.decide.config import PolicyConfig
from edged.decide.lane import Case, LaneController
from edged.decide.policy import Evidence, PolicyEngine
from edged.gate.config import SimulatorGateConfig
from edged.gate.simulator import SimulatorGateDriver
from edged.identity.config import IdentityConfig
from edged.identity.crypto import write_new_key
from edged.identity.gallery import Gallery
from edged.identity.records import NewTemplate, Person, utc_now
from edged.identity.store import ModelTag
from edged.track import Track
from edged.vision.config import VisionConfig

MODEL = ModelTag("test-embedder", "v1")


def near(v: np.ndarray, cos: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(v.shape).astype(np.float32)
    noise -= noise.dot(v) * v
    return cos * v + np.sqrt(1 - cos**2) * noise / np.linalg.norm(noise)


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        self.seen.append((kind, payload))


@pytest.fixture
def gallery(tmp_path: Path) -> Iterator[tuple[Gallery, np.ndarray]]:
    key = tmp_path / "template.key"
    write_new_key(key)
    cfg = IdentityConfig.model_validate(
        {"database": str(tmp_path / "gallery.db"), "template_key": {"file": str(key)}}
    )
    faces = np.random.default_rng(5).standard_normal((3, 512)).astype(np.float32)
    faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    with Gallery.open(cfg, MODEL) as g:
        for i, pid in enumerate(["alice", "bob", "carol"]):
            g.add(
                Person(person_id=pid, name=pid, consent_at=utc_now(), consent_source="test"),
                [NewTemplate(faces[i], masked=False, quality=0.5)],
            )
        yield g, faces


def lane(gallery: Gallery, frames: int) -> tuple[LaneController, Events]:
    vision = VisionConfig.model_validate({"match_threshold": 0.4, "fusion": {"frames": frames}})
    policy = PolicyEngine(PolicyConfig.model_validate({"liveness": {"required": False}}), vision)
    gate = SimulatorGateDriver(SimulatorGateConfig(walk_through=False))
    events = Events()
    controller = LaneController(
        lane="lane-1",
        policy=policy,
        pipeline=None,  # type: ignore[arg-type]  # no frames here: the evidence is fed directly
        gate=gate,
        events=events,
        identity=GallerySearch(gallery),
    )
    return controller, events


def case(lc: LaneController, track_id: int, last_seen: float) -> Case:
    lc.tracker.tracks[track_id] = Track(track_id, np.zeros(4), last_seen, last_seen)
    c = Case(Evidence(lane="lane-1", now=datetime.now(timezone.utc)), usable_at=last_seen)
    lc.cases[track_id] = c
    return c


def test_one_frame_waits_and_two_agreeing_frames_grant(gallery: tuple[Gallery, np.ndarray]) -> None:
    g, faces = gallery
    lc, _ = lane(g, frames=2)
    c = case(lc, 1, 0.0)
    lc._seen = ({1}, 0.0)
    lc._identify(c, near(faces[0], 0.9, seed=1), masked=False)
    assert c.evidence.match is not None and c.evidence.match.agreeing == 1
    assert lc.policy.decide(c.evidence).decision == "pending"  # one lucky frame is not enough
    lc._identify(c, near(faces[0], 0.6, seed=2), masked=False)
    m = c.evidence.match
    assert m is not None and m.person_id == "alice" and m.frames == 2 and m.agreeing == 2
    assert m.runner_up is not None and m.runner_up < 0.2  # bob or carol: another person
    assert lc.policy.decide(c.evidence).decision == "grant"


def test_frames_that_disagree_do_not_confirm(gallery: tuple[Gallery, np.ndarray]) -> None:
    g, faces = gallery
    lc, _ = lane(g, frames=2)
    c = case(lc, 1, 0.0)
    lc._seen = ({1}, 0.0)
    lc._identify(c, near(faces[0], 0.95, seed=1), masked=False)  # alice
    lc._identify(c, near(faces[1], 0.5, seed=3), masked=False)  # this frame finds bob first
    m = c.evidence.match
    assert m is not None and m.person_id == "alice" and m.agreeing == 1
    c.evidence.out_of_time = True
    assert lc.policy.decide(c.evidence).reasons == ("unconfirmed_match",)
    even = case(lc, 2, 0.0)
    noise = np.random.default_rng(4).standard_normal(512).astype(np.float32)
    for f in faces:  # orthogonal to every enrolled face: the two frames pull exactly as hard
        noise -= noise.dot(f) * f
    noise /= np.linalg.norm(noise)
    lc._identify(even, 0.9 * faces[0] + 0.436 * noise, masked=False)
    lc._identify(even, 0.9 * faces[1] + 0.436 * noise, masked=False)  # halfway between alice and bob
    even.evidence.out_of_time = True
    assert lc.policy.decide(even.evidence).reasons == ("ambiguous_match",)


def test_a_split_track_hands_its_evidence_to_the_next(gallery: tuple[Gallery, np.ndarray]) -> None:
    """Track 1 got one frame, then the lane fell behind and the person came back as track 2: track 2
    takes track 1's frame, agrees with it and is granted; track 1 is never decided on its own."""
    g, faces = gallery
    lc, events = lane(g, frames=2)
    old = case(lc, 1, 0.0)
    lc._seen = ({1}, 0.0)
    lc._identify(old, near(faces[0], 0.8, seed=1), masked=False)
    new = case(lc, 2, 1.0)
    lc._seen = ({2}, 1.0)  # track 1 is out of sight in this frame
    lc._identify(new, near(faces[0], 0.8, seed=2), masked=False)
    m = new.evidence.match
    assert m is not None and m.frames == 2 and m.agreeing == 2
    assert new.usable_at == 0.0 and lc.splits == 1 and old.verdict is not None
    lc._ended(lc.tracker.tracks.pop(1))
    assert events.seen == []  # the old track left without a passage event of its own


def test_no_hand_over_to_another_person_or_from_an_ended_track(gallery: tuple[Gallery, np.ndarray]) -> None:
    g, faces = gallery
    lc, _ = lane(g, frames=2)
    old = case(lc, 1, 0.0)
    lc._seen = ({1}, 0.0)
    lc._identify(old, near(faces[0], 0.8, seed=1), masked=False)
    other = case(lc, 2, 0.5)
    lc._seen = ({2}, 0.5)
    lc._identify(other, near(faces[1], 0.8, seed=2), masked=False)  # bob, not alice
    assert other.evidence.match is not None and other.evidence.match.frames == 1
    lc.tracker.tracks.pop(1)  # track 1 ended: the tracker gave up on it
    late = case(lc, 3, 5.0)
    lc._seen = ({3}, 5.0)
    lc._identify(late, near(faces[0], 0.8, seed=4), masked=False)
    assert late.evidence.match is not None and late.evidence.match.frames == 1 and lc.splits == 0
