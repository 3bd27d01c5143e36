"""``edged enroll``, ``edged gallery keygen|list|erase|reembed|verify`` and ``edged bench gallery``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edged.identity.records import Person, RecordError, utc_now

if TYPE_CHECKING:
    from edged.config.schema import EdgedConfig
    from edged.identity.gallery import Gallery

    Parsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(sub: Parsers, groups: dict[str, Parsers]) -> None:
    enroll = sub.add_parser("enroll", help="enroll a person from photos (or many from a CSV file)")
    _config_arg(enroll)
    who = enroll.add_mutually_exclusive_group(required=True)
    who.add_argument("--id", dest="person_id", help="person id (1-64 letters, digits, _ . @ : -)")
    who.add_argument("--batch", type=Path, help="CSV with columns id,name,photos (';'-separated paths)")
    enroll.add_argument("--name", help="display name")
    enroll.add_argument("--credential", help="card number the access panel knows this person by")
    enroll.add_argument("--group", action="append", default=[], help="group or lane allowed (repeatable)")
    enroll.add_argument("--valid-from", type=_when, help="ISO 8601 date/time (UTC when no zone given)")
    enroll.add_argument("--valid-until", type=_when, help="ISO 8601 date/time")
    enroll.add_argument(
        "--consent-source", required=True, help="how consent was given (e.g. 'signed form 42')"
    )
    enroll.add_argument("--consent-at", type=_when, help="when consent was given (default: now)")
    enroll.add_argument("photos", nargs="*", type=Path, help="photos of the person (one face each)")
    enroll.add_argument("--json", action="store_true")
    enroll.set_defaults(func=_enroll)

    gallery = groups["gallery"]
    keygen = gallery.add_parser("keygen", help="write a new random 32-byte template key (mode 0600)")
    keygen.add_argument("--out", type=Path, required=True)
    keygen.add_argument(
        "--force", action="store_true", help="replace an existing file (old templates are lost)"
    )
    keygen.set_defaults(func=_keygen)

    listing = gallery.add_parser("list", help="enrolled people and template counts")
    _config_arg(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)

    erase = gallery.add_parser("erase", help="remove a person and every template; prints a receipt")
    _config_arg(erase)
    erase.add_argument("person_id")
    erase.add_argument("--json", action="store_true")
    erase.set_defaults(func=_erase)

    re = gallery.add_parser("reembed", help="rebuild templates for the current embedder from kept photos")
    _config_arg(re)
    re.add_argument("--json", action="store_true")
    re.set_defaults(func=_reembed)

    verify = gallery.add_parser(
        "verify", help="open the gallery, rebuild the index and check it against the store"
    )
    _config_arg(verify)
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=_verify)

    bench = groups["bench"].add_parser("gallery", help="1:N search latency and recall on synthetic templates")
    bench.add_argument("--size", type=int, default=100_000)
    bench.add_argument("--dim", type=int, default=512)
    bench.add_argument("--queries", type=int, default=1000)
    bench.add_argument("--index", choices=["auto", "exact", "binary"], default="auto")
    bench.add_argument("--exact-max", type=int, default=None, help="auto: largest gallery searched exactly")
    bench.add_argument("--code-bits", type=int, default=None)
    bench.add_argument("--candidates", type=int, default=None)
    bench.add_argument("--scan-threads", type=int, default=None)
    bench.add_argument(
        "--match-cos", type=float, default=0.6, help="cosine of each query with its planted match"
    )
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument(
        "--store",
        action="store_true",
        help="instead: time writing N encrypted templates and opening the gallery",
    )
    bench.add_argument(
        "--store-dir", type=Path, default=None, help="where --store writes its temporary gallery"
    )
    bench.add_argument(
        "--real",
        metavar="LFW_DIR",
        type=Path,
        help="instead: real LFW faces as queries among synthetic distractors (recall@1, FPIR; bench_real.py)",
    )
    bench.add_argument("--sizes", default="10000,100000", help="with --real: gallery sizes, comma-separated")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=_bench)


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, help="edged.yaml (default: built-in defaults)")


def _when(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date/time: {text!r}") from None


def _fail(message: str) -> int:
    print(f"edged: {message}", file=sys.stderr)
    return 1


def _emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload) if as_json else text)


def _known_errors() -> tuple[type[BaseException], ...]:
    from edged.config.loader import ConfigError
    from edged.identity.crypto import IntegrityError, TemplateKeyError
    from edged.identity.enrollment import EnrollmentError
    from edged.identity.gallery import GalleryIntegrityError
    from edged.identity.index import IndexInputError
    from edged.identity.store import StoreError
    from edged.models import ModelError
    from edged.vision.engines import EngineError
    from edged.vision.image_io import ImageError

    return (
        ConfigError, TemplateKeyError, IntegrityError, EnrollmentError, GalleryIntegrityError,
        IndexInputError, StoreError, ModelError, EngineError, ImageError, RecordError, OSError,
    )  # fmt: skip


def _guarded(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except _known_errors() as exc:
            return _fail(str(exc).replace("\n", "; "))

    return run


def _load(args: argparse.Namespace) -> EdgedConfig:
    from edged.config.schema import load_config

    return load_config(args.config)


def _open_gallery(cfg: EdgedConfig) -> Gallery:
    from edged.identity.gallery import Gallery

    return Gallery.from_config(cfg)


@_guarded
def _enroll(args: argparse.Namespace) -> int:
    from edged.identity.enrollment import Enroller, EnrollmentError
    from edged.identity.store import DuplicatePersonError
    from edged.vision.image_io import check_image_file
    from edged.vision.pipeline import FacePipeline

    cfg = _load(args)
    if args.batch is None:
        if not args.name or not args.photos:
            return _fail("enroll: --name and at least one PHOTO are needed with --id")
        for photo in args.photos:  # a bad photo is refused in one line before the models load
            check_image_file(photo)
        requests = [(_person_from_args(args), list(args.photos))]
    else:
        if args.photos or args.name:
            return _fail("enroll: --batch takes no --name or PHOTO arguments")
        requests = _read_batch(args.batch, args.consent_source, args.consent_at)
    with _open_gallery(cfg) as gallery:
        enroller = Enroller(FacePipeline.from_config(cfg), gallery, cfg.identity.enrollment)
        results: list[dict[str, Any]] = []
        failed = 0
        for person, photos in requests:
            try:
                done = enroller.enroll(person, photos)
                results.append({"ok": True, **done.to_json()})
                if not args.json:
                    print(f"enrolled {person.person_id} ({person.name}): {len(done.template_ids)} templates")
            except (EnrollmentError, DuplicatePersonError) as exc:
                failed += 1
                checks = [c.to_json() for c in getattr(exc, "checks", [])]
                results.append(
                    {"ok": False, "person_id": person.person_id, "error": str(exc), "photos": checks}
                )
                print(f"edged: {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps({"enrolled": len(requests) - failed, "failed": failed, "results": results}))
    return 1 if failed else 0


def _person_from_args(args: argparse.Namespace) -> Person:
    return Person(
        person_id=args.person_id,
        name=args.name,
        credential=args.credential,
        groups=tuple(args.group),
        valid_from=args.valid_from,
        valid_until=args.valid_until,
        consent_at=args.consent_at or utc_now(),
        consent_source=args.consent_source,
    )


def _read_batch(
    path: Path, consent_source: str, consent_at: datetime | None
) -> list[tuple[Person, list[Path]]]:
    """Rows ``id,name,photos`` (+ optional credential, groups, valid_from, valid_until); photo paths are
    relative to the CSV file. Every row is checked before anyone is enrolled."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"id", "name", "photos"} - set(reader.fieldnames or [])
        if missing:
            raise RecordError(f"{path}: header lacks column(s) {', '.join(sorted(missing))}")
        out: list[tuple[Person, list[Path]]] = []
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            try:
                pid = (row.get("id") or "").strip()
                if pid in seen:
                    raise RecordError(f"id {pid!r} appears twice in the file")
                seen.add(pid)
                photos = [path.parent / p.strip() for p in (row.get("photos") or "").split(";") if p.strip()]
                if not photos:
                    raise RecordError("no photos")
                person = Person(
                    person_id=pid,
                    name=(row.get("name") or "").strip(),
                    credential=(row.get("credential") or "").strip() or None,
                    groups=tuple(g.strip() for g in (row.get("groups") or "").split(";") if g.strip()),
                    valid_from=_optional_when(row.get("valid_from")),
                    valid_until=_optional_when(row.get("valid_until")),
                    consent_at=consent_at or utc_now(),
                    consent_source=consent_source,
                )
            except (RecordError, ValueError) as exc:
                raise RecordError(f"{path}:{line}: {exc}") from None
            out.append((person, photos))
    return out


def _optional_when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.strip()) if text and text.strip() else None


@_guarded
def _keygen(args: argparse.Namespace) -> int:
    from edged.identity.crypto import write_new_key

    try:
        write_new_key(args.out, overwrite=args.force)
    except FileExistsError:
        return _fail(
            f"{args.out} exists; pass --force to replace it (templates under the old key become unreadable)"
        )
    print(f"wrote a new 32-byte template key to {args.out} (mode 0600)", file=sys.stderr)
    return 0


@_guarded
def _list(args: argparse.Namespace) -> int:
    cfg = _load(args)
    with _open_gallery(cfg) as gallery:
        people = gallery.store.list_people()
        counts = {f"{t.model_id}@{t.version}": n for t, n in gallery.store.template_counts().items()}
        payload = {"people": [p.to_json() for p in people], "templates": counts, "index": gallery.index.kind}
    lines = [f"{p.person_id}\t{p.name}\t{p.credential or ''}\t{','.join(p.groups)}" for p in people]
    _emit(args.json, payload, "\n".join(lines + [f"{len(people)} people; templates {counts}"]))
    return 0


@_guarded
def _erase(args: argparse.Namespace) -> int:
    from edged.identity.store import UnknownPersonError

    cfg = _load(args)
    with _open_gallery(cfg) as gallery:
        try:
            receipt = gallery.erase(args.person_id)
        except UnknownPersonError as exc:
            return _fail(str(exc))
    payload = receipt.to_json()
    text = (
        f"erased {receipt.person_id} at {payload['erased_at']}: {receipt.templates_removed} templates, "
        f"{receipt.photos_removed} photos, {receipt.index_entries_removed} index entries; "
        + ("file compacted" if receipt.storage_compacted else "a reader held the WAL: it is emptied at close")
    )
    _emit(args.json, payload, text)
    return 0


@_guarded
def _reembed(args: argparse.Namespace) -> int:
    from edged.identity.enrollment import reembed
    from edged.vision.pipeline import FacePipeline

    cfg = _load(args)
    with _open_gallery(cfg) as gallery:
        report = reembed(gallery, FacePipeline.from_config(cfg))
    text = (
        f"re-embedded {len(report.reembedded)}, up to date {len(report.up_to_date)}, "
        f"need re-enrollment (no kept photos) {len(report.need_reenrollment)}, failed {len(report.failed)}"
    )
    _emit(args.json, report.to_json(), text)
    return 1 if report.need_reenrollment or report.failed else 0


@_guarded
def _verify(args: argparse.Namespace) -> int:
    from edged.identity.gallery import Gallery, GalleryIntegrityError, embedder_tag

    cfg = _load(args)
    try:
        gallery = Gallery.open(cfg.identity, embedder_tag(cfg.vision), verify=False)
    except GalleryIntegrityError as exc:
        return _fail(str(exc))
    with gallery:
        report = gallery.verify(gallery.last_verify)
    text = (
        f"{'ok' if report.ok else 'PROBLEMS'}: {report.templates_in_index} templates indexed"
        f" ({report.index_kind}),"
        f" {report.self_check_hits}/{report.self_checks} self-checks, built in {report.build_s:.2f} s"
        + "".join(f"\n  {p}" for p in report.problems)
    )
    _emit(args.json, report.to_json(), text)
    return 0 if report.ok else 1


@_guarded
def _bench(args: argparse.Namespace) -> int:
    from edged.identity.bench import run, run_store

    if args.real is not None:
        from edged.identity.bench_real import bench_real_command

        return bench_real_command(args)
    from edged.identity.config import IndexConfig

    overrides = {
        k: v
        for k, v in (
            ("exact_max", args.exact_max),
            ("code_bits", args.code_bits),
            ("candidates", args.candidates),
            ("scan_threads", args.scan_threads),
        )
        if v is not None
    }
    try:
        config = IndexConfig(type=args.index, **overrides)
        if args.store:
            result = run_store(args.size, args.dim, config, args.seed, args.store_dir)
        else:
            result = run(args.size, args.dim, args.queries, config, args.match_cos, args.seed)
    except ValueError as exc:
        return _fail(f"bench gallery: {exc}".replace("\n", "; "))
    text = "\n".join(f"{k}: {v}" for k, v in result.items())
    _emit(args.json, result, text)
    return 0
