"""Stored totals stay representable: a feed that would make one unrepresentable is refused.

Every total in a line's own currency, over any grouping, is a plain sum of the
current open lines' amounts in that currency (reversals cancel what they
replace), so its magnitude is at most the sum of |amount_minor| over those
lines. Keeping that sum, per currency, at most 2^63 - 1 keeps every stored
total an int64, whatever a reader groups by. Reporting-currency totals are
checked by the roll-up kernel itself (a 422 naming the currency).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kernels.layout import ACTIVE, CURRENCY
from ledger.domain.errors import LedgerError, RowError
from ledger.domain.money import exact_sum

MAX_TOTAL_MINOR = 2**63 - 1


def active_abs_by_currency(codes: np.ndarray, amount: np.ndarray, flags: np.ndarray) -> dict:
    """Exact sum of |amount_minor| of the active entries, per currency code (Python ints).

    |amount| < 2^50 per line (validated), so it is summed as two int64 halves that
    cannot overflow for fewer than 2^31 lines: low 32 bits and the rest."""
    active = (flags & ACTIVE) != 0
    currency = codes[CURRENCY, : amount.shape[0]][active]
    magnitude = np.abs(amount[active])
    sums = {}
    for code in np.unique(currency):
        sums[int(code)] = exact_sum(magnitude[currency == code])
    return sums


def feed_delta(entries: pa.Table) -> dict[str, int]:
    """How the feed changes the sum of |amount| of current open lines, per currency:
    + each open `line` entry, - each reversal (it retires an open line of that amount).

    Exact (Python ints), vectorised: per currency the additions and the reversals are
    each summed as two int64 halves (`money.exact_sum`); currencies in order of first use."""
    if not entries.num_rows:
        return {}
    reversal = np.asarray(pc.equal(entries["entry_kind"], "reversal"), bool)
    magnitude = np.abs(entries["amount_minor"].to_numpy())
    currency = pc.dictionary_encode(entries["currency"].combine_chunks())
    codes = currency.indices.to_numpy(zero_copy_only=False)
    delta: dict[str, int] = {}
    for code, name in enumerate(currency.dictionary.to_pylist()):
        mine = codes == code
        delta[name] = exact_sum(magnitude[mine & ~reversal]) - exact_sum(magnitude[mine & reversal])
    return delta


def check(before: dict[str, int], delta: dict[str, int]) -> dict[str, int]:
    """The sums after the feed, or 422 `total-out-of-range` naming each currency."""
    after = {c: before.get(c, 0) + d for c, d in delta.items()}
    over = sorted(c for c, v in after.items() if v > MAX_TOTAL_MINOR)
    if over:
        raise LedgerError(
            "total-out-of-range", "The feed would make a total unrepresentable",
            f"the open lines in {', '.join(over)} would sum past 2^63 - 1 minor units; "
            "nothing was written", 422,
            errors=[RowError(None, "amount", f"{c} total out of range") for c in over],
        )  # fmt: skip
    return {**before, **after}
