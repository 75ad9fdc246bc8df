"""Mapping profiles: an ERP export as it is -> a raw feed table of line fields. Pure: no I/O.

A profile (DESIGN section 3, reference table `mappings`) says for each line
field its source column or a constant, and how to read the column: a date
format (`%d/%m/%Y`), a decimal comma and thousands separators, a value map
(`Training` -> `training`). A field the profile does not name is read from a
column of its own name, when there is one. Columns nobody reads are refused,
or kept (`"unmapped": "keep"`) as a JSON object per line in `attributes`.

The result is text, as a CSV feed is: validation (`ledger.domain.validate`)
then checks it exactly as any feed. A profile is checked when it is stored
(`check_profile`), so a bad date format is a 422 then, not on the first feed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger.domain.errors import LedgerError, RowError, invalid
from ledger.domain.feeds import plain_column
from ledger.domain.schema import FEED_FIELDS

NUMERIC_FIELDS = ("line_no", "revision", "quantity", "unit_price")
DECIMAL_MARKS = (".", ",")
# thousands separators seen in ERP exports: comma, point, apostrophe (CH), spaces (FR)
THOUSANDS_MARKS = (",", ".", "'", " ", "\u00a0", "\u202f")
DELIMITERS = (",", ";", "\t", "|")
RULE_KEYS = {"column", "constant", "date_format", "decimal", "thousands", "values"}
PROFILE_KEYS = {"fields", "unmapped", "delimiter", "ignore"}
MAX_ERRORS = 100
# only day, month and year directives: a time of day in a date format would be dropped
_DATE_DIRECTIVES = set("dmyYbB")


@dataclass(frozen=True)
class Rule:
    column: str | None = None
    constant: str | None = None
    date_format: str | None = None
    decimal: str | None = None
    thousands: str | None = None
    values: dict[str, str] | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    fields: dict[str, Rule]
    unmapped: str = "refuse"  # or "keep" (in `attributes`)
    delimiter: str = ","
    ignore: tuple[str, ...] = ()  # source columns dropped on purpose


@dataclass(frozen=True)
class Mapped:
    table: pa.Table  # columns named as line fields, text
    attributes: pa.Array | None  # JSON object text per line (None: the profile keeps none)


# -- checking a profile (when it is stored) ----------------------------------


def _constant(value, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int) and not isinstance(value, dict | list):
        return str(value)
    raise ValueError(f"{where}.constant must be text, a number or a boolean")


def _check_date_format(fmt, where: str) -> str:
    if not isinstance(fmt, str) or not fmt:
        raise ValueError(f"{where}.date_format must be text such as %d/%m/%Y")
    directives = re.findall(r"%(.)", fmt)
    bad = sorted(set(directives) - _DATE_DIRECTIVES)
    if bad:
        raise ValueError(f"{where}.date_format: %{bad[0]} is not a day, month or year directive")
    has_day = "d" in directives
    has_month = bool({"m", "b", "B"} & set(directives))
    has_year = bool({"Y", "y"} & set(directives))
    if not (has_day and has_month and has_year):
        raise ValueError(f"{where}.date_format {fmt!r} needs a day, a month and a year")
    sample = dt.date(2025, 12, 31)
    try:  # it must read back what it writes
        if dt.datetime.strptime(sample.strftime(fmt), fmt).date() != sample:
            raise ValueError
    except ValueError:
        raise ValueError(f"{where}.date_format {fmt!r} does not read back a date") from None
    return fmt


def _check_values(values, where: str) -> dict[str, str]:
    if not isinstance(values, dict) or not values:
        raise ValueError(f"{where}.values must be an object of sent value -> line value")
    out = {}
    for k, v in values.items():
        out[str(k)] = _constant(v, f"{where}.values[{k!r}]")
    return out


def _check_numeric(target: str, decimal, thousands, where: str) -> tuple[str | None, str | None]:
    if decimal is None and thousands is None:
        return None, None
    if target not in NUMERIC_FIELDS:
        raise ValueError(f"{where}: decimal and thousands apply to {', '.join(NUMERIC_FIELDS)}")
    if decimal is not None and decimal not in DECIMAL_MARKS:
        raise ValueError(f"{where}.decimal must be one of {DECIMAL_MARKS}")
    if thousands is not None and thousands not in THOUSANDS_MARKS:
        raise ValueError(f"{where}.thousands must be one of {THOUSANDS_MARKS}")
    if decimal is not None and decimal == thousands:
        raise ValueError(f"{where}: decimal and thousands are the same mark {decimal!r}")
    if thousands == "." and decimal is None:
        raise ValueError(f"{where}: thousands '.' needs decimal ','")
    return decimal or ".", thousands


def _check_rule(target: str, spec) -> Rule:
    where = f"fields.{target}"
    if target not in FEED_FIELDS:
        raise ValueError(f"{where}: unknown line field {target!r}")
    if isinstance(spec, str):  # shorthand: "order_id": "PO Number"
        spec = {"column": spec}
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a column name or an object")
    unknown = sorted(set(spec) - RULE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; keys are {sorted(RULE_KEYS)}")
    if ("column" in spec) == ("constant" in spec):
        raise ValueError(f"{where} needs exactly one of column or constant")
    if "constant" in spec:
        if set(spec) != {"constant"}:
            raise ValueError(f"{where}: a constant takes no transform")
        return Rule(constant=_constant(spec["constant"], where))
    column = spec["column"]
    if not isinstance(column, str) or not column:
        raise ValueError(f"{where}.column must be a column name")
    date_format = spec.get("date_format")
    if date_format is not None:
        if target != "order_date":
            raise ValueError(f"{where}: date_format applies to order_date")
        date_format = _check_date_format(date_format, where)
    decimal, thousands = _check_numeric(target, spec.get("decimal"), spec.get("thousands"), where)
    values = _check_values(spec["values"], where) if "values" in spec else None
    return Rule(column, None, date_format, decimal, thousands, values)


def parse_profile(name: str, doc) -> Profile:
    """A profile document -> Profile, or ValueError naming the first fault."""
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError as e:
            raise ValueError(f"profile is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ValueError("profile must be an object with fields")
    unknown = sorted(set(doc) - PROFILE_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; keys are {sorted(PROFILE_KEYS)}")
    fields = doc.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise ValueError("fields must be an object of line field -> rule")
    rules = {target: _check_rule(target, spec) for target, spec in fields.items()}
    unmapped = doc.get("unmapped", "refuse")
    if unmapped not in ("refuse", "keep"):
        raise ValueError("unmapped must be refuse or keep")
    delimiter = doc.get("delimiter", ",")
    if delimiter not in DELIMITERS:
        raise ValueError(f"delimiter must be one of {DELIMITERS}")
    ignore = doc.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(c, str) for c in ignore):
        raise ValueError("ignore must be a list of column names")
    return Profile(name, rules, unmapped, delimiter, tuple(ignore))


def check_profile(value) -> str:
    """The registry's checker: a profile (object, or JSON text from CSV) -> canonical JSON."""
    if value is None or value == "":
        raise ValueError("required")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise ValueError(f"profile is not JSON: {e}") from None
    for key, message in getattr(value, "faults", ()):
        raise ValueError(f"profile.{key}: {message}")
    parse_profile("profile", value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# -- applying a profile to a feed --------------------------------------------


def _text(col: pa.Array) -> pa.Array:
    col = plain_column(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
    if pa.types.is_string(col.type):
        return col
    if pa.types.is_null(col.type):
        return pa.nulls(len(col), pa.string())
    return col.cast(pa.string())  # ints, booleans, dates: their plain text


def _dates(text: pa.Array, fmt: str, target: str, faults: list[RowError]) -> pa.Array:
    """Dates in the profile's format -> ISO text; each distinct value parsed once, strictly
    (Python's strptime refuses 31/02/2025, where a C parser may roll it into March)."""
    uniques = pc.unique(text.drop_null()).to_pylist()
    iso: dict[str, str | None] = {}
    for value in uniques:
        try:
            iso[value] = dt.datetime.strptime(value.strip(), fmt).date().isoformat()
        except ValueError:
            iso[value] = None
    keys = pa.array(list(iso), pa.string())
    out = pc.take(pa.array(list(iso.values()), pa.string()), pc.index_in(text, value_set=keys))
    for row in np.flatnonzero(_mask(pc.and_(pc.is_valid(text), pc.is_null(out))))[:MAX_ERRORS]:
        faults.append(RowError(int(row), target, f"{text[row].as_py()!r} is not a date in {fmt}"))
    return out


def _numbers(text: pa.Array, rule: Rule, target: str, faults: list[RowError]) -> pa.Array:
    dec, th = re.escape(rule.decimal or "."), rule.thousands
    grouped = rf"\d{{1,3}}(?:{re.escape(th)}\d{{3}})+|" if th else ""
    shape = rf"^(?:{grouped}\d+)(?:{dec}\d+)?$"
    trimmed = pc.utf8_trim_whitespace(text)
    ok = _mask(pc.match_substring_regex(trimmed, shape))
    present = _mask(pc.is_valid(text))
    form = f"written with thousands {th!r} and decimal {rule.decimal!r}"
    for row in np.flatnonzero(present & ~ok)[:MAX_ERRORS]:
        faults.append(RowError(int(row), target, f"{text[row].as_py()!r} is not a number {form}"))
    plain = pc.replace_substring(trimmed, th, "") if th else trimmed
    if rule.decimal == ",":
        plain = pc.replace_substring(plain, ",", ".")
    return pc.if_else(pa.array(present & ~ok), pa.scalar(None, pa.string()), plain)


def _values(text: pa.Array, values: dict, target: str, faults: list[RowError]) -> pa.Array:
    keys = pa.array(list(values), pa.string())
    out = pc.take(pa.array(list(values.values()), pa.string()), pc.index_in(text, value_set=keys))
    for row in np.flatnonzero(_mask(pc.and_(pc.is_valid(text), pc.is_null(out))))[:MAX_ERRORS]:
        faults.append(RowError(int(row), target, f"{text[row].as_py()!r} is not in the "
                               f"profile's values for {target}: {', '.join(values)}"))  # fmt: skip
    return out


def _mask(values) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _column(raw: pa.Table, target: str, rule: Rule, faults: list[RowError]) -> pa.Array:
    if rule.constant is not None:
        return pa.array([rule.constant] * raw.num_rows, pa.string())
    source = raw.column(rule.column)
    if not (rule.date_format or rule.decimal or rule.thousands or rule.values):
        return source  # as sent: validation reads typed columns (dates, integers) itself
    text = pc.if_else(pc.equal(_text(source), ""), pa.scalar(None, pa.string()), _text(source))
    if rule.date_format:
        text = _dates(text, rule.date_format, target, faults)
    if rule.decimal or rule.thousands:
        text = _numbers(text, rule, target, faults)
    if rule.values:
        text = _values(text, rule.values, target, faults)
    return text


def _attributes(raw: pa.Table, names: list[str]) -> pa.Array:
    """The kept columns of each line as one JSON object (text values; empty cells left out)."""
    if not names:
        return pa.nulls(raw.num_rows, pa.string())
    columns = [_text(raw.column(c)).to_pylist() for c in names]
    out = []
    for cells in zip(*columns, strict=True):
        kept = {n: v for n, v in zip(names, cells, strict=True) if v is not None and v != ""}
        out.append(json.dumps(kept, ensure_ascii=False) if kept else None)
    return pa.array(out, pa.string())


def apply(profile: Profile, raw: pa.Table) -> Mapped:
    """A raw feed table through a profile -> line-field columns (+ attributes), or 422."""
    rules = dict(profile.fields)
    for name in raw.column_names:  # a field the profile does not name: its own column
        if name in FEED_FIELDS and name not in rules:
            rules[name] = Rule(column=name)
    # a source column the feed lacks reads as empty (a cancellation feed may carry only
    # keys): validation then names a required field that is missing
    rules = {t: r for t, r in rules.items() if r.column is None or r.column in raw.column_names}
    header: list[RowError] = []
    read = {r.column for r in profile.fields.values() if r.column} | set(profile.ignore)
    read |= {r.column for r in rules.values() if r.column}
    unmapped = [c for c in raw.column_names if c not in read]
    if profile.unmapped == "refuse":
        header += [
            RowError(None, c, f"column {c!r} is not mapped by profile {profile.name!r}")
            for c in unmapped
        ]
    if header:
        raise invalid(header, len(header))
    faults: list[RowError] = []
    columns = {target: _column(raw, target, rule, faults) for target, rule in rules.items()}
    if faults:
        faults.sort(key=lambda e: (e.row, e.field))
        raise invalid(faults[:MAX_ERRORS], len(faults))
    attributes = _attributes(raw, unmapped) if profile.unmapped == "keep" else None
    return Mapped(pa.table(columns), attributes)


def unknown_profile(name: str, known: list[str]) -> LedgerError:
    shown = ", ".join(known) if known else "none is stored"
    return LedgerError(
        "unknown-mapping", "Unknown mapping profile",
        f"{name!r}; stored profiles: {shown} (PUT /v1/reference/mappings)", 422,
    )  # fmt: skip
