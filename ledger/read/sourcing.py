"""Domestic-sourcing shares per policy x entity x fiscal year, with headroom."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING

import numpy as np

from ledger.domain.money import format_minor
from ledger.resident import columns as C

if TYPE_CHECKING:
    pass


class Sourcing:
    """The methods of `Queries` (ledger.read.queries) for this use case."""

    def sourcing(self, fiscal_year: int | None = None, entity: str | None = None) -> dict:
        return self._shared(
            ("sourcing", fiscal_year, entity), lambda: self._sourcing(fiscal_year, entity)
        )

    def _sourcing(self, fiscal_year: int | None, entity: str | None) -> dict:
        rows = []
        with self.cols.lock:
            lk = self.cols.lookups
            arrays = self.cols.view()
            tpp = (
                np.round(lk.chip_tpp).astype(np.int64)
                if len(lk.chip_tpp)
                else np.zeros(1, np.int64)
            )
            for p in lk.policies:
                filters: dict[str, list] = {}
                if p["destinations"] != "*":
                    filters["destination"] = p["destinations"].split(",")
                ent = p["entity"] or entity
                if p["entity"] and entity and p["entity"] != entity:
                    continue
                if ent:
                    filters["entity"] = [ent]
                fy = p["fiscal_year"] or fiscal_year
                if p["fiscal_year"] and fiscal_year and p["fiscal_year"] != fiscal_year:
                    continue
                if fy:
                    filters["fiscal_year"] = [fy]
                terms, labels, strides, n_groups = self._terms(["entity", "fiscal_year"], filters)
                # a third axis: domestic (1) or not (0), from the supplier's HQ
                jurisdiction = C.COUNTRIES.index(p["jurisdiction"])
                domestic = (lk.supplier_hq == jurisdiction).astype(np.int64) * n_groups
                terms.append((C.SUPPLIER, domestic))
                conv = self._conversion([p["currency"]])
                out = self._rollup(
                    arrays, terms, 2 * n_groups, conv, np.zeros(2 * n_groups, np.int64),
                    weight=tpp, kernel="sourcing",
                )  # fmt: skip
                column = {"spend": 2, "units": 1, "tpp": 3}[p["metric"]]
                for g in range(n_groups):
                    dom, foreign = out[n_groups + g], out[g]
                    if dom[0] == 0 and foreign[0] == 0 and dom[1] == 0 and foreign[1] == 0:
                        continue
                    rows.append(
                        self._sourcing_row(
                            p, labels[0][(g // strides[0]) % len(labels[0])],
                            labels[1][(g // strides[1]) % len(labels[1])],
                            int(dom[column]), int(dom[column] + foreign[column]),
                        )
                    )  # fmt: skip
        return {"rows": rows}

    @staticmethod
    def _sourcing_row(p: dict, entity: str, fy: int, domestic: int, total: int) -> dict:
        minimum = Decimal(p["min_share"])
        share = Decimal(domestic) / Decimal(total) if total else None
        passed = total > 0 and Decimal(domestic) >= minimum * Decimal(total)
        # extra domestic x with (D + x) / (T + x) >= m  <=>  x >= (mT - D) / (1 - m)
        need = (minimum * total - domestic) / (1 - minimum) if minimum < 1 else Decimal(0)
        headroom = max(0, int(need.to_integral_value(ROUND_CEILING))) if not passed else 0
        if minimum >= 1 and not passed:
            headroom = None  # no amount of extra domestic reaches 100% with foreign lines present

        def show(v):
            if v is None:
                return None
            return format_minor(v, p["currency"]) if p["metric"] == "spend" else str(v)

        return {
            "policy": p["policy"], "entity": entity, "fiscal_year": fy, "metric": p["metric"],
            "min_share": str(minimum), "domestic": show(domestic), "total": show(total),
            "share": None if share is None else f"{share:.4f}",
            "status": "pass" if passed else "fail", "headroom": show(headroom),
            "currency": p["currency"] if p["metric"] == "spend" else None,
        }  # fmt: skip
