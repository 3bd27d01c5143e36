"""Credential numbers as Wiegand bit strings, the form an access panel expects from a reader.

Formats (HID names): ``wiegand26`` (H10301: 8-bit facility, 16-bit card), ``wiegand34`` (H10306:
16-bit facility, 16-bit card), ``wiegand37`` (H10304: 16-bit facility, 19-bit card). Each frame is
``even parity | facility | card | odd parity``; the leading parity bit covers the first half of the
data bits, the trailing one the second half. Bits travel most significant first, packed into bytes
with zero padding at the end, the way OSDP ``osdp_RAW`` card data carries them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

WiegandFormat = Literal["wiegand26", "wiegand34", "wiegand37"]


class CredentialError(ValueError):
    """A credential that cannot be encoded, or card data that is not a valid frame."""


@dataclass(frozen=True)
class WiegandLayout:
    facility_bits: int
    card_bits: int

    @property
    def bit_length(self) -> int:
        return self.facility_bits + self.card_bits + 2


LAYOUTS: dict[str, WiegandLayout] = {
    "wiegand26": WiegandLayout(facility_bits=8, card_bits=16),
    "wiegand34": WiegandLayout(facility_bits=16, card_bits=16),
    "wiegand37": WiegandLayout(facility_bits=16, card_bits=19),
}


@dataclass(frozen=True)
class WiegandFrame:
    """Card data as sent on the wire: ``bit_length`` bits in ``data`` (MSB first, zero padded)."""

    data: bytes
    bit_length: int


@dataclass(frozen=True)
class Credential:
    facility_code: int
    card_number: int


def _layout(fmt: str) -> WiegandLayout:
    try:
        return LAYOUTS[fmt]
    except KeyError:
        raise CredentialError(f"unknown credential format {fmt!r} (known: {', '.join(LAYOUTS)})") from None


def _parity_halves(data_bits: int, data_len: int) -> tuple[int, int]:
    """Number of set bits in the first and the second half of the data bits."""
    first = (data_len + 1) // 2
    second = data_len - first
    high = data_bits >> second
    low = data_bits & ((1 << second) - 1)
    return bin(high).count("1"), bin(low).count("1")


def encode_wiegand(fmt: str, facility_code: int, card_number: int) -> WiegandFrame:
    layout = _layout(fmt)
    if not 0 <= facility_code < (1 << layout.facility_bits):
        raise CredentialError(
            f"facility code {facility_code} does not fit {fmt} (0..{(1 << layout.facility_bits) - 1})"
        )
    if not 0 <= card_number < (1 << layout.card_bits):
        raise CredentialError(
            f"card number {card_number} does not fit {fmt} (0..{(1 << layout.card_bits) - 1})"
        )
    data_len = layout.facility_bits + layout.card_bits
    data_bits = (facility_code << layout.card_bits) | card_number
    ones_first, ones_second = _parity_halves(data_bits, data_len)
    even = ones_first % 2
    odd = 1 - ones_second % 2
    frame = (even << (data_len + 1)) | (data_bits << 1) | odd
    n_bytes = (layout.bit_length + 7) // 8
    padded = frame << (n_bytes * 8 - layout.bit_length)
    return WiegandFrame(data=padded.to_bytes(n_bytes, "big"), bit_length=layout.bit_length)


def decode_wiegand(fmt: str, data: bytes, bit_length: int) -> Credential:
    """Parse card data received from a reader; any malformed input raises ``CredentialError``."""
    layout = _layout(fmt)
    if bit_length != layout.bit_length:
        raise CredentialError(f"{fmt} needs {layout.bit_length} bits, got {bit_length}")
    n_bytes = (bit_length + 7) // 8
    if len(data) != n_bytes:
        raise CredentialError(f"{fmt} needs {n_bytes} bytes of card data, got {len(data)}")
    value = int.from_bytes(data, "big")
    pad = n_bytes * 8 - bit_length
    if value & ((1 << pad) - 1):
        raise CredentialError("padding bits after the frame are not zero")
    frame = value >> pad
    data_len = bit_length - 2
    data_bits = (frame >> 1) & ((1 << data_len) - 1)
    ones_first, ones_second = _parity_halves(data_bits, data_len)
    if (frame >> (data_len + 1)) != ones_first % 2:
        raise CredentialError("leading (even) parity bit is wrong")
    if (frame & 1) != 1 - ones_second % 2:
        raise CredentialError("trailing (odd) parity bit is wrong")
    return Credential(
        facility_code=data_bits >> layout.card_bits, card_number=data_bits & ((1 << layout.card_bits) - 1)
    )
