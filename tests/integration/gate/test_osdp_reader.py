"""OSDP reader mode against a real libosdp control panel (the site's access panel) on a pty line."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from osdp import CardFormat, Command, CommandLEDColor, Event

from edged.gate.config import OsdpReaderGateConfig
from edged.gate.credential import Credential, decode_wiegand
from edged.gate.driver import GateError
from edged.gate.keys import generate_scbk, write_scbk
from edged.gate.osdp_reader import OsdpReaderGateDriver
from edged.gate.peers.osdp_devices import OsdpPanel
from edged.gate.ptyline import PtyLine
from tests.integration.gate.conftest import BAUD, WAIT_S, drain, next_event, wait_until

ADDRESS = 12
FACILITY = 77


def config(line: PtyLine, key_file: Path, **overrides: object) -> OsdpReaderGateConfig:
    fields: dict[str, object] = {
        "serial": {"port": line.a, "baudrate": BAUD, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
        "address": ADDRESS,
        "scbk": {"file": str(key_file)},
        "credential": {"format": "wiegand26", "facility_code": FACILITY},
        "safety": {"heartbeat_timeout_s": None},
    }
    fields.update(overrides)
    return OsdpReaderGateConfig.model_validate(fields)


@pytest.fixture
def panel(line: PtyLine, scbk: tuple[bytes, Path]) -> Iterator[OsdpPanel]:
    cp = OsdpPanel(line.b, ADDRESS, scbk[0], baudrate=BAUD)
    yield cp
    cp.close()


@pytest.fixture
def reader(line: PtyLine, scbk: tuple[bytes, Path], panel: OsdpPanel) -> Iterator[OsdpReaderGateDriver]:
    gate = OsdpReaderGateDriver(config(line, scbk[1]))
    gate.start()
    wait_until(lambda: gate.health().link_up and panel.is_secure(), what="secure OSDP session with the panel")
    yield gate
    gate.close()


def card_reads(panel: OsdpPanel) -> list[Credential]:
    reads = panel.matching(event=Event.CardRead)
    return [decode_wiegand("wiegand26", r.message["data"], r.message["length"]) for r in reads]


def test_grant_sends_the_credential_as_a_wiegand_card_read(
    panel: OsdpPanel, reader: OsdpReaderGateDriver
) -> None:
    t0 = time.perf_counter()
    assert reader.grant("in", credential=40123).accepted
    read = panel.wait_for(WAIT_S, t0, event=Event.CardRead)
    assert read is not None
    assert (read.message["format"], read.message["length"]) == (CardFormat.Wiegand, 26)
    assert card_reads(panel) == [Credential(FACILITY, 40123)]


def test_grant_without_or_with_an_unfit_credential_is_refused(
    panel: OsdpPanel, reader: OsdpReaderGateDriver
) -> None:
    with pytest.raises(GateError, match="credential"):
        reader.grant("in")
    with pytest.raises(GateError, match="card number"):
        reader.grant("in", credential=70000)  # wiegand26 holds 16 bits
    time.sleep(0.3)
    assert card_reads(panel) == []


def test_panel_led_and_buzzer_are_obeyed(panel: OsdpPanel, reader: OsdpReaderGateDriver) -> None:
    assert panel.send(
        {
            "command": Command.LED,
            "reader": 0,
            "led_number": 0,
            "control_code": 1,
            "on_count": 10,
            "off_count": 0,
            "on_color": CommandLEDColor.Green,
            "off_color": CommandLEDColor.Black,
            "temporary": False,
        }
    )
    assert next_event(reader, "feedback").detail == "led green"
    assert reader.health().extra["led"] == "green"
    assert panel.send(
        {
            "command": Command.Buzzer,
            "reader": 0,
            "control_code": 2,
            "on_count": 3,
            "off_count": 1,
            "rep_count": 2,
        }
    )
    assert next_event(reader, "feedback").detail == "buzzer on"


def test_wrong_key_never_gets_a_session(line: PtyLine, tmp_path: Path, panel: OsdpPanel) -> None:
    wrong = tmp_path / "wrong"
    write_scbk(wrong, generate_scbk())
    gate = OsdpReaderGateDriver(config(line, wrong))
    with gate:
        wait_until(lambda: "SCBK" in gate.health().last_error, what="the key problem reported")
        time.sleep(1.0)  # more handshakes; none may succeed
        assert not gate.health().link_up and not panel.is_secure()
        result = gate.grant("in", credential=1)
        assert not result.accepted
    assert panel.matching(event=Event.CardRead) == []


def test_port_vanishing_reconnects_without_duplicate_card_read(
    line: PtyLine, panel: OsdpPanel, reader: OsdpReaderGateDriver
) -> None:
    assert reader.grant("in", credential=1001).accepted
    wait_until(lambda: len(card_reads(panel)) == 1, what="first card read")
    line.unplug("a")
    wait_until(lambda: not reader.health().link_up, what="link down")
    assert not reader.grant("in", credential=1002).accepted
    line.replug("a")
    wait_until(lambda: reader.health().link_up, what="session back", timeout=60.0)
    assert reader.grant("in", credential=1003).accepted
    wait_until(lambda: len(card_reads(panel)) >= 2, what="card read after reconnect")
    time.sleep(0.5)
    assert card_reads(panel) == [Credential(FACILITY, 1001), Credential(FACILITY, 1003)]
    kinds = [e.kind for e in drain(reader)]
    assert "link_down" in kinds and "link_up" in kinds


def test_noise_on_the_line_is_survived(line: PtyLine, panel: OsdpPanel, reader: OsdpReaderGateDriver) -> None:
    for chunk in (b"\x53", b"\x53\x0c\xff\xff\x00", bytes(range(256)), b"\xff" * 300):
        line.inject(chunk, to="a")
        line.inject(chunk, to="b")
        time.sleep(0.05)
    line.babble(True)
    time.sleep(1.0)
    reader.grant("in", credential=5)  # may or may not get through; must not raise
    line.babble(False)
    wait_until(lambda: reader.health().link_up, what="session after the noise", timeout=60.0)

    def delivered() -> bool:
        t0 = time.perf_counter()
        return (
            reader.grant("in", credential=6).accepted
            and panel.wait_for(1.0, t0, event=Event.CardRead) is not None
        )

    wait_until(delivered, what="a card read reaching the panel after the noise", timeout=60.0)
    assert all(c.facility_code == FACILITY for c in card_reads(panel))
