"""How a published number is rounded, written once for every output that shows one: the site (``site/fmt.py``),
the edition's CSV and workbook (``snapshot/cells.py``). The same value gives the same figure everywhere: rounded
half away from zero to the publisher's decimals, after being read at 12 significant digits so that binary noise
never decides a rounding."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal

#: significant digits a float keeps where no precision is known: enough for any published figure, and the
#: binary noise of a computation (10.200000000000003) never shows
SIGNIFICANT_DIGITS = 12
#: more digits than any value needs: Decimal arithmetic here never rounds by accident
_DECIMAL_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP)


def rounded(value: float | Decimal, decimals: int | None = None) -> Decimal | None:
    """``value`` as the publisher writes it: rounded half away from zero to ``decimals`` (e.g. the catalogue's
    ``dim_indicateur.decimales``), or without a known precision to its shortest form at 12 significant digits
    (a whole number below 10^15 keeps every digit); None for NULL, NaN and infinities. The value is first read
    at 12 significant digits, so that binary noise never decides a rounding (2.4499999999999997 is 2.45, which
    rounds to 2.5)."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        if value.is_integer() and abs(value) < 1e15:  # a count or an amount: every digit, exactly
            d = Decimal(int(value))
        else:
            d = Decimal(f"{value:.{SIGNIFICANT_DIGITS}g}")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            return None
        d = value
    else:
        d = Decimal(value)
    if decimals is not None:
        d = d.quantize(Decimal(1).scaleb(-int(decimals)), context=_DECIMAL_CONTEXT)
    if d.is_zero():
        return Decimal(0)  # never "-0"
    return d
