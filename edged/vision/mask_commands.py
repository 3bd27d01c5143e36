"""``edged eval masks``: the mask classifier on the held-out split of the mask data set."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edged.config import ConfigError
from edged.config.schema import load_config
from edged.models import ModelError
from edged.vision.commands import whole_number
from edged.vision.engines import EngineError
from edged.vision.image_io import ImageError

Sub = argparse._SubParsersAction


def _fail(message: str) -> int:
    print(f"edged: {message}", file=sys.stderr)
    return 1


def cmd_eval_masks(args: argparse.Namespace) -> int:
    from edged.vision.mask import CLASSES, open_classifier
    from edged.vision.masked.dataset import MaskDataError, training_detector
    from edged.vision.masked.mask_eval import evaluate, faces_at_least, held_out_crops

    try:
        cfg = load_config(args.config)
        classifier = open_classifier(cfg.engine, Path(args.model) if args.model else None)
        crops, digest = held_out_crops(
            Path(args.data), training_detector(cfg.models.dir), args.split, classifier.crop_px
        )
        crops = faces_at_least(crops, args.min_face_px)
        result: dict[str, Any] = evaluate(classifier, crops)
    except ConfigError as exc:
        return _fail(f"invalid config:\n{exc}")
    except (ModelError, EngineError, ImageError, MaskDataError) as exc:
        return _fail(str(exc))
    result.update(
        {
            "split": args.split,
            "split_sha256": digest,
            "images": len(set(crops.images)),
            "min_face_px": args.min_face_px,
        }
    )
    if args.json:
        print(json.dumps(result))
        return 0
    recall = ", ".join(
        f"{c} {100 * result['recall'][c]:.1f} %" for c in CLASSES if result["recall"][c] is not None
    )
    print(
        f"mask classifier, {args.split} split: {result['n']} faces"
        + (f" at least {args.min_face_px} px wide" if args.min_face_px else "")
        + f" from {result['images']} images; "
        f"accuracy {100 * result['accuracy']:.2f} %; recall {recall}"
    )
    print("confusion (rows true, columns predicted: " + " / ".join(CLASSES) + ")")
    for c, row in zip(CLASSES, result["confusion"], strict=True):
        print(f"  {c:10s} " + " ".join(f"{v:5d}" for v in row))
    return 0


def register(sub: Sub, groups: dict[str, Sub]) -> None:
    p = groups["eval"].add_parser("masks", help="mask classifier on the held-out split of the mask data set")
    p.add_argument("--data", required=True, help="face_mask_detection_853 folder (annotations/ and images/)")
    p.add_argument("--split", choices=("test", "val", "train"), default="test")
    p.add_argument(
        "--min-face-px",
        type=whole_number(0, unit=" of pixels"),
        default=0,
        metavar="N",
        help="only faces whose annotated box is at least N px wide (a gate's detector drops smaller ones; "
        "vision.detector.min_face_px, 40 by default). Default 0: every face",
    )
    p.add_argument("--model", help="another mask_classifier.onnx (with MASK_MODEL_CARD.md beside it)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--config", "-c", metavar="FILE", help="edged.yaml (default: built-in defaults)")
    p.set_defaults(func=cmd_eval_masks)
