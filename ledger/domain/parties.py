"""Restricted-party name matching (pure): normalised names, fuzzy scores, country agreement.

Names are compared after normalisation (case, diacritics, punctuation, legal
suffixes such as "Co., Ltd." or 有限公司, runs of single letters) with
rapidfuzz's token-sort ratio (the sorted words compared), so word order does
not matter; a name whose words are all in the other's scores 100, as
rapidfuzz's token-set ratio would ("Huawei" against "Huawei Technologies"),
which screening wants (a listed firm named by its short name), except for very
short names where a subset says little. A party matches a listing at `threshold` (0-100)
or above on its name or any alias, unless both countries are known and differ.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

DEFAULT_THRESHOLD = 90

# Legal-form words dropped from the end of a name (after case folding and punctuation).
LEGAL_SUFFIXES = frozenset(
    "co company corp corporation inc incorporated ltd limited llc llp lp plc gmbh ag kg "
    "sa sas sarl srl spa bv nv oy ab as asa kk pte pty pvt bhd sdn jsc pjsc ojsc ooo oao zao "
    "cjsc tbk ulc lc".split()
)
# CJK legal forms, longest first (no spaces to split on): 股份有限公司 (company limited by
# shares), 有限责任公司 / 有限責任公司 (limited liability company), 有限公司 (limited),
# 株式会社 (kabushiki kaisha), 公司 (company).
CJK_SUFFIXES = ("股份有限公司", "有限责任公司", "有限責任公司", "有限公司", "株式会社", "公司")
_BLOCK = 256  # parties scored at once against every listed name
# Tokens no shorter than this may match as a subset of a longer name (token-set ratio).
MIN_SUBSET_CHARS = 4
# The EAR treats Hong Kong and Macau as China (85 FR 83765, 2020-12-23; the rule pack's
# destination lists name all three), so a listing under China agrees with an HK party.
_SAME_COUNTRY = {"HK": "CN", "MO": "CN"}

_NOT_WORD = re.compile(r"[^\w]+")
_SINGLE_LETTERS = re.compile(r"\b(?:[a-z] )+[a-z]\b")


def normalise(name: str) -> str:
    """A name for comparison: NFKC, CJK legal forms dropped, diacritics dropped, case folded,
    punctuation to spaces, single-letter runs joined ("s a" -> "sa"), legal suffixes
    dropped from the end, "the" dropped from the start."""
    s = unicodedata.normalize("NFKC", name).strip()
    for suffix in CJK_SUFFIXES:
        if s.endswith(suffix) and len(s) > len(suffix):
            s = s[: -len(suffix)]
            break
    if not s.isascii():
        s = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    s = _NOT_WORD.sub(" ", s.casefold().replace("&", " and ")).replace("_", " ")
    s = _SINGLE_LETTERS.sub(lambda m: m.group(0).replace(" ", ""), " ".join(s.split()))
    words = s.split()
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    return " ".join(words)


def score(a: str, b: str) -> float:
    """Similarity of two normalised names, 0-100."""
    return float(_scores([a], [b], _TokenIndex([b]), 0)[0].get(0, 0.0))


class _TokenIndex:
    """Which names hold each word, and how many distinct words each name has: finds the
    names whose words are a subset or a superset of a query's without scoring them all
    (rapidfuzz's token-set scorer is ~25x slower than token-sort over a whole list)."""

    def __init__(self, names: list[str]):
        lists: dict[str, list[int]] = {}
        self.n_words = np.zeros(len(names), np.int64)
        for j, name in enumerate(names):
            words = set(name.split())
            self.n_words[j] = len(words)
            for w in words:
                lists.setdefault(w, []).append(j)
        self.postings = lists  # as lists: most words are in one name, and asked for never

    def subset_or_superset(self, query: str) -> np.ndarray:
        words = set(query.split())
        held = [np.asarray(self.postings[w], np.int64) for w in words if w in self.postings]
        if not held:
            return np.zeros(0, np.int64)
        shared = np.bincount(np.concatenate(held), minlength=self.n_words.size)
        return np.flatnonzero((shared == len(words)) | ((shared > 0) & (shared == self.n_words)))


def _sorted_words(name: str) -> str:
    return " ".join(sorted(name.split()))


def _scores(queries: list[str], names: list[str], index: _TokenIndex, near: float) -> list:
    """Per query, name index -> score (0-100) for the names scoring >= near: the token-sort
    ratio (the plain ratio of the sorted words, sorted once per name here rather than per
    pair), and 100 where one name's words are all in the other's (both at least
    MIN_SUBSET_CHARS long). In blocks of queries, so memory stays at a block x names."""
    # imported here: only party screening needs it, never the service's start
    from rapidfuzz import fuzz, process

    sorted_names = [_sorted_words(n) for n in names]
    out: list[dict[int, float]] = []
    for lo in range(0, len(queries), _BLOCK):
        block = [_sorted_words(q) for q in queries[lo : lo + _BLOCK]]
        ratios = process.cdist(
            block, sorted_names, scorer=fuzz.ratio, dtype=np.float32, score_cutoff=near,
            workers=-1,
        )  # fmt: skip
        for row in ratios:
            out.append({int(j): float(row[j]) for j in np.flatnonzero(row >= max(near, 1e-9))})
    for query, found in zip(queries, out, strict=True):
        if len(query) >= MIN_SUBSET_CHARS:
            for j in index.subset_or_superset(query).tolist():
                if len(names[j]) >= MIN_SUBSET_CHARS:
                    found[j] = 100.0
    return out


def countries_agree(party_country: str | None, listed: list[str]) -> bool:
    """True unless both are known and differ (HK and MO count as CN)."""
    if not party_country or not listed:
        return True
    mine = _SAME_COUNTRY.get(party_country, party_country)
    return mine in {_SAME_COUNTRY.get(c, c) for c in listed}


@dataclass(frozen=True)
class Party:
    kind: str  # supplier, entity, owner, operator
    name: str
    country: str | None  # HQ country where the reference tables know it


@dataclass(frozen=True)
class Match:
    listing: int  # index into the listings matched against
    matched_name: str  # the listed name or alias that scored best
    score: float
    country_agrees: bool


def match_all(
    parties: list[Party], listings: list[dict], threshold: float, near: float | None = None
) -> list[list[Match]]:
    """For each party, its candidate listings scoring >= `near` (default threshold - 15),
    best first; a candidate is a match when score >= threshold and countries agree."""
    near = threshold - 15 if near is None else near
    names, owner = [], []
    for k, listing in enumerate(listings):
        for n in [listing["name"], *listing.get("alt_names", [])]:
            names.append(n)
            owner.append(k)
    normal_names = [normalise(n) for n in names]
    scores = _scores([normalise(p.name) for p in parties], normal_names,
                     _TokenIndex(normal_names), near)  # fmt: skip
    out: list[list[Match]] = []
    for party, found in zip(parties, scores, strict=True):
        best: dict[int, Match] = {}
        for j, s in found.items():
            k, s = owner[j], round(s, 1)
            if k not in best or s > best[k].score:
                agrees = countries_agree(party.country, listings[k].get("countries") or [])
                best[k] = Match(k, names[j], s, agrees)
        out.append(sorted(best.values(), key=lambda m: (-m.score, m.listing)))
    return out


def is_match(m: Match, threshold: float) -> bool:
    return m.score >= threshold and m.country_agrees
