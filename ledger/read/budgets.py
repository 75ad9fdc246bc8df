"""Budget status: committed against amount per entity x budget code x fiscal year; and the
committed totals the budget guard checks a feed against."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from ledger.domain.money import format_minor
from ledger.domain.schema import N_FISCAL_YEARS
from ledger.guard import Committed
from ledger.read.dims import (
    _padded,
)
from ledger.resident import columns as C
from ledger.resident.columns import Lookups

if TYPE_CHECKING:
    pass


class Budgets:
    """The methods of `Queries` (ledger.read.queries) for this use case."""

    def committed_totals(self, budgets: list[dict]) -> Committed:
        """Committed totals of these budgets over the resident entries (kept while valid)."""
        keys = tuple((b["entity"], b["budget_code"], b["fiscal_year"]) for b in budgets)
        known = self._committed
        state = (self.cols.n, self._generation, keys)
        if known is None or (known.n_entries, known.generation, known.keys) != state:
            totals = self.budget_committed(self.cols.view(), budgets)
            known = Committed(self.cols.n, self._generation, keys, totals)
            self._committed = known
        return known

    def budget_committed(
        self, arrays: dict, budgets: list[dict], lookups: Lookups | None = None
    ) -> np.ndarray:
        """Committed amount (budget currency minor units) of each budget, from the given entries.

        `arrays` may be a feed not yet committed (`ResidentColumns.encode(grow=False)`): its
        unseen budget codes are past the dictionary, so the term tables are widened to cover
        them (they match no budget)."""
        if not budgets:
            return np.zeros(0, np.int64)
        d = self.cols.dicts
        n_e, n_b, n_f = max(len(d["entity"]), 1), max(len(d["budget_code"]), 1), N_FISCAL_YEARS
        targets = sorted({b["currency"] for b in budgets})
        group_target = np.full(n_e * n_b * n_f, -1, np.int64)
        index = np.zeros(len(budgets), np.int64)
        for k, b in enumerate(budgets):
            e = d["entity"].index.get(b["entity"])
            c = d["budget_code"].index.get(b["budget_code"])
            if e is None or c is None:
                index[k] = -1
                continue
            g = (e * n_b + c) * n_f + (b["fiscal_year"] - C.FY0)
            group_target[g] = targets.index(b["currency"])
            index[k] = g
        terms = [
            (C.ENTITY, _padded(np.arange(n_e, dtype=np.int64) * n_b * n_f, arrays, C.ENTITY)),
            (C.BUDGET, _padded(np.arange(n_b, dtype=np.int64) * n_f, arrays, C.BUDGET)),
            (C.FY, np.arange(n_f, dtype=np.int64)),
        ]
        conv = self._conversion(targets, lookups=lookups)
        out = self._rollup(arrays, terms, n_e * n_b * n_f, conv, group_target, kernel="budgets")
        return np.where(index >= 0, out[np.maximum(index, 0), 2], 0)

    def budgets(self, fiscal_year: int | None = None, entity: str | None = None) -> dict:
        return self._shared(
            ("budgets", fiscal_year, entity), lambda: self._budgets(fiscal_year, entity)
        )

    def _budgets(self, fiscal_year: int | None, entity: str | None) -> dict:
        with self.cols.lock:
            chosen = [
                b for b in self.cols.lookups.budgets
                if (fiscal_year is None or b["fiscal_year"] == fiscal_year)
                and (entity is None or b["entity"] == entity)
            ]  # fmt: skip
            committed = self.budget_committed(self.cols.view(), chosen)
        rows = []
        for b, used in zip(chosen, committed, strict=True):
            amount = int(b["amount_minor"])
            used = int(used)
            share = Decimal(used) / Decimal(amount) if amount else Decimal(0)
            state = (
                "exceeded" if used > amount
                else "warn" if amount and share >= Decimal(b["warn_share"])
                else "ok"
            )  # fmt: skip
            rows.append(
                {
                    "entity": b["entity"], "budget_code": b["budget_code"],
                    "fiscal_year": b["fiscal_year"], "currency": b["currency"],
                    "amount": format_minor(amount, b["currency"]),
                    "committed": format_minor(used, b["currency"]),
                    "remaining": format_minor(amount - used, b["currency"]),
                    "amount_minor": amount, "committed_minor": used,
                    "utilization": f"{share:.4f}", "warn_share": str(b["warn_share"]),
                    "action": b["action"], "state": state,
                }
            )  # fmt: skip
        return {"rows": rows}
