"""Grant → output timing per driver, each against its real peer over a pty line (``edged bench gate``).

The clock starts just before ``driver.grant`` and stops when the peer has the command: the coil write
at the pymodbus board, the osdp_OUT at the libosdp IO controller, the card read at the libosdp panel,
the open call of the simulated turnstile.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from edged.gate.config import SafetyConfig, SimulatorGateConfig
from edged.gate.driver import GateDriver

DRIVERS = ("simulator", "modbus", "osdp_cp", "osdp_reader")
LINK_UP_TIMEOUT_S = 15.0
PEER_TIMEOUT_S = 3.0
PULSE_S = 0.1


@dataclass(frozen=True)
class GateTiming:
    driver: str
    samples: int
    failures: int
    median_ms: float
    p95_ms: float
    max_ms: float
    baudrate: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


# A probe grants once and returns the peer's receive time (time.perf_counter) or None.
Probe = Callable[[GateDriver, float], "float | None"]


def _safety() -> SafetyConfig:
    return SafetyConfig.model_validate(
        {"heartbeat_timeout_s": None, "passage_timeout_s": 1.0, "default_pulse_s": PULSE_S}
    )


@contextmanager
def _simulator(_baud: int) -> Iterator[tuple[GateDriver, Probe]]:
    from edged.gate.simulator import SimulatorGateDriver

    driver = SimulatorGateDriver(
        SimulatorGateConfig.model_validate({"walk_through": False, "safety": _safety()})
    )

    def probe(d: GateDriver, _t0: float) -> float | None:
        d.grant("in")
        return driver.turnstile.opens[-1].at

    with driver:
        yield driver, probe


@contextmanager
def _modbus(baud: int) -> Iterator[tuple[GateDriver, Probe]]:
    from edged.gate.config import ModbusGateConfig
    from edged.gate.modbus import ModbusGateDriver
    from edged.gate.peers.modbus_board import ModbusIoBoard
    from edged.gate.ptyline import PtyLine

    with PtyLine() as line:
        board = ModbusIoBoard(line.b, slave_id=1, baudrate=baud)
        try:
            config = ModbusGateConfig.model_validate(
                {"serial": {"port": line.a, "baudrate": baud}, "slave_id": 1, "safety": _safety()}
            )
            with ModbusGateDriver(config) as driver:

                def probe(d: GateDriver, t0: float) -> float | None:
                    d.grant("in")
                    at = board.wait_for(config.entry_coil, True, PEER_TIMEOUT_S, since=t0)
                    board.wait_for(config.entry_coil, False, PEER_TIMEOUT_S, since=t0)
                    return at

                yield driver, probe
        finally:
            board.close()


@contextmanager
def _osdp_cp(baud: int) -> Iterator[tuple[GateDriver, Probe]]:
    from edged.gate.config import OsdpCpGateConfig
    from edged.gate.keys import generate_scbk, write_scbk
    from edged.gate.osdp_cp import OsdpControlPanelDriver
    from edged.gate.peers.osdp_devices import OsdpIoController
    from edged.gate.ptyline import PtyLine

    key = generate_scbk()
    with tempfile.TemporaryDirectory() as tmp, PtyLine() as line:
        key_file = Path(tmp) / "scbk"
        write_scbk(key_file, key)
        device = OsdpIoController(line.b, address=1, scbk=key, baudrate=baud)
        try:
            config = OsdpCpGateConfig.model_validate(
                {
                    "serial": {"port": line.a, "baudrate": baud},
                    "address": 1,
                    "scbk": {"file": str(key_file)},
                    "reader_feedback": False,
                    "safety": _safety(),
                }
            )
            with OsdpControlPanelDriver(config) as driver:

                def probe(d: GateDriver, t0: float) -> float | None:
                    d.grant("in")
                    got = device.wait_for(PEER_TIMEOUT_S, t0, command=1, control_code=5)
                    return got.at if got else None

                yield driver, probe
        finally:
            device.close()


@contextmanager
def _osdp_reader(baud: int) -> Iterator[tuple[GateDriver, Probe]]:
    from osdp import Event

    from edged.gate.config import OsdpReaderGateConfig
    from edged.gate.keys import generate_scbk, write_scbk
    from edged.gate.osdp_reader import OsdpReaderGateDriver
    from edged.gate.peers.osdp_devices import OsdpPanel
    from edged.gate.ptyline import PtyLine

    key = generate_scbk()
    with tempfile.TemporaryDirectory() as tmp, PtyLine() as line:
        key_file = Path(tmp) / "scbk"
        write_scbk(key_file, key)
        panel = OsdpPanel(line.b, address=1, scbk=key, baudrate=baud)
        try:
            config = OsdpReaderGateConfig.model_validate(
                {
                    "serial": {"port": line.a, "baudrate": baud},
                    "address": 1,
                    "scbk": {"file": str(key_file)},
                    "safety": _safety(),
                }
            )
            with OsdpReaderGateDriver(config) as driver:

                def probe(d: GateDriver, t0: float) -> float | None:
                    d.grant("in", credential=1234)
                    got = panel.wait_for(PEER_TIMEOUT_S, t0, event=Event.CardRead)
                    return got.at if got else None

                yield driver, probe
        finally:
            panel.close()


SETUPS = {"simulator": _simulator, "modbus": _modbus, "osdp_cp": _osdp_cp, "osdp_reader": _osdp_reader}


def _wait_link(driver: GateDriver) -> bool:
    deadline = time.monotonic() + LINK_UP_TIMEOUT_S
    while time.monotonic() < deadline:
        if driver.health().link_up:
            return True
        time.sleep(0.05)
    return False


def measure(name: str, samples: int, baudrate: int, gap_s: float = 0.15) -> GateTiming:
    """Grant ``samples`` times with ``gap_s`` between them; ``RuntimeError`` when the link never comes up."""
    latencies: list[float] = []
    failures = 0
    with SETUPS[name](baudrate) as (driver, probe):
        if not _wait_link(driver):
            raise RuntimeError(f"{name}: link to the peer did not come up within {LINK_UP_TIMEOUT_S:.0f} s")
        for _ in range(samples):
            t0 = time.perf_counter()
            at = probe(driver, t0)
            if at is None:
                failures += 1
            else:
                latencies.append((at - t0) * 1000.0)
            time.sleep(gap_s)
    if not latencies:
        raise RuntimeError(f"{name}: no grant reached the peer")
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return GateTiming(name, len(latencies), failures, statistics.median(ordered), p95, ordered[-1], baudrate)
