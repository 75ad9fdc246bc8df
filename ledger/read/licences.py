"""The licence register as depleting budgets: which lines each licence on file covers, how
much of it is used, and the evidence a licence flag carries.

The check runs as one kernel (kernels.licences, through kernels.dispatch) over the resident
columns and is kept while the ledger state holds (`_prepared`: entry count and reference
generation). Its output is the screen's flags: the screening (ledger.read.compliance)
reads LICENSED / NOTIFIED from it instead of "the line names some reference".

A line's value is its amount converted into the licence's currency at its order-date rate,
exact and half-even, once per line (the conversion cells of ledger.read.conversion). Caps
are exact: a cap C with overrun p percent allows floor(C x (100 + p) / 100), so a running
total T passes exactly when T x 100 > C x (100 + p).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from kernels import dispatch
from kernels import layout as L
from ledger.domain.money import format_minor
from ledger.domain.schema import day_of
from ledger.read.dims import _bad_param
from ledger.resident import columns as C

STATES = ("ok", "warn", "exhausted", "expired")
MAX_LINES_SHOWN = 1000
MAX_LICENCES = 65_535  # per-slot arrays; lines can name at most 65,535 references anyway
_PCT_SCALE = 10**4  # overrun_pct holds 4 decimals
LICENCE_RULE_KINDS = ("tpp_license", "product_license", "tpp_notify")


@dataclass
class LicenceState:
    """The licence check at one ledger state."""

    flags: np.ndarray  # uint8 per entry: the screen's flags, verdict from layout.LIC_SHIFT
    licences: list[dict]  # the licences on file, one per slot
    slot_of_code: np.ndarray  # int32 per licence-reference code: its slot, -1 not on file
    order: np.ndarray  # candidate entries, by slot, then order day, then entry index
    seg: np.ndarray  # slot s's candidates are order[seg[s]:seg[s+1]]
    value: np.ndarray  # each candidate's value in its licence currency (OVERFLOW: unknown)
    cum_q: np.ndarray  # the licence's running quantity through each candidate
    cum_v: np.ndarray  # ... and running value
    targets: tuple[str, ...] = ()

    def verdict(self, seq: int) -> int:
        return int(self.flags[seq]) >> L.LIC_SHIFT

    def used(self, s: int) -> tuple[int, int]:
        """(quantity, value) the candidates of slot s consume in all."""
        hi = int(self.seg[s + 1])
        if hi == int(self.seg[s]):
            return 0, 0
        return int(self.cum_q[hi - 1]), int(self.cum_v[hi - 1])

    def position(self, seq: int) -> int:
        """The candidate index of entry seq, or -1 when it is no candidate."""
        if self.verdict(seq) not in (L.LIC_COVERED, L.LIC_EXHAUSTED, L.LIC_NO_RATE):
            return -1
        hits = np.flatnonzero(self.order == seq)
        return int(hits[0]) if hits.size else -1


def _limit(cap: int | None, overrun_pct: Decimal) -> int:
    """The cap plus overrun, floored (exact integers); NO_CAP when there is no cap."""
    if cap is None:
        return L.NO_CAP
    pct = int(overrun_pct * _PCT_SCALE)
    return cap * (100 * _PCT_SCALE + pct) // (100 * _PCT_SCALE)


def _scope(lists: list[str], index: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, items): each licence's scope as a range of codes; `*` is SCOPE_ALL. A
    name no line uses yet has no code and covers nothing."""
    lo, hi, items = [], [], []
    for text in lists:
        if text == "*":
            lo.append(L.SCOPE_ALL)
            hi.append(L.SCOPE_ALL)
            continue
        lo.append(len(items))
        items += [index[x] for x in text.split(",") if x in index]
        hi.append(len(items))
    arr = np.array(items or [0], np.int32)
    return np.array(lo, np.int64), np.array(hi, np.int64), arr


class Licences:
    """The methods of `Queries` (ledger.read.queries) for this use case."""

    def _licence_arrays(self, licences: list[dict]) -> tuple[dict, tuple[str, ...]]:
        d = self.cols.dicts
        if len(licences) > MAX_LICENCES:
            raise _bad_param("licences", f"at most {MAX_LICENCES} licences on file")
        slot_by_id = {r["licence_id"]: s for s, r in enumerate(licences)}
        refs = d["license_ref"].values
        slot_of_code = np.array([slot_by_id.get(v, -1) if v else -1 for v in refs], np.int32)
        targets = tuple(sorted({r["currency"] for r in licences} | {"USD"}))
        conv = self._conversion(list(targets))
        chip_lo, chip_hi, chip_items = _scope([r["chips"] for r in licences], d["chip_model"].index)
        countries = {c: i for i, c in enumerate(C.COUNTRIES)}
        dest_lo, dest_hi, dest_items = _scope([r["destinations"] for r in licences], countries)
        arrays = {
            "lic_slot": slot_of_code,
            "lic_kind": np.array([L.LIC_KINDS.index(r["kind"]) for r in licences], np.int64),
            "lic_from": np.array([day_of(r["valid_from"]) for r in licences], np.int64),
            "lic_to": np.array(
                [day_of(r["valid_to"]) if r["valid_to"] else -1 for r in licences], np.int64
            ),
            "lic_holder": np.array(
                [d["entity"].index.get(r["holder"], -1) for r in licences], np.int64
            ),
            "lic_chip_lo": chip_lo, "lic_chip_hi": chip_hi, "lic_chip_items": chip_items,
            "lic_dest_lo": dest_lo, "lic_dest_hi": dest_hi, "lic_dest_items": dest_items,
            "lic_target": np.array([targets.index(r["currency"]) for r in licences], np.int64),
            "qty_limit": np.array(
                [_limit(r["max_quantity"], r["overrun_pct"]) for r in licences], np.int64
            ),
            "val_limit": np.array(
                [_limit(r["max_value_minor"], r["overrun_pct"]) for r in licences], np.int64
            ),
            "num": conv.num, "den": conv.den, "ratio": conv.ratio, "fast_max": conv.fast_max,
            "day0": np.int64(conv.day0),
        }  # fmt: skip
        return arrays, targets

    def _licence_state(self) -> LicenceState:
        """The licence check at the current ledger state (kept while it holds)."""
        with self.cols.lock:
            return self._prepared(("licences",), self._check_licences)

    def _check_licences(self) -> LicenceState:
        licences = list(self.cols.lookups.licences)
        arrays, targets = self._licence_arrays(licences)
        view = self.cols.view()
        n = self.cols.n
        codes = view["codes"][:, :n]
        out = np.zeros(n, np.uint8)
        result = dispatch.licences(
            licence=view["licence"], flags=view["flags"], day=codes[C.DAY], chip=codes[C.CHIP],
            destination=codes[C.DESTINATION], entity=codes[C.ENTITY],
            currency=codes[C.CURRENCY], amount=view["amount"], quantity=view["quantity"],
            out=out, which=self.backend, **arrays,
        )  # fmt: skip
        return LicenceState(
            out, licences, arrays["lic_slot"], result["order"], result["seg"], result["value"],
            result["cum_q"], result["cum_v"], targets,
        )  # fmt: skip

    def screen_flags(self) -> np.ndarray:
        """The flags the screening reads: the resident ones, with the licence check's bits."""
        return self._licence_state().flags

    # -- the register ------------------------------------------------------

    def licences(
        self, state: str | None = None, as_of: dt.date | None = None, lines: int = 20
    ) -> dict:
        """One row per licence on file: used and remaining quantity and value, state, and the
        first `lines` consuming lines in depletion order (capped: `lines_shown` of
        `lines_total`)."""
        if state is not None and state not in STATES:
            raise _bad_param("state", f"{state!r}; one of {', '.join(STATES)}")
        if not 0 <= lines <= MAX_LINES_SHOWN:
            raise _bad_param("lines", f"must be in [0, {MAX_LINES_SHOWN}]")
        as_of = as_of or dt.date.today()
        ls = self._licence_state()
        with self.cols.lock:
            refused = self._refused_counts(ls)
            quantity = self.cols.quantity[: self.cols.n]
        rows = [
            self._licence_row(ls, s, as_of, refused.get(s, {})) for s in range(len(ls.licences))
        ]
        shown = [(s, r) for s, r in enumerate(rows) if state is None or r["state"] == state]
        seqs = np.concatenate(
            [ls.order[ls.seg[s] : min(ls.seg[s] + lines, ls.seg[s + 1])] for s, _ in shown]
            or [np.zeros(0, np.int64)]
        )
        details = {r["entry_seq"]: r for r in self.store.line_details(seqs)}
        for s, row in shown:
            lo = int(ls.seg[s])
            row["lines"] = [
                self._consuming_line(ls, j, details[int(ls.order[j])], quantity, row["currency"])
                for j in range(lo, min(lo + lines, int(ls.seg[s + 1])))
            ]
            row["lines_shown"] = len(row["lines"])
        return {"as_of": as_of.isoformat(), "rows": [r for _, r in shown]}

    def _refused_counts(self, ls: LicenceState) -> dict[int, dict[str, int]]:
        """Per slot, the lines naming it that it does not cover by date or scope."""
        verdict = ls.flags >> L.LIC_SHIFT
        counts: dict[int, dict[str, int]] = {}
        for v in (L.LIC_EXPIRED, L.LIC_OUT_OF_SCOPE):
            seqs = np.flatnonzero(verdict == v)
            slots = ls.slot_of_code[self.cols.licence[seqs]]
            for s, k in zip(*np.unique(slots, return_counts=True), strict=True):
                counts.setdefault(int(s), {})[L.LIC_REASONS[v]] = int(k)
        return counts

    def _licence_row(self, ls: LicenceState, s: int, as_of: dt.date, refused: dict) -> dict:
        r = ls.licences[s]
        cur = r["currency"]
        used_q, used_v = ls.used(s)
        max_q, max_v = r["max_quantity"], r["max_value_minor"]
        shares = [Decimal(u) / Decimal(m) for u, m in ((used_q, max_q), (used_v, max_v))
                  if m]  # fmt: skip
        full = any(m is not None and u >= m for u, m in ((used_q, max_q), (used_v, max_v)))
        utilization = max(shares, default=Decimal(0))
        if r["valid_to"] is not None and r["valid_to"] < as_of:
            st = "expired"
        elif full:
            st = "exhausted"
        elif utilization >= r["warn_share"]:
            st = "warn"
        else:
            st = "ok"
        return {
            "licence_id": r["licence_id"], "authority": r["authority"], "kind": r["kind"],
            "holder": r["holder"], "chips": "all" if r["chips"] == "*" else r["chips"],
            "destinations": "all" if r["destinations"] == "*" else r["destinations"],
            "valid_from": r["valid_from"].isoformat(),
            "valid_to": r["valid_to"].isoformat() if r["valid_to"] else None,
            "currency": cur, "overrun_pct": str(r["overrun_pct"].normalize()),
            "max_quantity": max_q, "used_quantity": used_q,
            "remaining_quantity": None if max_q is None else max_q - used_q,
            "max_value": None if max_v is None else format_minor(max_v, cur),
            "used_value": format_minor(used_v, cur), "used_value_minor": used_v,
            "remaining_value": None if max_v is None else format_minor(max_v - used_v, cur),
            "utilization": str(utilization.quantize(Decimal("0.000001"))), "state": st,
            "lines_total": int(ls.seg[s + 1] - ls.seg[s]),
            "lines_exhausted": int(
                np.count_nonzero(
                    (ls.flags[ls.order[ls.seg[s] : ls.seg[s + 1]]] >> L.LIC_SHIFT)
                    == L.LIC_EXHAUSTED
                )
            ),
            "lines_refused": refused, "source": r["source"],
        }  # fmt: skip

    def _consuming_line(self, ls: LicenceState, j: int, d: dict, quantity, cur: str) -> dict:
        seq = int(ls.order[j])
        v = int(ls.value[j])
        known = v != int(np.iinfo(np.int64).min)
        return {
            "order_id": d["order_id"], "line_no": d["line_no"], "revision": d["revision"],
            "entity": d["entity"], "order_date": d["order_date"].isoformat(),
            "chip_model": d["chip_model"], "destination": d["destination"],
            "quantity": int(quantity[seq]), "value": format_minor(v, cur) if known else None,
            "covered": ls.verdict(seq) == L.LIC_COVERED,
            "reason": L.LIC_REASONS[ls.verdict(seq)],
            "used_quantity_through": int(ls.cum_q[j]),
            "used_value_through": format_minor(int(ls.cum_v[j]), cur),
        }  # fmt: skip

    # -- evidence on screening flags ----------------------------------------

    def licence_evidence(self, ls: LicenceState, seq: int, kind: str, license_ref) -> dict:
        """Why a licence rule flags entry seq: the reason code, the licence and what is left
        of it (through this line for a line it was counted against, else now)."""
        verdict = ls.verdict(seq)
        code = L.LIC_REASONS[verdict] if verdict >= L.LIC_NOT_ON_FILE else None
        detail = None
        if verdict == L.LIC_NONE:
            code, detail = "licence_not_on_file", "the line names no licence"
        elif verdict == L.LIC_COVERED:  # covered, yet flagged: a notification for a licence rule
            code, detail = "licence_out_of_scope", "a notification does not satisfy a licence rule"
        evidence = {"reason": code, "licence_id": license_ref or None, "detail": detail}
        s = int(ls.slot_of_code[self.cols.licence[seq]]) if license_ref else -1
        if s < 0:
            return evidence
        r = ls.licences[s]
        j = ls.position(seq)
        used_q, used_v = (int(ls.cum_q[j]), int(ls.cum_v[j])) if j >= 0 else ls.used(s)
        cur = r["currency"]
        evidence.update(
            remaining_quantity=None if r["max_quantity"] is None else r["max_quantity"] - used_q,
            remaining_value=None
            if r["max_value_minor"] is None
            else format_minor(r["max_value_minor"] - used_v, cur),
            currency=cur,
        )
        return evidence
