"""``edged events keygen|sign|schemas`` and ``edged bench events``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from edged.cli import print_help_of
from edged.mqtt.topics import COMMAND_NAMES


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]],
) -> None:
    events = sub.add_parser("events", help="event payloads and operator command keys")
    events_sub = events.add_subparsers(dest="events_command", metavar="COMMAND")
    events.set_defaults(func=print_help_of(events))

    keygen = events_sub.add_parser("keygen", help="create an operator's Ed25519 key for signing commands")
    keygen.add_argument("--out", type=Path, required=True, help="private key file to create (mode 0600)")
    keygen.add_argument("--key-id", default="operator", help="name of the key in mqtt.commands.operator_keys")
    keygen.add_argument("--json", action="store_true")
    keygen.set_defaults(func=_keygen)

    sign = events_sub.add_parser("sign", help="print a signed command, ready for mosquitto_pub -s")
    sign.add_argument("--key", type=Path, required=True, help="private key from 'edged events keygen'")
    sign.add_argument("--key-id", default="operator")
    sign.add_argument("--device", required=True, help="device_id of the gate")
    sign.add_argument("command", choices=COMMAND_NAMES)
    sign.add_argument("--args", default="{}", help='arguments as JSON, e.g. \'{"mode": "locked"}\'')
    sign.add_argument("--reply-to", help="response topic (for MQTT 3.1.1 clients)")
    sign.set_defaults(func=_sign)

    schemas = events_sub.add_parser("schemas", help="check or rewrite the JSON Schema files")
    schemas.add_argument("--write", action="store_true", help="regenerate edged/events/schemas/")
    schemas.add_argument("--json", action="store_true")
    schemas.set_defaults(func=_schemas)

    bench = groups["bench"].add_parser("events", help="events per second through outbox + local mosquitto")
    bench.add_argument("--events", type=int, default=5000)
    bench.add_argument("--synchronous", choices=("full", "normal"), default="full", help="SQLite durability")
    bench.add_argument("--inflight", type=int, default=100)
    bench.add_argument("--flood", action="store_true", help="junk commands sent at the gate throughout")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=_bench)

    flood = groups["bench"].add_parser(
        "commands-flood", help="signed commands answered while junk floods the command topics"
    )
    flood.add_argument("--rate", type=float, default=5000, help="junk messages a second (at most 50000)")
    flood.add_argument("--seconds", type=float, default=10.0, help="how long the flood lasts (at most 120)")
    flood.add_argument("--junk", default="mixed", help="mixed, unsigned, not_json, deep, unknown_key, forged")
    flood.add_argument("--every", type=float, default=0.5, help="seconds between signed 'mode locked'")
    flood.add_argument("--json", action="store_true")
    flood.set_defaults(func=_bench_flood)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _keygen(args: argparse.Namespace) -> int:
    from edged.mqtt.signing import generate_private_key_pem, load_private_key, public_key_b64

    pem = generate_private_key_pem()
    try:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _fail(f"{args.out} exists; refusing to overwrite a key")
    except OSError as exc:
        return _fail(f"cannot create {args.out}: {exc.strerror}")
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public = public_key_b64(load_private_key(pem))
    if args.json:
        print(json.dumps({"key_id": args.key_id, "public_key": public, "private_key_file": str(args.out)}))
    else:
        print(f"private key written to {args.out} (keep it off the gate)")
        print("add to the gate's edged.yaml:")
        print(f"mqtt:\n  commands:\n    operator_keys:\n      {args.key_id}: {public}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    from edged.mqtt.signing import OperatorKeyError, load_private_key, sign_command

    try:
        command_args: Any = json.loads(args.args)
    except ValueError as exc:
        return _fail(f"--args is not JSON: {exc}")
    if not isinstance(command_args, dict):
        return _fail("--args must be a JSON object")
    try:
        key = load_private_key(args.key.read_bytes())
    except OSError as exc:
        return _fail(f"cannot read {args.key}: {exc.strerror}")
    except OperatorKeyError as exc:
        return _fail(f"{args.key}: {exc}")
    message = sign_command(key, args.key_id, args.command, args.device, command_args, reply_to=args.reply_to)
    print(message.decode())
    return 0


def _schemas(args: argparse.Namespace) -> int:
    from edged.events.schema_files import SCHEMA_DIR, stale, write

    if args.write:
        written = write()
        result: dict[str, Any] = {"written": [p.name for p in written]}
    else:
        result = {"stale": stale(), "directory": str(SCHEMA_DIR)}
    if args.json:
        print(json.dumps(result))
    elif not args.write:
        print("schemas up to date" if not result["stale"] else f"stale: {', '.join(result['stale'])}")
    if not args.write and result["stale"]:
        return 1
    return 0


def _bench(args: argparse.Namespace) -> int:
    from edged.mqtt.bench import run_bench
    from edged.mqtt.localbroker import BrokerError

    if args.events < 1 or args.inflight < 1:
        return _fail("--events and --inflight must be at least 1")
    try:
        result = run_bench(args.events, args.synchronous, args.inflight, args.flood)
    except (BrokerError, RuntimeError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['events']} events: {result['end_to_end_per_s']} events/s end to end "
            f"(outbox append alone {result['append_per_s']}/s, synchronous={result['synchronous']}"
            + (f", {result['flood_commands_per_s']} junk commands/s" if result["flood"] else "")
            + ")"
        )
    return 0


def _bench_flood(args: argparse.Namespace) -> int:
    from edged.mqtt.flood import JUNK_KINDS, MAX_RATE, MAX_SECONDS, run_commands_flood
    from edged.mqtt.localbroker import BrokerError

    if not (0 < args.rate <= MAX_RATE and 0 < args.seconds <= MAX_SECONDS and args.every > 0):
        return _fail(f"--rate 1-{MAX_RATE}, --seconds up to {MAX_SECONDS:g} and --every > 0")
    if args.junk not in JUNK_KINDS:
        return _fail(f"--junk must be one of {', '.join(JUNK_KINDS)}")
    try:
        r = run_commands_flood(args.rate, args.seconds, args.junk, args.every)
    except (BrokerError, RuntimeError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(r))
    else:
        lat = r["signed_latency_ms"]
        print(
            f"{r['junk_sent']} junk commands at {r['junk_sent_per_s']}/s ({r['junk_kind']}): "
            f"{r['signed_answered']}/{r['signed_sent']} signed 'mode locked' answered, "
            f"{r['signed_within_1s']} within 1 s (p50 {lat.get('p50')} ms, max {lat.get('max')} ms); "
            f"{r['events_delivered']}/{r['events_emitted']} events delivered"
        )
    return 0
