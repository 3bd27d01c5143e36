from __future__ import annotations

import numpy as np

from edged.track import IouTracker, iou
from edged.vision.faces import Face, Quality

FRAME = np.zeros((10, 10, 3), np.uint8)


def face(x: float, y: float, w: float = 60.0, sharp: float = 200.0, ok: bool = True) -> Face:
    q = Quality(face_px=w, sharpness=sharp, yaw_deg=0.0, pitch_deg=0.0, reasons=[] if ok else ["blurry"])
    return Face(box=np.array([x, y, x + w, y + w], np.float32), score=0.99, quality=q)


def test_iou() -> None:
    a = np.array([0, 0, 10, 10], np.float32)
    assert iou(a, a) == 1.0
    assert iou(a, np.array([5, 0, 15, 10], np.float32)) == 50 / 150
    assert iou(a, np.array([20, 20, 30, 30], np.float32)) == 0.0


def test_two_people_keep_their_tracks_while_walking() -> None:
    tr = IouTracker()
    ids = None
    for i in range(10):
        seen, ended = tr.update([face(100 + 4 * i, 50), face(400 - 4 * i, 80)], FRAME, i * 0.05, i)
        now = sorted((int(t.box[0]), t.id) for t in seen)
        if ids is None:
            ids = [tid for _, tid in now]
        assert [tid for _, tid in now] == ids and ended == []
    assert len(tr.tracks) == 2


def test_a_fast_approach_stays_one_track_by_centre_distance() -> None:
    tr = IouTracker(iou_threshold=0.3)
    tr.update([face(100, 100, w=60)], FRAME, 0.0, 0)
    seen, _ = tr.update([face(85, 95, w=95)], FRAME, 0.05, 1)  # grew fast: IoU < 0.3, same centre area
    assert len(tr.tracks) == 1 and seen[0].hits == 2


def test_track_ends_after_max_misses() -> None:
    tr = IouTracker(max_misses=2)
    tr.update([face(0, 0)], FRAME, 0.0, 0)
    assert tr.update([], FRAME, 0.1, 1)[1] == []
    assert tr.update([], FRAME, 0.2, 2)[1] == []
    ended = tr.update([], FRAME, 0.3, 3)[1]
    assert len(ended) == 1 and not tr.tracks


def test_best_frames_and_first_usable_time() -> None:
    tr = IouTracker(keep_best=2)
    tr.update([face(0, 0, sharp=10, ok=False)], FRAME, 0.0, 0)
    (t,), _ = tr.update([face(1, 0, sharp=100)], FRAME, 0.1, 1)
    assert t.first_usable == 0.1
    tr.update([face(2, 0, sharp=250)], FRAME, 0.2, 2)
    tr.update([face(3, 0, sharp=50)], FRAME, 0.3, 3)
    assert [o.index for o in t.best] == [2, 1]  # bounded, best first, unusable frame never kept
    cand = t.next_candidate(min_gain=0.05)
    assert cand is not None and cand.index == 2
    t.mark_used(cand)
    assert t.attempts == 1
    assert t.next_candidate(min_gain=0.05) is None  # frame 1 is worse than what was used
    tr.update([face(4, 0, w=70, sharp=300)], FRAME, 0.4, 4)  # much better: worth another attempt
    cand = t.next_candidate(min_gain=0.05)
    assert cand is not None and cand.index == 4


def test_flush_ends_everything() -> None:
    tr = IouTracker()
    tr.update([face(0, 0), face(300, 0)], FRAME, 0.0, 0)
    assert len(tr.flush()) == 2 and not tr.tracks


def test_frames_dropped_between_observations_widen_the_gate() -> None:
    tr = IouTracker(iou_threshold=0.3, max_centre_shift=0.5)
    tr.update([face(100, 100)], FRAME, 0.0, 0)
    tr.update([face(140, 100)], FRAME, 0.15, 3)  # 40 px = 0.67 face widths, but three frames later
    assert len(tr.tracks) == 1
    tr2 = IouTracker(iou_threshold=0.3, max_centre_shift=0.5)
    tr2.update([face(100, 100)], FRAME, 0.0, 0)
    tr2.update([face(140, 100)], FRAME, 0.05, 1)  # the same jump in one frame is another person
    assert len(tr2.tracks) == 2
