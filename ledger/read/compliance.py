"""Export-control screening: which entries each rule flags, counted and paged."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from kernels import dispatch, layout
from ledger.domain.errors import LedgerError
from ledger.domain.schema import MAX_PAGE_LINES, day_of
from ledger.read.dims import (
    _bad_param,
)
from ledger.read.evidence import chip_figures, evidence, lease_reason
from ledger.read.licences import LICENCE_RULE_KINDS
from ledger.read.parties import PARTY_KIND, PARTY_RULE_ID
from ledger.resident import columns as C

if TYPE_CHECKING:
    pass

MAX_RULES = 64

RULE_KINDS = list(layout.RULE_KINDS)


def _reason(rule: dict, line: dict) -> str:
    chip, dest = line["chip_model"], line["destination"]
    kind = rule["kind"]
    if kind == "tpp_license":
        return (
            f"{chip} is in the 3A090.a band; licence needed for {dest} or this buyer, "
            "none on file covers it"
        )
    if kind == "tpp_notify":
        return f"{chip} is in the 3A090.b band; notification needed for {dest} or this buyer"
    if kind == "product_license":
        return f"{chip} needs a licence for {dest} or this buyer from {rule['effective_from']}"
    if kind == "product_caution":
        return f"{chip} is named in guidance of {rule['effective_from']}: use carries a risk"
    if kind == "lease_identity":
        return lease_reason(line)
    return kind


class Compliance:
    """The methods of `Queries` (ledger.read.queries) for this use case."""

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
        keys = layout.RULE_NUM
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
                day=codes[C.DAY], flags=self.screen_flags(), chip_tpp=lk.chip_tpp,
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
        if not 0 <= limit <= MAX_PAGE_LINES:
            raise _bad_param("limit", f"must be in [0, {MAX_PAGE_LINES}]")
        if offset < 0:
            raise _bad_param("offset", "must be >= 0")
        with self.cols.lock:
            rules = list(self.cols.lookups.rules)
            if rule is not None and rule not in {r["rule_id"] for r in rules} | {PARTY_RULE_ID}:
                raise _bad_param("rule", f"unknown rule {rule!r}")
            bits = self._screen()
            party_hits, party_severity = self._party_flags()  # see ledger.read.parties
            fy = self.cols.view()["codes"][C.FY, : self.cols.n]
        fy_code = -1  # every year
        if fiscal_year is not None:
            fy_code = fiscal_year - C.FY0
            if not 0 <= fy_code < 2**16:
                fy_code = 2**16  # a year before or past every code (uint16): no line has it
        n_rules = len(rules)
        lines_per_rule = np.zeros(n_rules + 1, np.int64)  # one pass: no (line, rule) pairs built
        dispatch.flag_counts(bits, party_hits, fy, fy_code, n_rules, lines_per_rule)
        rules.append({"rule_id": PARTY_RULE_ID, "kind": PARTY_KIND, "severity": party_severity})
        counts = [
            {"rule_id": r["rule_id"], "kind": r["kind"], "severity": r["severity"],
             "lines": int(lines_per_rule[k])}
            for k, r in enumerate(rules)
        ]  # fmt: skip
        wanted = [k for k, r in enumerate(rules) if rule is None or r["rule_id"] == rule]
        total = int(lines_per_rule[wanted].sum())
        select = sum(1 << k for k in wanted if k < n_rules)
        seqs, rule_idx = np.zeros(limit, np.int64), np.zeros(limit, np.int64)
        written = dispatch.flag_page(
            bits, party_hits, fy, fy_code, select, n_rules in wanted, n_rules, offset, seqs,
            rule_idx,
        )  # fmt: skip
        lines = self._flagged_lines(seqs[:written], rule_idx[:written], rules)
        return {"counts": counts, "lines": lines, "total": total, "limit": limit, "offset": offset}

    def _flagged_lines(self, entry_seqs: np.ndarray, rule_idx: np.ndarray, rules) -> list[dict]:
        if not len(entry_seqs):
            return []
        # the store's named reader (the one the licence register uses too): no SQL here
        details = {r["entry_seq"]: r for r in self.store.line_details(entry_seqs)}
        lines = []
        licence_state = self._licence_state()  # the licence check behind licence flags
        facts = self._facts()
        for seq, k in zip(entry_seqs, rule_idx, strict=True):
            d, r = details[int(seq)], rules[int(k)]
            shown = evidence(r, d, facts(d))
            if r["kind"] in LICENCE_RULE_KINDS:
                licence = self.licence_evidence(licence_state, int(seq), r["kind"],
                                                d["license_ref"])  # fmt: skip
                shown = {**(shown or {}), **(licence or {})}
            lines.append(
                {"order_id": d["order_id"], "line_no": d["line_no"], "revision": d["revision"],
                 "entity": d["entity"], "order_date": d["order_date"].isoformat(),
                 "chip_model": d["chip_model"], "destination": d["destination"],
                 "rule_id": r["rule_id"], "kind": r["kind"], "severity": r["severity"],
                 "reason": _reason(r, d), "evidence": shown}
            )  # fmt: skip
            if r["kind"] == PARTY_KIND:  # severity from the listing, with the evidence
                lines[-1].update(self._party_evidence(d))
        return lines

    def _facts(self):
        """line -> the reference facts its evidence cites (chip figures, buyer HQ), read from
        the resident lookups the screen itself used."""
        lk, chips, entities = (
            self.cols.lookups, self.cols.dicts["chip_model"].index, self.cols.dicts["entity"].index
        )  # fmt: skip

        def country(code: int) -> str | None:
            return C.COUNTRIES[code] if code >= 0 else None

        def facts(line: dict) -> dict:
            c, e = chips[line["chip_model"]], entities[line["entity"]]
            return {
                "chip": chip_figures(float(lk.chip_tpp[c]), float(lk.chip_area[c])),
                "chip_origin": country(int(lk.chip_origin[c])),
                "buyer_hq": country(int(lk.entity_hq[e])),
                "buyer_parent_hq": country(int(lk.entity_parent_hq[e])),
            }

        return facts
