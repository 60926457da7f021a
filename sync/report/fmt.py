"""Numbers as a sales manager reads them: money with its symbol, shares as percentages."""

from __future__ import annotations

__all__ = ["count", "money", "pct", "points"]

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥", "INR": "₹", "KRW": "₩"}
_NO_CENTS = {"JPY", "KRW"}


def money(amount: float | None, currency: str | None, *, compact: bool = False) -> str:
    """``$1,234``, ``¥1.2M`` (``compact``), ``1,234 CHF``; an unknown amount is "–"."""
    if amount is None:
        return "–"
    sign = "−" if amount < 0 else ""
    value = abs(amount)
    if compact and value >= 1_000_000:
        text = f"{value / 1_000_000:,.1f}M"
    elif compact and value >= 10_000:
        text = f"{value / 1_000:,.{0 if value >= 100_000 else 1}f}k"
    else:
        text = f"{value:,.0f}" if currency in _NO_CENTS or value >= 100 or compact else f"{value:,.2f}"
    symbol = _SYMBOLS.get(currency or "")
    if symbol:
        return f"{sign}{symbol}{text}"
    return f"{sign}{text} {currency}" if currency else f"{sign}{text}"


def pct(share: float | None, digits: int = 1) -> str:
    """0.9712 → "97.1 %"; unknown → "–"."""
    return "–" if share is None else f"{share * 100:.{digits}f} %"


def points(diff: float | None) -> str:
    """A difference of two rates in percentage points: 0.043 → "+4.3 pts"."""
    return "–" if diff is None else f"{diff * 100:+.1f} pts".replace("-", "−")


def count(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"
