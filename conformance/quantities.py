"""Kubernetes resource quantities as numbers: CPU in millicores, everything else in units. No I/O."""

from __future__ import annotations

from decimal import Decimal

_SUFFIX = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}


def parse(quantity: str) -> Decimal:
    text = str(quantity).strip()
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * Decimal(_SUFFIX[suffix])
    return Decimal(text)


def millicpu(quantity: str) -> int:
    return int(parse(quantity) * 1000)


def as_int(quantity: str) -> int:
    return int(parse(quantity))
