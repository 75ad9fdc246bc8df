"""The US Consolidated Screening List (CSL) layout -> `restricted_parties` rows (pure).

The CSL (International Trade Administration, data.trade.gov) merges the
Commerce (Entity List, Denied Persons, Unverified, Military End User), State
(ITAR debarred, nonproliferation) and Treasury (SDN and non-SDN) lists. Its
JSON is `{"results": [{id, name, alt_names, addresses: [{country}], source,
start_date, end_date, federal_register_notice, source_list_url, ...}]}`; its
CSV export has the same fields as columns (`_id` for `id`; lists separated by
`;`, each address "street, city, state, postal code, country"). Fields the
ledger does not use (programs, ids, vessel data...) are ignored, so a full CSL
file imports as it is. The rows returned still go through the registry's
checkers (`ledger.reference.validate_rows`).
"""

from __future__ import annotations

import csv
import hashlib
import io

from ledger.domain.errors import LedgerError
from ledger.domain.validate import COUNTRY_CODES
from ledger.reference.checks import _loads

# What a match on each list means for the screened line. SDN: US persons may not deal
# with a blocked person at all (31 CFR 501, OFAC); DPL: a denial order bars any
# participation in an export transaction (15 CFR 764.3(a)(2)); ITAR debarment bars
# participation in defence trade (22 CFR 127.7). Entity List, Military End User and
# Unverified List entries impose licence requirements or red flags on exports *to*
# the party (15 CFR 744.11, 744.21, 744.15): a review item for a buyer, a warning.
_VIOLATION_LISTS = ("(SDN)", "(DPL)", "(DTC)")


def default_severity(list_name: str) -> str:
    return "violation" if any(code in list_name for code in _VIOLATION_LISTS) else "warning"


def parse(data: bytes, fmt: str, severity: str | None = None) -> list[dict]:
    """CSL JSON or CSV -> restricted_parties rows (party_id, list, name, alt_names,
    countries, listed_from, listed_to, severity, source); `severity` overrides the
    per-list default."""
    results = _results(data, fmt)
    rows = []
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            raise _malformed(fmt, f"result {i} is not an object")
        rows.append(_row(r, fmt, severity))
    return rows


def _malformed(fmt: str, detail: str) -> LedgerError:
    return LedgerError("malformed-reference", f"Malformed CSL {fmt}", detail, 400)


def _results(data: bytes, fmt: str) -> list:
    if fmt == "json":
        try:
            doc = _loads(data)
        except LedgerError as e:
            raise _malformed(fmt, e.detail) from None
        if isinstance(doc, dict):
            doc = doc.get("results")
        if not isinstance(doc, list):
            raise _malformed(fmt, 'expected {"results": [...]} or an array of results')
        return doc
    if fmt == "csv":
        try:
            text = data.decode("utf-8-sig")
            reader = csv.DictReader(io.StringIO(text))
            rows = [{k: v for k, v in row.items() if k is not None} for row in reader]
        except (UnicodeDecodeError, csv.Error) as e:
            raise _malformed(fmt, str(e)) from None
        if rows and "name" not in rows[0]:
            raise _malformed(fmt, "no `name` column: not the CSL layout")
        return rows
    raise LedgerError("unknown-format", "Unknown reference format", f"{fmt}: use json or csv", 415)


def _row(r: dict, fmt: str, severity: str | None) -> dict:
    list_name = _str(r.get("source"))
    name = r.get("name")
    party_id = _str(r.get("id") or r.get("_id"))
    if not party_id:  # a stable id from what identifies the listing
        digest = hashlib.sha256(f"{list_name}|{name}".encode("utf-8", "surrogatepass"))
        party_id = "csl-" + digest.hexdigest()[:16]
    return {
        "party_id": party_id,
        "list": list_name or None,
        "name": name,
        "alt_names": _list(r.get("alt_names")),
        "countries": _countries(r.get("addresses"), fmt),
        "listed_from": _day(r.get("start_date")),
        "listed_to": _day(r.get("end_date")),
        "severity": severity or default_severity(list_name),
        "source": _source(r, list_name) or None,
    }


def _str(v) -> str:
    return v.strip() if isinstance(v, str) else ("" if v is None else str(v))


def _list(v) -> list | str | None:
    """JSON arrays stay lists (the checker refuses anything else); CSV text splits on `;`."""
    if isinstance(v, str):
        return [x.strip() for x in v.split(";") if x.strip()]
    return v if v is not None else []


def _countries(addresses, fmt: str) -> list[str]:
    """ISO codes from the addresses; an address with no recognisable code adds none
    (the match then needs no country agreement for that listing)."""
    found: list[str] = []
    if isinstance(addresses, str):  # CSV: "street, city, state, postal code, country; ..."
        for address in addresses.split(";"):
            last = address.rsplit(",", 1)[-1].strip().upper()
            if last in COUNTRY_CODES:
                found.append(last)
    elif isinstance(addresses, list):
        for a in addresses:
            code = _str(a.get("country")).upper() if isinstance(a, dict) else ""
            if code in COUNTRY_CODES:
                found.append(code)
    return sorted(set(found))


def _day(v) -> str | None:
    """The CSL's dates are ISO (sometimes with a time); the checker validates the day."""
    s = _str(v)
    return s[:10] if s else None


def _source(r: dict, list_name: str) -> str:
    parts = [
        list_name,
        _str(r.get("federal_register_notice")),
        _str(r.get("source_list_url")) or _str(r.get("source_information_url")),
    ]
    return "; ".join(p for p in parts if p)[:2000]
