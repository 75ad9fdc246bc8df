"""Restricted-party screening: every party the ledger knows, matched once per change.

Parties are the suppliers and entities of the reference tables (with their HQ
country) and every lease owner and operator named on lines (no country). The
fuzzy matching of all of them against `restricted_parties` runs once per
reference change (the read state's generation) or when new owner / operator
names arrive, never per query; the lines a match flags are then found over the
resident columns (supplier and entity codes, order day, the ACTIVE flag) and
kept until the ledger grows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ledger.domain.parties import DEFAULT_THRESHOLD, Match, Party, is_match, match_all
from ledger.domain.schema import day_of
from ledger.resident import columns as C

PARTY_RULE_ID = "restricted_party"
PARTY_KIND = "restricted_party"
NOTE = (
    "Screening support, not legal advice. The shipped listings are a small excerpt of "
    "public lists; import the full Consolidated Screening List to screen in earnest."
)
_RESIDENT_ROLES = (("supplier", C.SUPPLIER), ("entity", C.ENTITY))
_LEASE_ROLES = ("owner", "operator")
_SEVERITY_RANK = {"violation": 2, "warning": 1}
# Up to this many (party, listing) pairs, plain comparisons beat two gathers by code
# (about 0.3 ms against 6 ms per million rows here).
_SCALAR_PASSES = 12


@dataclass
class _Screen:
    generation: int
    listings: list[dict]
    parties: list[Party]
    candidates: list[list[Match]]  # per party, best first (matches and near misses)
    n_seen: int  # owner / operator names are those of the first n_seen entries (or more)
    by_role: dict[str, dict[str, list[Match]]] = field(default_factory=dict)  # matches only


def _day_bounds(listing: dict) -> tuple[int, int]:
    """First and last day in force, as resident days (0..65535 since EPOCH)."""
    lo = day_of(listing["listed_from"]) if listing["listed_from"] else 0
    hi = day_of(listing["listed_to"]) if listing["listed_to"] else 2**16 - 1
    return max(lo, 0), min(hi, 2**16 - 1)


class Parties:
    """The methods of `Queries` (ledger.read.queries) for this use case."""

    party_threshold: float = DEFAULT_THRESHOLD
    _generation: int
    _party_lock: threading.Lock
    _party_screen: _Screen | None = None
    _party_hits: tuple | None = None

    # -- matching, once per change ------------------------------------------

    def _screened_parties(self) -> _Screen:
        with self._party_lock:
            screen, n = self._party_screen, self.cols.n
            if screen is None or screen.generation != self._generation:
                screen = self._match(self.store.lease_party_names(0), n)
            elif n > screen.n_seen:
                known = {(p.kind, p.name) for p in screen.parties}
                new = [x for x in self.store.lease_party_names(screen.n_seen) if x not in known]
                if new:  # only the new names are matched; the others' matches stand
                    screen = self._with_parties(
                        screen, [Party(role, name, None) for role, name in sorted(set(new))], n
                    )
                else:
                    screen.n_seen = n
            self._party_screen = screen
            return screen

    def _match(self, lease_names: list[tuple[str, str]], n: int) -> _Screen:
        listings = self.store.reference("restricted_parties").to_pylist()
        parties = [
            Party(kind, r[column], r["hq_country"])
            for kind, table, column in (
                ("supplier", "suppliers", "supplier"), ("entity", "entities", "entity"),
            )
            for r in self.store.reference(table).to_pylist()
        ]  # fmt: skip
        parties += [Party(role, name, None) for role, name in sorted(set(lease_names))]
        return self._with_parties(_Screen(self._generation, listings, [], [], n), parties, n)

    def _with_parties(self, screen: _Screen, parties: list[Party], n: int) -> _Screen:
        """A new screen: `screen`'s parties and matches plus those of `parties`."""
        candidates = match_all(parties, screen.listings, self.party_threshold)
        out = _Screen(screen.generation, screen.listings, screen.parties + parties,
                      screen.candidates + candidates, n)  # fmt: skip
        for party, found in zip(out.parties, out.candidates, strict=True):
            matches = [m for m in found if is_match(m, self.party_threshold)]
            if matches:
                out.by_role.setdefault(party.kind, {})[party.name] = matches
        return out

    # -- the lines the matches flag -----------------------------------------

    def _party_flags(self) -> tuple[np.ndarray, str]:
        """Entry rows (sorted) flagged by a match in force on their order day, and the
        severity of the rule's counts row. Caller holds cols.lock."""
        screen, n = self._screened_parties(), self.cols.n
        cached = self._party_hits
        if cached is not None and cached[0] is screen and cached[1] == n:
            return cached[2], cached[3]
        view = self.cols.view()
        codes, active = view["codes"], (view["flags"] & C.ACTIVE) != 0
        day = codes[C.DAY, :n]  # uint16 days since EPOCH; bounds are clipped to that range
        flagged = np.zeros(n, np.bool_)  # a mask, not np.unique: one pass, no sort or hash
        hit_listings: set[int] = set()
        for role, src in _RESIDENT_ROLES:
            names = self.cols.dicts[C.SOURCES[src]]
            wanted = {names.index[p]: m for p, m in screen.by_role.get(role, {}).items()
                      if p in names.index}  # fmt: skip
            if wanted and n:
                self._resident_role(codes[src, :n], day, active, wanted, len(names), screen,
                                    flagged, hit_listings)  # fmt: skip
        for role in _LEASE_ROLES:
            by_name = screen.by_role.get(role, {})
            if not by_name or not n:
                continue
            named = self.store.entries_naming(role, list(by_name))
            seqs = named["entry_seq"].to_numpy().astype(np.int64)
            keep = seqs < n
            seqs, who = seqs[keep], np.asarray(named["name"].to_pylist(), object)[keep]
            seqs_active = active[seqs]
            for name, matches in by_name.items():
                rows = seqs[(who == name) & seqs_active]
                self._in_force(rows, day, matches, screen, flagged, hit_listings)
        hits = np.flatnonzero(flagged)
        severities = {screen.listings[k]["severity"] for k in hit_listings} or {
            r["severity"] for r in screen.listings
        }
        severity = max(severities, key=_SEVERITY_RANK.get, default="violation")
        self._party_hits = (screen, n, hits, severity)
        return hits, severity

    @staticmethod
    def _resident_role(
        src_codes, day, active, wanted: dict[int, list[Match]], n_codes: int, screen: _Screen,
        flagged, hit_listings: set,
    ) -> None:  # fmt: skip
        """Mark the active rows whose code is a matched party's and whose day is inside the
        listing's dates. A few parties: a pass of plain comparisons per (party, listing);
        more: per-code day bounds gathered by code, one pass per match rank (a party
        matching three listings takes three), whatever the number of parties."""
        if sum(len(m) for m in wanted.values()) <= _SCALAR_PASSES:
            for code, matches in wanted.items():
                is_code = (src_codes == code) & active
                for m in matches:
                    lo, hi = _day_bounds(screen.listings[m.listing])
                    mask = is_code & (day >= lo) & (day <= hi)
                    if mask.any():
                        flagged |= mask
                        hit_listings.add(m.listing)
            return
        for rank in range(max(len(m) for m in wanted.values())):
            lo = np.ones(n_codes, np.int32)  # lo > hi: no day, for codes without this rank
            hi = np.zeros(n_codes, np.int32)
            for code, matches in wanted.items():
                if rank < len(matches):
                    lo[code], hi[code] = _day_bounds(screen.listings[matches[rank].listing])
            mask = active & (day >= lo[src_codes]) & (day <= hi[src_codes])
            flagged |= mask
            for code in np.flatnonzero(np.bincount(src_codes[mask], minlength=n_codes)):
                hit_listings.add(wanted[int(code)][rank].listing)

    @staticmethod
    def _in_force(
        rows, day, matches: list[Match], screen: _Screen, flagged, hit_listings: set
    ) -> None:  # fmt: skip
        """Mark the rows whose order day is inside a matched listing's dates."""
        d = day[rows]
        for m in matches:
            lo, hi = _day_bounds(screen.listings[m.listing])
            sel = rows[(d >= lo) & (d <= hi)]
            if sel.size:
                flagged[sel] = True
                hit_listings.add(m.listing)

    # -- evidence ---------------------------------------------------------

    def _party_evidence(self, line: dict) -> dict:
        """severity, reason and evidence of a flagged line (supplier, entity, owner, operator,
        order_date as stored)."""
        screen = self._screened_parties()
        day = day_of(line["order_date"])
        evidence = []
        for role in ("supplier", "entity", *_LEASE_ROLES):
            name = line.get(role)
            for m in screen.by_role.get(role, {}).get(name, []) if name else []:
                listing = screen.listings[m.listing]
                lo, hi = _day_bounds(listing)
                if lo <= day <= hi:
                    evidence.append({"role": role, "party": name, **_listing_json(m, listing)})
        evidence.sort(key=lambda e: (-_SEVERITY_RANK[e["severity"]], -e["score"]))
        if not evidence:  # the listings changed since the flags were found
            return {"reason": "no listing in force matches any more",
                    "evidence": {"matches": []}}  # fmt: skip
        e = evidence[0]
        reason = (
            f"{e['role']} {e['party']!r} matches {e['matched_name']!r}"
            + (
                f" (listed as {e['listed_name']!r})"
                if e["listed_name"] != e["matched_name"]
                else ""
            )
            + f" on the {e['list']} "
            f"(score {e['score']:g}, listed from {e['listed_from'] or 'an unknown date'}; "
            f"source: {e['source']})"
        )
        # evidence is an object on every flag (ledger.read.evidence): the matches in force
        return {"severity": e["severity"], "reason": reason, "evidence": {"matches": evidence}}

    def parties(self) -> dict:
        """Every party the ledger knows with its best candidate listings (matches first)."""
        screen = self._screened_parties()
        out = []
        for party, found in zip(screen.parties, screen.candidates, strict=True):
            best = [
                {**_listing_json(m, screen.listings[m.listing]),
                 "match": is_match(m, self.party_threshold)}
                for m in found[:5]
            ]  # fmt: skip
            out.append({"kind": party.kind, "name": party.name, "country": party.country,
                        "matched": any(b["match"] for b in best), "matches": best})  # fmt: skip
        return {
            "threshold": self.party_threshold, "listings": len(screen.listings),
            "parties": out, "matched": sum(p["matched"] for p in out), "note": NOTE,
        }  # fmt: skip


def _listing_json(m: Match, listing: dict) -> dict:
    return {
        "party_id": listing["party_id"], "listed_name": listing["name"],
        "matched_name": m.matched_name, "list": listing["list"], "score": m.score,
        "country_agrees": m.country_agrees, "countries": listing["countries"],
        "listed_from": listing["listed_from"].isoformat() if listing["listed_from"] else None,
        "listed_to": listing["listed_to"].isoformat() if listing["listed_to"] else None,
        "severity": listing["severity"], "source": listing["source"],
    }  # fmt: skip
