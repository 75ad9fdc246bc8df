"""A stateful model of the ledger: every step checked against a plain dict (issue 10 item 7).

Hypothesis drives a real Ledger on a tmp file through ingest, replay, conflict,
revision, cancellation, stale revisions, a stop budget and restarts (with and
without the column cache). After every step the ledger must agree with the
model: each line key's current state, totals through the kernels and through
SQL (converted per line, half-even, at the golden rates), and `line_entries`
append-only (a digest of the rows seen before never changes) with a dense
`entry_seq`. Bounded by counts (examples x steps), never by time.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from ledger.domain.errors import LedgerError
from ledger.ledger import Ledger
from tests.conftest import HEADER, RATES, load_reference
from tests.reference import convert

EXPONENT = {"USD": 2, "CNY": 2, "JPY": 0, "EUR": 2, "KWD": 3}  # ISO 4217 minor units
CHIPS = [("Huawei", "Ascend 910B"), ("Nvidia", "H20"), ("Cambricon", "MLU590"), ("Nvidia", "H100")]
# conftest ENTITIES_CSV: ACME-CN's fiscal year is the calendar year, ACME-SG's starts in April
ENTITIES = ["ACME-CN", "ACME-SG"]
CODES = ["DOM-2025", "LAB-2025"]
KEYS = [(f"PO-{o}", n) for o in range(10) for n in range(1, 5)]
DAY0 = dt.date(2025, 1, 1)  # every golden currency has a rate from this day
# The one budget the model tracks: every order date is in 2025, ACME-CN's fiscal year 2025.
BUDGET = {"entity": "ACME-CN", "budget_code": "DOM-2025", "fiscal_year": 2025, "currency": "USD"}


@dataclass(frozen=True)
class Content:
    """A line's fields other than its key, revision and status."""

    entity: str
    chip: int
    quantity: int
    price_minor: int
    currency: str
    day: int  # days after DAY0
    code: str

    @property
    def order_date(self) -> dt.date:
        return DAY0 + dt.timedelta(days=self.day)


contents = st.builds(
    Content,
    entity=st.sampled_from(ENTITIES),
    chip=st.integers(0, len(CHIPS) - 1),
    quantity=st.integers(1, 10_000),
    price_minor=st.integers(1, 10**8),
    currency=st.sampled_from(sorted(EXPONENT)),
    day=st.integers(0, 180),  # across CNY's rate change on 2025-03-01
    code=st.sampled_from(CODES),
)


@dataclass(frozen=True)
class Line:
    revision: int
    status: str
    content: Content

    @property
    def quantity(self) -> int:
        return self.content.quantity if self.status == "open" else 0

    @property
    def amount_minor(self) -> int:
        return self.quantity * self.content.price_minor

    @property
    def usd_minor(self) -> int:
        """Its USD value, converted once at its order date, half-even (the ledger's rule)."""
        c = self.content
        units = Decimal(self.amount_minor).scaleb(-EXPONENT[c.currency])
        return convert(units, c.currency, "USD", c.order_date, RATES)

    @property
    def in_budget(self) -> bool:
        return (self.content.entity, self.content.code) == ("ACME-CN", "DOM-2025")


def _as_stored(status: str, content: Content) -> Content:
    """A cancelled line is stored with quantity 0: quantities alone do not tell it apart."""
    return replace(content, quantity=0) if status == "cancelled" else content


def price_text(minor: int, currency: str) -> str:
    e = EXPONENT[currency]
    return str(minor) if e == 0 else f"{minor // 10**e}.{minor % 10**e:0{e}d}"


def csv_line(key: tuple[str, int], line: Line) -> str:
    c = line.content
    supplier, chip = CHIPS[c.chip]
    return (
        f"{key[0]},{key[1]},{line.revision},{line.status},{c.entity},{c.order_date},{supplier},"
        f"{chip},{c.quantity},{price_text(c.price_minor, c.currency)},{c.currency},CN,{c.code},"
        "training,purchase,,,false,"
    )


def feed_bytes(lines: dict[tuple[str, int], Line]) -> bytes:
    return "\n".join([HEADER, *(csv_line(k, v) for k, v in lines.items())]).encode() + b"\n"


class LedgerModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="stateful-"))
        self.path = self.folder / "ledger.duckdb"
        self.ledger = Ledger.open(self.path)
        load_reference(self.ledger)
        self.lines: dict[tuple[str, int], Line] = {}  # the model: each key's current line
        self.feeds: list[tuple[str, bytes, dict]] = []  # accepted: (feed id, bytes, answer)
        self.budget_minor: int | None = None  # the stop budget, when one is set
        self.n_feeds = 0
        self.seen = (0, "")  # (entries, digest of them) at the previous step

    def teardown(self):
        self.ledger.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- helpers -----------------------------------------------------------

    def _free(self) -> list[tuple[str, int]]:
        return [k for k in KEYS if k not in self.lines]

    def _committed(self) -> int:
        return sum(v.usd_minor for v in self.lines.values() if v.in_budget)

    def _refused_by_budget(self, feed: dict[tuple[str, int], Line]) -> bool:
        """The guard's rule: only a feed that adds to the budget may be refused by it."""
        if self.budget_minor is None:
            return False
        delta = 0
        for key, line in feed.items():
            old = self.lines.get(key)
            if old is not None and old == line:
                continue  # unchanged: no entry
            delta += line.usd_minor if line.in_budget else 0
            delta -= old.usd_minor if old is not None and old.in_budget else 0
        return delta > 0 and self._committed() + delta > self.budget_minor

    def _send(self, feed: dict[tuple[str, int], Line]) -> None:
        """Send a feed the model says is valid: accepted, or refused by the stop budget."""
        self.n_feeds += 1
        feed_id, data = f"feed-{self.n_feeds}", feed_bytes(feed)
        before = self.ledger.store.content_hash()
        if self._refused_by_budget(feed):
            with pytest.raises(LedgerError) as e:
                self.ledger.ingest_bytes(data, "csv", feed_id)
            assert (e.value.status, e.value.kind) == (409, "budget-exceeded")
            assert self.ledger.store.content_hash() == before
            return
        result = self.ledger.ingest_bytes(data, "csv", feed_id)
        unchanged = sum(1 for k, v in feed.items() if self.lines.get(k) == v)
        reversals = sum(
            1 for k, v in feed.items() if k in self.lines and self.lines[k] != v
            and self.lines[k].status == "open"
        )  # fmt: skip
        assert not result.replay
        assert result.answer["lines_accepted"] == len(feed) - unchanged
        assert result.answer["lines_unchanged"] == unchanged
        assert result.answer["entries_appended"] == len(feed) - unchanged + reversals
        self.lines.update(feed)
        self.feeds.append((feed_id, data, result.answer))

    def _refused(self, data: bytes, feed_id: str, status: int, kind: str) -> None:
        before = self.ledger.store.content_hash()
        with pytest.raises(LedgerError) as e:
            self.ledger.ingest_bytes(data, "csv", feed_id)
        assert (e.value.status, e.value.kind) == (status, kind), e.value
        assert self.ledger.store.content_hash() == before

    # -- rules -------------------------------------------------------------

    @initialize(first=st.lists(contents, min_size=1, max_size=4))
    def ingest_a_first_feed(self, first):
        self._send({k: Line(0, "open", c) for k, c in zip(KEYS, first, strict=False)})

    @precondition(lambda self: self._free())
    @rule(picks=st.lists(st.integers(0, len(KEYS)), min_size=1, max_size=4), data=st.data())
    def ingest_new_lines(self, picks, data):
        free = self._free()
        keys = list(dict.fromkeys(free[p % len(free)] for p in picks))
        self._send({k: Line(0, "open", data.draw(contents)) for k in keys})

    @precondition(lambda self: self.lines)
    @rule(pick=st.integers(0, len(KEYS)), step=st.integers(1, 2), content=contents)
    def revise_a_line(self, pick, step, content):
        key = sorted(self.lines)[pick % len(self.lines)]
        self._send({key: Line(self.lines[key].revision + step, "open", content)})

    @precondition(lambda self: self.lines)
    @rule(pick=st.integers(0, len(KEYS)))
    def cancel_a_line(self, pick):
        key = sorted(self.lines)[pick % len(self.lines)]
        cur = self.lines[key]  # a cancellation carries the whole line at a higher revision
        self._send({key: Line(cur.revision + 1, "cancelled", cur.content)})

    @precondition(lambda self: self.lines)
    @rule(pick=st.integers(0, len(KEYS)))
    def resend_unchanged_in_a_new_feed(self, pick):
        key = sorted(self.lines)[pick % len(self.lines)]
        self._send({key: self.lines[key]})

    @precondition(lambda self: self.feeds)
    @rule(pick=st.integers(0, 1000))
    def replay_a_feed(self, pick):
        feed_id, data, answer = self.feeds[pick % len(self.feeds)]
        before = self.ledger.store.content_hash()
        result = self.ledger.ingest_bytes(data, "csv", feed_id)
        assert result.replay and result.answer == answer
        assert self.ledger.store.content_hash() == before

    @precondition(lambda self: len({d for _, d, _ in self.feeds}) > 1)
    @rule(pick=st.integers(0, 1000), other=st.integers(1, 1000))
    def reuse_a_feed_id_for_other_bytes(self, pick, other):
        feed_id, data, _ = self.feeds[pick % len(self.feeds)]
        others = [d for _, d, _ in self.feeds if d != data]
        self._refused(others[other % len(others)], feed_id, 409, "feed-conflict")

    @precondition(lambda self: self.lines)
    @rule(pick=st.integers(0, len(KEYS)), older=st.booleans(), content=contents)
    def send_a_stale_or_clashing_revision(self, pick, older, content):
        key = sorted(self.lines)[pick % len(self.lines)]
        cur = self.lines[key]
        if older and cur.revision > 0:
            line = Line(cur.revision - 1, cur.status, cur.content)  # older than the ledger's
        elif _as_stored(cur.status, content) != _as_stored(cur.status, cur.content):
            line = Line(cur.revision, cur.status, content)  # same revision, other content
        else:
            return
        self.n_feeds += 1
        self._refused(feed_bytes({key: line}), f"feed-{self.n_feeds}", 422, "invalid-feed")

    @precondition(lambda self: self._free())
    @rule(slack_minor=st.integers(0, 10**6), pick=st.integers(0, len(KEYS)))
    def exceed_a_stop_budget(self, slack_minor, pick):
        self.budget_minor = self._committed() + slack_minor
        amount = Decimal(self.budget_minor).scaleb(-2)
        self.ledger.load_reference(
            "budgets", json.dumps([{**BUDGET, "amount": str(amount), "action": "stop"}]).encode(),
            "json",
        )  # fmt: skip
        free = self._free()
        # USD 10^4 x 1000 units: far past any slack drawn
        big = Content("ACME-CN", 1, 1000, 10**6, "USD", 10, "DOM-2025")
        feed = {free[pick % len(free)]: Line(0, "open", big)}
        assert self._refused_by_budget(feed)
        self._send(feed)

    @precondition(lambda self: self.budget_minor is not None)
    @rule()
    def lift_the_budget(self):
        self.ledger.load_reference(
            "budgets", json.dumps([{**BUDGET, "amount": "0", "action": "ignore"}]).encode(), "json"
        )
        self.budget_minor = None

    @rule(cache=st.booleans())
    def restart(self, cache):
        self.ledger.close()
        self.ledger = Ledger.open(self.path, cache=cache)

    # -- the invariant -----------------------------------------------------

    @invariant()
    def ledger_agrees_with_the_model(self):
        store = self.ledger.store
        current = {
            (r["order_id"], r["line_no"]): (r["revision"], r["status"], r["quantity"],
                                            r["amount_minor"], r["currency"])
            for r in store.query(
                "SELECT order_id, line_no, revision, status, quantity, amount_minor, currency "
                "FROM orders"
            ).to_pylist()
        }  # fmt: skip
        assert current == {
            k: (v.revision, v.status, v.quantity, v.amount_minor, v.content.currency)
            for k, v in self.lines.items()
        }
        assert store.count("feeds") == len(self.feeds)
        self._check_totals()
        self._check_append_only()

    def _check_totals(self) -> None:
        open_lines = [v for v in self.lines.values() if v.status == "open"]
        usd = sum(v.usd_minor for v in open_lines)
        total = self.ledger.totals(["line_currency"], "USD")
        assert total["total"]["lines"] == len(open_lines)
        assert total["total"]["quantity"] == sum(v.quantity for v in open_lines)
        assert total["total"]["amount_minor"] == usd
        by_currency: dict[str, list[int]] = {}
        for v in open_lines:
            acc = by_currency.setdefault(v.content.currency, [0, 0, 0])
            acc[0], acc[1], acc[2] = acc[0] + 1, acc[1] + v.quantity, acc[2] + v.usd_minor
        assert {
            r["line_currency"]: [r["lines"], r["quantity"], r["amount_minor"]]
            for r in total["rows"]
        } == {c: acc for c, acc in by_currency.items() if any(acc)}
        table, _ = self.ledger.sql(
            "SELECT coalesce(sum(amount_usd_minor), 0)::BIGINT AS usd FROM orders_usd "
            "WHERE status = 'open'"
        )
        assert table["usd"][0].as_py() == usd

    def _check_append_only(self) -> None:
        n, seen_digest = self.seen
        # one pass: the digest of the rows seen at the previous step, and of all rows now
        row = self.ledger.store.query(
            "SELECT count(*) AS n, coalesce(max(entry_seq) + 1, 0) AS top, "
            "count(DISTINCT entry_seq) AS d, "
            "coalesce(md5(string_agg(t::VARCHAR, '|' ORDER BY t.entry_seq) "
            f"FILTER (WHERE t.entry_seq < {int(n)})), '') AS seen, "
            "coalesce(md5(string_agg(t::VARCHAR, '|' ORDER BY t.entry_seq)), '') AS now "
            "FROM line_entries t"
        ).to_pylist()[0]
        assert row["seen"] == seen_digest, "an earlier line_entries row changed"
        assert row["n"] == row["top"] == row["d"] == self.ledger.store.counters()[0]
        self.seen = (row["n"], row["now"])


LedgerModel.TestCase.settings = settings(
    settings.get_profile("ci"), max_examples=10, stateful_step_count=25
)
test_ledger_matches_a_dict_model = pytest.mark.slow(LedgerModel.TestCase)
