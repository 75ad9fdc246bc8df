"""Use cases over the resident columns: totals, budgets, sourcing, compliance.

Each answer is JSON-ready (decimal strings for money, with minor units beside
them) and comes from the kernels; the CLI and the API both call these.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from kernels import dispatch
from kernels.layout import ERR_OUT_OF_RANGE, ERR_SLOTS, out_of_range_columns
from ledger.domain.errors import LedgerError, RowError
from ledger.domain.money import MINOR_EXPONENT, format_minor
from ledger.guard import Committed
from ledger.resident import columns as C
from ledger.resident.columns import Lookups, ResidentColumns, date_of, day_of

if TYPE_CHECKING:
    from ledger.store.store import Store

DIMENSIONS = [
    "entity", "fiscal_year", "supplier", "supplier_country", "chip_model", "vendor",
    "destination", "budget_code", "workload", "acquisition", "line_currency", "month",
]  # fmt: skip
MAX_GROUPS = 2_000_000
MAX_RULES = 64
RULE_KINDS = ["tpp_license", "tpp_notify", "product_license", "product_caution", "lease_identity"]

# kernel time observer (the API registers a Prometheus histogram here)
KernelObserver = Callable[[str, float], None]


def warm_kernels(backend: str | None = None) -> float:
    """Compile or load every kernel on tiny inputs (no ledger needed); returns seconds taken."""
    return dispatch.warm_up(backend)


def _bad_param(name: str, message: str) -> LedgerError:
    return LedgerError(
        "invalid-parameter", "Invalid query parameter", f"{name}: {message}", 422,
        errors=[RowError(None, name, message)],
    )  # fmt: skip


@dataclass
class _Dim:
    name: str
    src: int
    lut: np.ndarray  # int32 derived value per source code (-1: none)
    labels: list  # label per derived value


@dataclass
class _Conversion:
    num: np.ndarray
    den: np.ndarray
    ratio: np.ndarray
    fast_max: np.ndarray
    day0: int
    fixed_day: int
    targets: tuple[str, ...] = ()  # the reporting currencies, by conversion table


class Queries:
    """The read use cases, over resident columns kept in step with the ledger."""

    def __init__(self, store: Store, cols: ResidentColumns, backend: str | None = None):
        self.store = store
        self.cols = cols
        self.backend = backend
        self.observers: list[KernelObserver] = []
        # committed minor units per checked budget at the current state, kept in step
        # with appends so that the budget guard converts the incoming feed only
        self._committed: Committed | None = None
        self._generation = 0  # bumped when reference data (rates, budgets...) changes
        self._inflight: dict[tuple, Future] = {}  # see _shared
        self._inflight_lock = threading.Lock()
        self._prepared_state: tuple | None = None  # see _prepared
        self._prepared_items: dict[tuple, Any] = {}

    def state_changed(self) -> None:
        """Reference data changed (rates, budgets, rules...): nothing kept may be reused."""
        self._committed = None
        self._generation += 1

    def committed(self, after: Committed | None) -> None:
        """A feed committed: keep its committed budget totals if they are of this state."""
        if after is not None and after.n_entries == self.cols.n:
            self._committed = after

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

    def _prepared(self, key: tuple, build: Callable[[], Any]) -> Any:
        """Group tables and conversion cells, kept while the ledger state they came from holds
        (entry count and reference generation): repeated reads skip rebuilding them."""
        state = (self.cols.n, self._generation)
        if self._prepared_state != state:
            self._prepared_state, self._prepared_items = state, {}
        if key not in self._prepared_items:
            if len(self._prepared_items) >= 64:
                self._prepared_items.clear()
            self._prepared_items[key] = build()
        return self._prepared_items[key]

    def _shared(self, key: tuple, compute: Callable[[], dict]) -> dict:
        """One computation for identical concurrent reads of the same ledger state.

        Dashboards poll the same totals; without this, N identical requests queue
        on the columns' lock and the last waits N kernel runs. The key holds the
        entry count and reference generation seen on arrival, so a read never gets
        an answer older than the last commit before it arrived. Answers are shared:
        callers must not mutate them. Nothing is kept once the computation ends.
        """
        key = (*key, self.cols.n, self._generation)
        with self._inflight_lock:
            running = self._inflight.get(key)
            if running is None:
                mine = self._inflight[key] = Future()
        if running is not None:
            return running.result()
        try:
            answer = compute()
        except BaseException as e:
            mine.set_exception(e)
            raise
        else:
            mine.set_result(answer)
            return answer
        finally:
            with self._inflight_lock:
                del self._inflight[key]

    def _observe(self, kernel: str, seconds: float) -> None:
        for observer in self.observers:
            observer(kernel, seconds)

    # -- dimensions ------------------------------------------------------

    def _dim(self, name: str) -> _Dim:
        cols, lk = self.cols, self.cols.lookups
        d = cols.dicts

        def identity(src: int, labels: list) -> _Dim:
            return _Dim(name, src, np.arange(len(labels), dtype=np.int32), labels)

        if name == "entity":
            return identity(C.ENTITY, list(d["entity"].values))
        if name == "supplier":
            return identity(C.SUPPLIER, list(d["supplier"].values))
        if name == "chip_model":
            return identity(C.CHIP, list(d["chip_model"].values))
        if name == "destination":
            return identity(C.DESTINATION, list(C.COUNTRIES))
        if name == "budget_code":
            return identity(C.BUDGET, list(d["budget_code"].values))
        if name == "workload":
            return identity(C.WORKLOAD, list(d["workload"].values))
        if name == "acquisition":
            return identity(C.ACQUISITION, list(d["acquisition"].values))
        if name == "line_currency":
            return identity(C.CURRENCY, list(C.CURRENCIES))
        if name == "fiscal_year":
            return identity(C.FY, [C.FY0 + k for k in range(101)])
        if name == "supplier_country":
            return _Dim(name, C.SUPPLIER, lk.supplier_hq.astype(np.int32), list(C.COUNTRIES))
        if name == "vendor":
            return _Dim(name, C.CHIP, lk.chip_vendor.astype(np.int32), list(lk.vendors))
        if name == "month":
            n_days = cols.max_day + 1
            dates = np.datetime64("2000-01-01") + np.arange(n_days).astype("timedelta64[D]")
            months = dates.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
            base = int(np.datetime64("2000-01", "M").astype(np.int64))
            lut = (months - base).astype(np.int32)
            labels = [f"{2000 + k // 12}-{k % 12 + 1:02d}" for k in range(int(lut.max()) + 1)]
            return _Dim(name, C.DAY, lut, labels)
        raise _bad_param("by", f"unknown dimension {name!r}; one of {', '.join(DIMENSIONS)}")

    def _source_width(self, src: int) -> int:
        cols = self.cols
        if src == C.DAY:
            return cols.max_day + 1
        if src == C.FY:
            return 101
        name = C.SOURCES[src]
        return max(len(cols.dicts[name]), 1)

    def _terms(self, by: list[str], filters: dict[str, list]) -> tuple:
        """Term tables (group index contributions, -1 to filter out) and group labels."""
        seen = {}
        terms: list[tuple[int, np.ndarray]] = []
        group_labels: list[list] = []
        stride = 1
        strides = []
        dims = [self._dim(name) for name in by]
        for dim in reversed(dims):
            width = self._source_width(dim.src)
            lut = np.full(width, -1, np.int64)
            lut[: min(width, len(dim.lut))] = dim.lut[:width]
            # compact to the derived values that occur, so group counts stay small
            seen[dim.src] = self.cols.seen[dim.src, :width]
            used = np.unique(lut[seen[dim.src] & (lut >= 0)])
            compact = np.full(max(len(dim.labels), int(lut.max(initial=0)) + 1), -1, np.int64)
            compact[used] = np.arange(len(used))
            allowed = self._allowed(dim, filters.get(dim.name))
            tab = np.where(
                (lut >= 0) & allowed[np.maximum(lut, 0)], compact[np.maximum(lut, 0)], -1
            )
            tab = np.where(tab >= 0, tab * stride, -1)
            terms.append((dim.src, tab))
            group_labels.insert(0, [dim.labels[u] for u in used])
            strides.insert(0, stride)
            stride *= max(len(used), 1)
            if stride > MAX_GROUPS:
                raise _bad_param("by", f"more than {MAX_GROUPS} groups; group by fewer dimensions")
        for name, values in filters.items():
            if name in by:
                continue
            dim = self._dim(name)
            width = self._source_width(dim.src)
            lut = np.full(width, -1, np.int64)
            lut[: min(width, len(dim.lut))] = dim.lut[:width]
            allowed = self._allowed(dim, values)
            tab = np.where((lut >= 0) & allowed[np.maximum(lut, 0)], 0, -1)
            terms.append((dim.src, tab))
        return terms, group_labels, strides, max(stride, 1)

    @staticmethod
    def _allowed(dim: _Dim, values: list | None) -> np.ndarray:
        size = max(len(dim.labels), 1)
        if not values:
            return np.ones(size, bool)
        wanted = {str(v) for v in values}
        return np.array(
            [str(label) in wanted for label in dim.labels] + [False] * (size - len(dim.labels))
        )

    @staticmethod
    def _term_arrays(terms) -> tuple[np.ndarray, np.ndarray]:
        if not terms:
            return np.zeros(0, np.int64), np.zeros((0, 1), np.int32)
        width = max(len(t) for _, t in terms)
        tab = np.full((len(terms), width), -1, np.int32)
        for k, (_, t) in enumerate(terms):
            tab[k, : len(t)] = t
        return np.array([s for s, _ in terms], np.int64), tab

    # -- conversion ------------------------------------------------------

    def _conversion(
        self, targets: list[str], fx: str = "order-date", lookups: Lookups | None = None
    ) -> _Conversion:
        """Conversion cells into each target currency, by line currency and day."""
        lk = lookups or self.cols.lookups
        rates = lk.rate_e12  # [currency, day]
        fixed_day = -1
        if fx != "order-date":
            try:
                fixed_date = dt.date.fromisoformat(fx)
            except ValueError:
                raise _bad_param("fx", f"{fx!r} is neither order-date nor YYYY-MM-DD") from None
            column = min(max(day_of(fixed_date) - lk.rate_day0, -1), rates.shape[1] - 1)
            rates = rates[:, [column]] if column >= 0 else np.zeros((rates.shape[0], 1), np.int64)
            fixed_day = day_of(fixed_date)
            day0 = fixed_day
        else:
            day0 = lk.rate_day0
        exps = np.array([MINOR_EXPONENT[c] for c in C.CURRENCIES], np.int64)
        n_t, n_c, n_d = len(targets), rates.shape[0], rates.shape[1]
        num = np.zeros((n_t, n_c, n_d), np.int64)
        den = np.zeros((n_t, n_c, n_d), np.int64)
        for t, code in enumerate(targets):
            r = self.cols.dicts["currency"].index[code]
            e_r = MINOR_EXPONENT[code]
            num[t] = rates * (10 ** np.maximum(0, e_r - exps))[:, None]
            den[t] = rates[r][None, :] * (10 ** np.maximum(0, exps - e_r))[:, None]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.where(den > 0, num / np.maximum(den, 1), 0.0)
            den_f = np.maximum(den.astype(np.float64), 1.0)
            x_limit = np.minimum(2.0**61, (2.0**61 / den_f - 2.0) * 2.0**52)
            a_limit = np.where(ratio > 0, x_limit / np.maximum(ratio, 1e-300), 0.0)
            fast_max = np.floor(np.clip(np.minimum(a_limit, 2.0**53) * 0.5, 0, 2.0**53))
        num = np.where(den > 0, num, 0)  # the kernel checks num alone: 0 means no rate
        return _Conversion(
            num, den, ratio, fast_max.astype(np.int64), day0, fixed_day, tuple(targets)
        )

    def _check_currency(self, code: str, name: str = "currency") -> str:
        code = (code or "").upper()
        if code not in MINOR_EXPONENT:
            raise _bad_param(name, f"{code!r} is not a supported ISO 4217 code")
        lk = self.cols.lookups
        if not (lk.rate_e12[self.cols.dicts["currency"].index[code]] > 0).any():
            raise _bad_param(name, f"no {code} rates are loaded; load fx-rates first")
        return code

    # -- the fused pass --------------------------------------------------

    def _rollup(
        self, arrays: dict, terms, n_groups: int, conv: _Conversion, group_target: np.ndarray,
        weight: np.ndarray | None = None, kernel: str = "rollup",
    ) -> np.ndarray:  # fmt: skip
        term_src, term_tab = self._term_arrays(terms)
        out = np.zeros((n_groups, 4), np.int64)
        err = np.zeros(ERR_SLOTS, np.int64)
        weight_tab = (
            weight
            if weight is not None
            else np.zeros(max(len(self.cols.lookups.chip_tpp), 1), np.int64)
        )
        started = time.perf_counter()
        dispatch.rollup(
            codes=arrays["codes"], term_src=term_src, term_tab=term_tab,
            weight_src=np.int64(C.CHIP if weight is not None else -1), weight_tab=weight_tab,
            group_target=group_target,
            day=arrays["codes"][C.DAY, : arrays["amount"].shape[0]],
            currency=arrays["codes"][C.CURRENCY, : arrays["amount"].shape[0]],
            amount=arrays["amount"], quantity=arrays["quantity"], lines=arrays["lines"],
            num=conv.num, den=conv.den, ratio=conv.ratio, fast_max=conv.fast_max,
            fixed_day=np.int64(conv.fixed_day), day0=np.int64(conv.day0), out=out, err=err,
            which=self.backend,
        )  # fmt: skip
        self._observe(kernel, time.perf_counter() - started)
        if err[0]:
            when = date_of(int(err[1])) if conv.fixed_day < 0 else date_of(conv.fixed_day)
            raise LedgerError(
                "no-rate", "Cannot convert",
                f"{int(err[0])} line(s) have no rate on or before {when} for the reporting "
                "currency or their own (or the result overflows); load fx-rates", 422,
            )  # fmt: skip
        if err[ERR_OUT_OF_RANGE]:
            raise LedgerError(
                "total-out-of-range", "Total out of range",
                f"a {'/'.join(out_of_range_columns(int(err[ERR_OUT_OF_RANGE])))} total in "
                f"{', '.join(conv.targets)} is beyond the ledger's range (|x| < 2^63 minor "
                "units); narrow the query", 422,
            )  # fmt: skip
        return out

    # -- totals ----------------------------------------------------------

    def totals(
        self, by: list[str] | None = None, currency: str = "USD", fx: str = "order-date",
        filters: dict[str, list] | None = None,
    ) -> dict:  # fmt: skip
        by = [b for b in (by or []) if b]
        filters = {k: v for k, v in (filters or {}).items() if v}
        for name in [*by, *filters]:
            if name not in DIMENSIONS:
                raise _bad_param(name, f"unknown dimension; one of {', '.join(DIMENSIONS)}")
        if len(set(by)) != len(by):
            raise _bad_param("by", "a dimension is repeated")
        for name, values in filters.items():
            _check_filter(name, values)
        currency = self._check_currency(currency)
        filter_key = tuple(sorted((k, tuple(str(v) for v in vs)) for k, vs in filters.items()))
        return self._shared(
            ("totals", tuple(by), currency, fx, filter_key),
            lambda: self._totals(by, currency, fx, filters, filter_key),
        )

    def _totals(
        self, by: list[str], currency: str, fx: str, filters: dict[str, list], filter_key: tuple
    ) -> dict:
        with self.cols.lock:
            arrays = self.cols.view()
            terms, labels, strides, n_groups = self._prepared(
                ("terms", tuple(by), filter_key), lambda: self._terms(by, filters)
            )
            conv = self._prepared(
                ("conversion", currency, fx), lambda: self._conversion([currency], fx)
            )
            out = self._rollup(arrays, terms, n_groups, conv, np.zeros(n_groups, np.int64))
        rows = []
        nonzero = np.flatnonzero((out[:, 0] != 0) | (out[:, 1] != 0) | (out[:, 2] != 0))
        for g in nonzero:
            row = {}
            for k, name in enumerate(by):
                row[name] = labels[k][(g // strides[k]) % len(labels[k])]
            row.update(self._money_row(out[g], currency))
            rows.append(row)
        total = self._money_row(out.sum(axis=0), currency)
        return {"currency": currency, "fx": fx, "by": by, "rows": rows, "total": total}

    @staticmethod
    def _money_row(acc, currency: str) -> dict:
        return {
            "lines": int(acc[0]),
            "quantity": int(acc[1]),
            "amount": format_minor(int(acc[2]), currency),
            "amount_minor": int(acc[2]),
        }

    # -- budgets ---------------------------------------------------------

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
        n_e, n_b, n_f = max(len(d["entity"]), 1), max(len(d["budget_code"]), 1), 101
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

    # -- sourcing --------------------------------------------------------

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

    # -- compliance ------------------------------------------------------

    def _rule_arrays(self) -> dict:
        lk = self.cols.lookups
        rules = lk.rules
        if len(rules) > MAX_RULES:
            raise LedgerError(
                "too-many-rules", "Too many export rules", f"at most {MAX_RULES}", 422
            )
        n_r, n_c = len(rules), len(C.COUNTRIES)
        chips = self.cols.dicts["chip_model"]
        arr = {
            "rule_kind": np.array([RULE_KINDS.index(r["kind"]) for r in rules], np.int64),
            "rule_from": np.array([day_of(r["effective_from"]) for r in rules], np.int64),
            "rule_to": np.array(
                [day_of(r["effective_to"]) if r["effective_to"] else -1 for r in rules], np.int64
            ),
            "rule_num": np.zeros((n_r, 6), np.float64),
            "rule_dest": np.zeros((n_r, n_c), np.bool_),
            "rule_buyer": np.zeros((n_r, n_c), np.bool_),
            "rule_origin": np.zeros((n_r, n_c), np.bool_),
            "rule_product": np.zeros((n_r, max(len(chips), 1)), np.bool_),
            "rule_exempt": np.zeros((n_r, n_c), np.bool_),
        }
        keys = ["tpp_min", "tpp_max", "pd_min", "pd_max", "tpp_min_dense", "pd_min_dense"]
        for k, r in enumerate(rules):
            params = r["params"]
            arr["rule_num"][k] = [float(params.get(key, np.inf)) for key in keys]
            masks = [
                ("destinations", "rule_dest"), ("buyer_hq", "rule_buyer"),
                ("origins", "rule_origin"), ("exempt_buyer_hq", "rule_exempt"),
            ]  # fmt: skip
            for field, name in masks:
                for country in params.get(field, []):
                    arr[name][k, C.COUNTRIES.index(country)] = True
            for product in params.get("products", []):
                if product in chips.index:
                    arr["rule_product"][k, chips.index[product]] = True
        return arr

    def _screen(self) -> np.ndarray:
        lk = self.cols.lookups
        view = self.cols.view()
        codes = view["codes"][:, : self.cols.n]
        out = np.zeros(self.cols.n, np.uint64)
        started = time.perf_counter()
        if self.cols.n and lk.rules:
            dispatch.screen(
                chip=codes[C.CHIP], destination=codes[C.DESTINATION], entity=codes[C.ENTITY],
                day=codes[C.DAY], flags=view["flags"], chip_tpp=lk.chip_tpp,
                chip_area=lk.chip_area, chip_origin=lk.chip_origin, entity_hq=lk.entity_hq,
                entity_parent_hq=lk.entity_parent_hq, out=out, which=self.backend,
                **self._rule_arrays(),
            )  # fmt: skip
        self._observe("screen", time.perf_counter() - started)
        return out

    def compliance(
        self, fiscal_year: int | None = None, rule: str | None = None, limit: int = 100,
        offset: int = 0,
    ) -> dict:  # fmt: skip
        if not 0 <= limit <= 10_000:
            raise _bad_param("limit", "must be in [0, 10000]")
        if offset < 0:
            raise _bad_param("offset", "must be >= 0")
        with self.cols.lock:
            rules = list(self.cols.lookups.rules)
            if rule is not None and rule not in {r["rule_id"] for r in rules}:
                raise _bad_param("rule", f"unknown rule {rule!r}")
            bits = self._screen()
            if fiscal_year is not None:
                fy = self.cols.view()["codes"][C.FY, : self.cols.n]
                bits = np.where(fy == fiscal_year - C.FY0, bits, np.uint64(0))
        counts, pairs = [], []
        flagged = np.flatnonzero(bits)  # one pass over the ledger; then only flagged entries
        flagged_bits = bits[flagged]
        for k, r in enumerate(rules):
            hit = flagged[(flagged_bits & (np.uint64(1) << np.uint64(k))) != 0]
            counts.append(
                {"rule_id": r["rule_id"], "kind": r["kind"], "severity": r["severity"],
                 "lines": int(hit.size)}
            )  # fmt: skip
            if rule is None or r["rule_id"] == rule:
                pairs.append((hit, k))
        flat_entries = np.concatenate([h for h, _ in pairs]) if pairs else np.zeros(0, np.int64)
        flat_rules = (
            np.concatenate([np.full(h.size, k) for h, k in pairs])
            if pairs
            else np.zeros(0, np.int64)
        )
        order = np.lexsort((flat_rules, flat_entries))
        total = int(order.size)
        page = order[offset : offset + limit]
        lines = self._flagged_lines(flat_entries[page], flat_rules[page], rules)
        return {"counts": counts, "lines": lines, "total": total, "limit": limit, "offset": offset}

    def _flagged_lines(self, entry_seqs: np.ndarray, rule_idx: np.ndarray, rules) -> list[dict]:
        if not len(entry_seqs):
            return []
        seqs = ",".join(str(int(s)) for s in np.unique(entry_seqs))
        details = {
            r["entry_seq"]: r
            for r in self.store.query(
                "SELECT entry_seq, order_id, line_no, revision, entity, order_date, chip_model, "
                "destination, acquisition, license_ref FROM line_entries "
                f"WHERE entry_seq IN ({seqs})"
            ).to_pylist()
        }
        lines = []
        for seq, k in zip(entry_seqs, rule_idx, strict=True):
            d, r = details[int(seq)], rules[int(k)]
            lines.append(
                {"order_id": d["order_id"], "line_no": d["line_no"], "revision": d["revision"],
                 "entity": d["entity"], "order_date": d["order_date"].isoformat(),
                 "chip_model": d["chip_model"], "destination": d["destination"],
                 "rule_id": r["rule_id"], "kind": r["kind"], "severity": r["severity"],
                 "reason": _reason(r, d)}
            )  # fmt: skip
        return lines


def _padded(term: np.ndarray, arrays: dict, src: int) -> np.ndarray:
    """A term table wide enough for every code in `arrays` (a feed not yet committed may hold
    codes past the dictionary: they get -1, no group), so the kernel never reads past it."""
    n = arrays["amount"].shape[0]
    if not n or arrays["codes"].shape[1] != n:  # the resident block: codes are in range
        return term
    width = int(arrays["codes"][src].max()) + 1
    if width <= len(term):
        return term
    return np.concatenate([term, np.full(width - len(term), -1, np.int64)])


_FILTER_DOMAINS = {
    "destination": set(C.COUNTRIES),
    "supplier_country": set(C.COUNTRIES),
    "line_currency": set(C.CURRENCIES),
    "workload": {"training", "inference"},
    "acquisition": {"purchase", "lease"},
}


def _check_filter(name: str, values: list) -> None:
    """Filter values of a closed domain must be in it; free-text values may match nothing."""
    for value in values:
        text = str(value)
        if name == "fiscal_year":
            if not (text.isdigit() and 2000 <= int(text) <= 2100):
                raise _bad_param(name, f"{text!r} is not a fiscal year (2000-2100)")
        elif name == "month":
            if not (len(text) == 7 and text[4] == "-" and text[:4].isdigit()
                    and text[5:].isdigit() and 1 <= int(text[5:]) <= 12):  # fmt: skip
                raise _bad_param(name, f"{text!r} is not a month (YYYY-MM)")
        elif name in _FILTER_DOMAINS and text not in _FILTER_DOMAINS[name]:
            raise _bad_param(name, f"{text!r} is not a valid {name.replace('_', ' ')}")


def _reason(rule: dict, line: dict) -> str:
    chip, dest = line["chip_model"], line["destination"]
    kind = rule["kind"]
    if kind == "tpp_license":
        return f"{chip} is in the 3A090.a band; licence needed for {dest} or this buyer, none given"
    if kind == "tpp_notify":
        return f"{chip} is in the 3A090.b band; notification needed for {dest} or this buyer"
    if kind == "product_license":
        return f"{chip} needs a licence for {dest} or this buyer from {rule['effective_from']}"
    if kind == "product_caution":
        return f"{chip} is named in guidance of {rule['effective_from']}: use carries a risk"
    if kind == "lease_identity":
        return f"leased {chip}: owner and operator identity not reviewed"
    return kind
