"""The budget guard: checks a feed's candidate entries against committed totals. Mutates nothing.

A `stop` budget that the feed would push over refuses the feed (409
`budget-exceeded`, naming each budget and by how much); a `warn` budget
accepts it with a warning. Only additions count: a feed that lowers a budget
already over (a cancellation) is never refused. The committed totals of the
ledger as it is are kept between feeds (`Committed`), so a check converts the
incoming entries only, not the whole ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ledger.domain.errors import LedgerError
from ledger.domain.money import format_minor
from ledger.resident import bounds
from ledger.resident.columns import DAY

if TYPE_CHECKING:
    from ledger.read.queries import Queries
    from ledger.store.store import Store


@dataclass(frozen=True)
class Committed:
    """Committed minor units per checked budget, at one ledger state."""

    n_entries: int
    generation: int  # the reference generation (budgets, rates) it was computed under
    keys: tuple  # (entity, budget_code, fiscal_year) per budget
    totals: np.ndarray  # int64, in each budget's currency


@dataclass(frozen=True)
class Checked:
    warnings: list[dict]
    after: Committed | None  # the committed totals once this feed is in
    magnitudes_after: dict[str, int]  # per currency, sum |amount| of open lines (bounds.py)
    # the entries as resident arrays (`ResidentColumns.encode`): extend reuses them
    encoded: dict | None = None


def check(reads: Queries, store: Store, entries: pa.Table) -> Checked:
    """Refuse (raise) or accept with warnings; `after` is what committing would make."""
    cols = reads.cols
    with cols.lock:
        encoded = cols.encode(entries, grow=False)  # a dictionary past its codes is a 422 here
        magnitudes = bounds.check(reads.magnitudes(), bounds.feed_delta(entries))
        budgets = [b for b in cols.lookups.budgets if b["action"] != "ignore"]
        if not budgets or not entries.num_rows:
            return Checked([], None, magnitudes, encoded)
        lookups = cols.lookups_covering(store, encoded["codes"][DAY])
        before = reads.committed_totals(budgets)
        delta = reads.budget_committed(encoded, budgets, lookups)
    over, warnings = [], []
    for b, was, add in zip(budgets, before.totals, delta, strict=True):
        after = int(was) + int(add)
        amount = int(b["amount_minor"])
        if add > 0 and after > amount:
            item = _excess(b, int(was), after)
            if b["action"] == "stop":
                over.append(item)
            else:
                warnings.append({"kind": "budget-exceeded", **item})
    if over:
        names = ", ".join(f"{o['entity']}/{o['budget_code']}/{o['fiscal_year']}" for o in over)
        raise LedgerError(
            "budget-exceeded", "The feed would exceed a stop budget",
            f"refused: {names} over by "
            + ", ".join(f"{o['excess']} {o['currency']}" for o in over),
            409, extra={"budgets": over},
        )  # fmt: skip
    # summed as Python ints: an int64 sum could wrap; a total past int64 is not kept (the
    # next check recomputes it, and the roll-up reports it out of range)
    totals = [int(was) + int(add) for was, add in zip(before.totals, delta, strict=True)]
    if any(not -(2**63) <= t < 2**63 for t in totals):
        return Checked(warnings, None, magnitudes, encoded)
    after = Committed(
        before.n_entries + entries.num_rows, before.generation, before.keys,
        np.array(totals, np.int64),
    )  # fmt: skip
    return Checked(warnings, after, magnitudes, encoded)


def _excess(b: dict, was: int, after: int) -> dict:
    amount = int(b["amount_minor"])
    return {
        "entity": b["entity"], "budget_code": b["budget_code"],
        "fiscal_year": b["fiscal_year"], "currency": b["currency"],
        "amount": format_minor(amount, b["currency"]),
        "committed_before": format_minor(was, b["currency"]),
        "committed_after": format_minor(after, b["currency"]),
        "excess": format_minor(after - amount, b["currency"]),
    }  # fmt: skip
