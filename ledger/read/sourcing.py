"""Domestic-sourcing shares per policy x entity x fiscal year, with shortfall and headroom."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np

from ledger.domain.money import format_minor
from ledger.resident import columns as C


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
                terms.append(_domestic_term(lk, p, n_groups))
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
        passed = passes(domestic, total, minimum)

        def show(v):
            if v is None:
                return None
            return format_minor(v, p["currency"]) if p["metric"] == "spend" else str(v)

        return {
            "policy": p["policy"], "entity": entity, "fiscal_year": fy, "metric": p["metric"],
            "basis": p.get("basis") or "chip_origin", "min_share": str(minimum),
            "domestic": show(domestic), "total": show(total),
            "share": None if share is None else f"{share:.4f}",
            "status": "pass" if passed else "fail",
            "shortfall": show(shortfall(domestic, total, minimum)),
            "headroom": show(headroom(domestic, total, minimum)),
            "currency": p["currency"] if p["metric"] == "spend" else None,
        }  # fmt: skip


def _domestic_term(lk, policy: dict, n_groups: int) -> tuple[int, np.ndarray]:
    """The third axis of the roll-up: domestic (n_groups) or not (0) per chip or supplier code.

    Basis `chip_origin` (the default, DESIGN section 3): the chip's origin country is the
    jurisdiction, so an Nvidia H20 bought from a Chinese reseller is not domestic.
    Basis `supplier_hq`: the supplier's HQ is the jurisdiction.
    """
    jurisdiction = C.COUNTRIES.index(policy["jurisdiction"])
    if (policy.get("basis") or "chip_origin") == "supplier_hq":
        return C.SUPPLIER, (lk.supplier_hq == jurisdiction).astype(np.int64) * n_groups
    return C.CHIP, (lk.chip_origin == jurisdiction).astype(np.int64) * n_groups


# Amounts are integers (minor units of the policy currency, units, or TPP); the minimum is
# an exact decimal, so the arithmetic below is on exact fractions, never rounded floats.


def passes(domestic: int, total: int, minimum: Decimal) -> bool:
    """domestic / total >= minimum; with nothing in scope only a minimum of 0 passes."""
    return Fraction(domestic) >= Fraction(minimum) * total if total else minimum == 0


def shortfall(domestic: int, total: int, minimum: Decimal) -> int | None:
    """The least extra domestic amount x (whole units) with (D + x) / (T + x) >= m; 0 when
    passing; None when no amount reaches the minimum (m = 1 with non-domestic lines)."""
    if passes(domestic, total, minimum):
        return 0
    m = Fraction(minimum)
    if m == 1:
        return 1 if domestic == total else None  # only T = D = 0: any domestic unit is 100%
    # D + x >= m (T + x)  <=>  x >= (m T - D) / (1 - m): rounded up, so the amount is enough
    return max(1, math.ceil((m * total - domestic) / (1 - m)))


def headroom(domestic: int, total: int, minimum: Decimal) -> int | None:
    """The most extra non-domestic amount y (whole units) with D / (T + y) >= m; 0 when
    failing; None when any amount keeps the policy passing (m = 0)."""
    if not passes(domestic, total, minimum):
        return 0
    m = Fraction(minimum)
    if m == 0:
        return None
    # D >= m (T + y)  <=>  y <= D / m - T: rounded down, so the amount still passes
    return max(0, math.floor(Fraction(domestic) / m - total))
