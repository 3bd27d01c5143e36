from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged.gate.credential import LAYOUTS, Credential, CredentialError, decode_wiegand, encode_wiegand

FORMATS = sorted(LAYOUTS)


def bits_of(frame_data: bytes, bit_length: int) -> str:
    value = int.from_bytes(frame_data, "big") >> (len(frame_data) * 8 - bit_length)
    return format(value, f"0{bit_length}b")


def test_h10301_reference_frame() -> None:
    # facility 1, card 1: leading even parity covers one set bit -> 1; trailing odd parity covers one -> 0
    frame = encode_wiegand("wiegand26", 1, 1)
    assert frame.bit_length == 26
    assert bits_of(frame.data, 26) == "1" + "00000001" + "0000000000000001" + "0"


def test_padding_is_zero_and_bytes_are_whole() -> None:
    frame = encode_wiegand("wiegand26", 255, 65535)
    assert len(frame.data) == 4
    assert frame.data[-1] & 0b111111 == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_values_that_do_not_fit_are_refused(fmt: str) -> None:
    layout = LAYOUTS[fmt]
    with pytest.raises(CredentialError, match="card number"):
        encode_wiegand(fmt, 0, 1 << layout.card_bits)
    with pytest.raises(CredentialError, match="facility code"):
        encode_wiegand(fmt, 1 << layout.facility_bits, 0)
    with pytest.raises(CredentialError):
        encode_wiegand(fmt, 0, -1)


def test_unknown_format_is_named() -> None:
    with pytest.raises(CredentialError, match="unknown credential format 'wiegand99'"):
        encode_wiegand("wiegand99", 0, 0)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(st.sampled_from(FORMATS), st.data())
def test_round_trip(fmt: str, data: st.DataObject) -> None:
    layout = LAYOUTS[fmt]
    facility = data.draw(st.integers(0, (1 << layout.facility_bits) - 1))
    card = data.draw(st.integers(0, (1 << layout.card_bits) - 1))
    frame = encode_wiegand(fmt, facility, card)
    assert decode_wiegand(fmt, frame.data, frame.bit_length) == Credential(facility, card)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(st.sampled_from(FORMATS), st.data())
def test_any_single_bit_error_is_detected(fmt: str, data: st.DataObject) -> None:
    layout = LAYOUTS[fmt]
    frame = encode_wiegand(
        fmt,
        data.draw(st.integers(0, (1 << layout.facility_bits) - 1)),
        data.draw(st.integers(0, (1 << layout.card_bits) - 1)),
    )
    bit = data.draw(st.integers(0, len(frame.data) * 8 - 1))
    value = int.from_bytes(frame.data, "big") ^ (1 << bit)
    with pytest.raises(CredentialError):
        decode_wiegand(fmt, value.to_bytes(len(frame.data), "big"), frame.bit_length)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(st.text(max_size=12), st.binary(max_size=40), st.integers(-1000, 1000))
def test_decoder_fuzz_raises_only_credential_error(fmt: str, data: bytes, bit_length: int) -> None:
    try:
        result = decode_wiegand(fmt, data, bit_length)
    except CredentialError:
        return
    assert isinstance(result, Credential)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(st.sampled_from(FORMATS), st.binary(min_size=1, max_size=8), st.integers(0, 64))
def test_decoder_fuzz_known_formats(fmt: str, data: bytes, bit_length: int) -> None:
    try:
        cred = decode_wiegand(fmt, data, bit_length)
    except CredentialError:
        return
    # whatever it accepts must be exactly what the encoder would have produced
    assert encode_wiegand(fmt, cred.facility_code, cred.card_number).data == data
