"""Slow, obviously correct references in plain Python ints and Decimal."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import ROUND_HALF_EVEN, Decimal

from kernels import layout as L
from ledger.domain.money import MINOR_EXPONENT, half_even_div


def rate_on(rates: list[dict], currency: str, day: dt.date) -> Decimal:
    """The latest rate with rate_date <= day; USD is 1."""
    if currency == "USD":
        return Decimal(1)
    best = None
    for r in rates:
        rd = dt.date.fromisoformat(r["rate_date"])
        if r["currency"] == currency and rd <= day and (best is None or rd > best[0]):
            best = (rd, Decimal(r["usd_per_unit"]))
    if best is None:
        raise LookupError(f"no {currency} rate on or before {day}")
    return best[1]


def convert(amount: Decimal, currency: str, target: str, day: dt.date, rates) -> int:
    """An amount (in currency units) to target minor units, half-even, once."""
    value = amount * rate_on(rates, currency, day) / rate_on(rates, target, day)
    return int(value.scaleb(MINOR_EXPONENT[target]).quantize(Decimal(1), ROUND_HALF_EVEN))


def feed_rows(csv_text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(csv_text)))


def total_in(csv_text: str, target: str, rates) -> int:
    """Sum over the open lines of a CSV feed, converted per line at its order date."""
    total = 0
    for row in feed_rows(csv_text):
        if row.get("status", "open") == "cancelled":
            continue
        amount = Decimal(row["quantity"]) * Decimal(row["unit_price"])
        total += convert(
            amount, row["currency"], target, dt.date.fromisoformat(row["order_date"]), rates
        )
    return total


def rollup(
    codes, amount, quantity, lines, term_src, term_tab, num, den, day0, n_groups,
    weight_src=-1, weight_tab=None,
) -> tuple[list[list[int]], int, int]:  # fmt: skip
    """The roll-up in Python ints: (sums per group, bad lines, out-of-range column bits).

    A group's sums are exact (unbounded); a cell beyond int64 reads L.OUT_OF_RANGE,
    as the kernels promise, and its column's bit is set in the third value.
    Conversion table 0 only (every group converts into the first target).
    """
    exact = [[0] * L.N_OUT for _ in range(n_groups)]
    bad = 0
    for i in range(len(amount)):
        parts = [int(term_tab[k, codes[term_src[k], i]]) for k in range(len(term_src))]
        if any(p < 0 for p in parts):
            continue
        g = sum(parts)
        d, c = int(codes[L.DAY, i]) - day0, int(codes[L.CURRENCY, i])
        if not (0 <= d < num.shape[2]) or num[0, c, d] == 0 or den[0, c, d] == 0:
            bad += 1
            continue
        value = half_even_div(int(amount[i]) * int(num[0, c, d]), int(den[0, c, d]))
        if not -(2**63) < value < 2**63:
            bad += 1  # the line itself cannot be converted into int64
            continue
        exact[g][L.OUT_LINES] += int(lines[i])
        exact[g][L.OUT_QUANTITY] += int(quantity[i])
        exact[g][L.OUT_AMOUNT] += value
        if weight_src >= 0:
            exact[g][L.OUT_WEIGHTED] += int(quantity[i]) * int(weight_tab[codes[weight_src, i]])
    mask = 0
    out = []
    for row in exact:
        fits = [-(2**63) <= v < 2**63 for v in row]
        mask |= sum(1 << k for k, ok in enumerate(fits) if not ok)
        out.append([v if ok else L.OUT_OF_RANGE for v, ok in zip(row, fits, strict=True)])
    return out, bad, mask


# -- licences ------------------------------------------------------------


def current_lines(feeds: list[str]) -> list[dict]:
    """The open lines after these CSV feeds, in plain Python: a higher revision replaces a
    line (and takes a later place in feed order), a cancellation removes it."""
    lines: dict[tuple, dict] = {}
    seq = 0
    for text in feeds:
        for row in feed_rows(text):
            key = (row["order_id"], int(row["line_no"]))
            seq += 1
            if row.get("status") == "cancelled":
                lines.pop(key, None)
                continue
            lines[key] = {**row, "seq": seq}
    return list(lines.values())


def licence_check(lines: list[dict], licences: list[dict], rates) -> dict:
    """DESIGN section 1 in Decimal and Fraction: {(order_id, line_no): (verdict, used
    quantity through, used value through)} for each line naming a licence, and
    {licence_id: (used quantity, used value)}.

    Lines consume in order of order date, then feed order; only lines a licence covers
    by date and scope consume it; such a line is covered while the running totals
    through it are within the caps plus overrun_pct (exact), and its value is its
    amount converted into the licence currency at its order-date rate, half-even.
    """
    from fractions import Fraction

    by_id = {r["licence_id"]: r for r in licences}
    used = {r["licence_id"]: [0, 0] for r in licences}
    verdicts: dict[tuple, tuple] = {}

    def fits(total: int, cap, pct) -> bool:
        return cap in (None, "") or total <= Fraction(int(cap)) * (100 + Fraction(str(pct))) / 100

    def in_list(value: str, listed) -> bool:
        return listed == "all" or value in listed

    for ln in sorted(lines, key=lambda x: (x["order_date"], x["seq"])):
        ref, key = ln.get("license_ref") or "", (ln["order_id"], int(ln["line_no"]))
        if not ref:
            continue
        lic = by_id.get(ref)
        day = dt.date.fromisoformat(ln["order_date"])
        if lic is None:
            verdicts[key] = ("licence_not_on_file", None, None)
            continue
        to = lic.get("valid_to")
        if day < dt.date.fromisoformat(lic["valid_from"]) or (
            to and day > dt.date.fromisoformat(to)
        ):
            verdicts[key] = ("licence_expired", None, None)
            continue
        if not (
            ln["entity"] == lic["holder"]
            and in_list(ln["chip_model"], lic["chips"])
            and in_list(ln["destination"], lic["destinations"])
        ):
            verdicts[key] = ("licence_out_of_scope", None, None)
            continue
        amount = Decimal(ln["quantity"]) * Decimal(ln["unit_price"])
        value = convert(amount, ln["currency"], lic.get("currency", "USD"), day, rates)
        u = used[ref]
        u[0] += int(ln["quantity"])
        u[1] += value
        pct = lic.get("overrun_pct", 0)
        ok = fits(u[0], lic.get("max_quantity"), pct) and fits(
            u[1], _minor(lic.get("max_value"), lic.get("currency", "USD")), pct
        )
        verdicts[key] = (None if ok else "licence_exhausted", u[0], u[1])
    return {"lines": verdicts, "used": {k: tuple(v) for k, v in used.items()}}


def _minor(value, currency: str):
    if value in (None, ""):
        return None
    return int(Decimal(str(value)).scaleb(MINOR_EXPONENT[currency]))


def _licence_verdict(a: dict, i: int) -> int:
    """Pass 1 on entry i: none, not on file, expired, out of scope, or a candidate."""
    code = int(a["licence"][i])
    if not int(a["flags"][i]) & L.ACTIVE or not code:
        return L.LIC_NONE
    s = int(a["lic_slot"][code])
    d = int(a["day"][i])

    def scope(name: str, c: int) -> bool:
        lo, hi = int(a[f"lic_{name}_lo"][s]), int(a[f"lic_{name}_hi"][s])
        return lo == L.SCOPE_ALL or c in [int(x) for x in a[f"lic_{name}_items"][lo:hi]]

    if s < 0:
        return L.LIC_NOT_ON_FILE
    if d < a["lic_from"][s] or (a["lic_to"][s] >= 0 and d > a["lic_to"][s]):
        return L.LIC_EXPIRED
    if (int(a["lic_holder"][s]) != int(a["entity"][i])
            or not scope("chip", int(a["chip"][i]))
            or not scope("dest", int(a["destination"][i]))):  # fmt: skip
        return L.LIC_OUT_OF_SCOPE
    return L.LIC_COVERED


def licence_kernel(a: dict) -> tuple[list[int], dict]:
    """kernels.licences on its own arrays, in plain Python ints: (out per entry, candidates
    as {entry: (value, cum_q, cum_v)})."""
    resident = L.LEASE | L.REVIEWED | L.ACTIVE
    out, cands = [], []
    for i in range(len(a["licence"])):
        v = _licence_verdict(a, i)
        if v == L.LIC_COVERED:
            cands.append((int(a["lic_slot"][int(a["licence"][i])]), int(a["day"][i]), i))
        out.append((int(a["flags"][i]) & resident) | (v << L.LIC_SHIFT))
    result = {}
    run: dict[int, list[int]] = {}
    num, den, day0 = a["num"], a["den"], int(a["day0"])
    for s, d, i in sorted(cands):
        t, c = int(a["lic_target"][s]), int(a["currency"][i])
        r = run.setdefault(s, [0, 0])
        r[0] += int(a["quantity"][i])
        ok_cell = 0 <= d - day0 < num.shape[2] and num[t, c, d - day0] > 0
        value = half_even_div(int(a["amount"][i]) * int(num[t, c, d - day0]),
                              int(den[t, c, d - day0])) if ok_cell else None  # fmt: skip
        r[1] += value or 0
        qlim, vlim = int(a["qty_limit"][s]), int(a["val_limit"][s])
        verdict = L.LIC_COVERED
        if value is None:
            verdict = L.LIC_NO_RATE
        elif (qlim != L.NO_CAP and r[0] > qlim) or (vlim != L.NO_CAP and r[1] > vlim):
            verdict = L.LIC_EXHAUSTED
        if verdict != L.LIC_COVERED:
            out[i] = (out[i] & resident) | (verdict << L.LIC_SHIFT)
        else:
            out[i] |= L.NOTIFIED if a["lic_kind"][s] == 1 else L.NOTIFIED | L.LICENSED
        result[i] = (value, r[0], r[1])
    return out, result


def flag_pairs(bits, party, fy, fy_code, n_rules, select, select_party, offset, limit):
    """kernels.flags: counts per rule (and party) and the page of (entry, rule) pairs,
    every pair built, sorted and sliced."""
    pairs, counts = [], [0] * (n_rules + 1)
    in_year = [fy_code < 0 or int(fy[i]) == fy_code for i in range(len(bits))]
    for i, b in enumerate(bits.tolist()):
        for k in range(n_rules):
            if b >> k & 1 and in_year[i]:
                counts[k] += 1
                if select >> k & 1:
                    pairs.append((i, k))
    for i in party.tolist():
        if in_year[i]:
            counts[n_rules] += 1
            if select_party:
                pairs.append((i, n_rules))
    pairs.sort()
    return counts, pairs[offset : offset + limit]
