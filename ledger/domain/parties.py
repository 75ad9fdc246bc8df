"""Restricted-party name matching (pure): normalised names, fuzzy scores, country agreement.

Names are compared after normalisation (case, diacritics, punctuation, legal
suffixes such as "Co., Ltd." or 有限公司, runs of single letters) with
rapidfuzz's token scorers, so word order does not matter: token-sort compares
the sorted words; token-set also scores 100 when every word of the shorter name
is in the longer one ("Huawei" against "Huawei Technologies"), which screening
wants (a listed firm named by its short name), except for very short names
where a subset says little. A party matches a listing at `threshold` (0-100)
or above on its name or any alias, unless both countries are known and differ.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

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
    return float(_scores([a], [b])[0, 0])


def _scores(queries: list[str], choices: list[str]) -> np.ndarray:
    """[query, choice] similarity 0-100: token-sort everywhere, token-set (subset) where
    the shorter name is at least MIN_SUBSET_CHARS long."""
    if not queries or not choices:
        return np.zeros((len(queries), len(choices)), np.float32)
    sort = process.cdist(queries, choices, scorer=fuzz.token_sort_ratio, dtype=np.float32)
    subset = process.cdist(queries, choices, scorer=fuzz.token_set_ratio, dtype=np.float32)
    q_len = np.array([len(q) for q in queries])[:, None]
    c_len = np.array([len(c) for c in choices])[None, :]
    long_enough = np.minimum(q_len, c_len) >= MIN_SUBSET_CHARS
    return np.where(long_enough, np.maximum(sort, subset), sort)


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
    normal_parties = [normalise(p.name) for p in parties]
    scores = _scores(normal_parties, normal_names)
    owner_arr = np.array(owner, np.int64)
    out: list[list[Match]] = []
    for i, party in enumerate(parties):
        best: dict[int, Match] = {}
        for j in np.flatnonzero(scores[i] >= near) if scores.size else []:
            k = int(owner_arr[j])
            s = round(float(scores[i, j]), 1)
            if k not in best or s > best[k].score:
                agrees = countries_agree(party.country, listings[k].get("countries") or [])
                best[k] = Match(k, names[j], s, agrees)
        out.append(sorted(best.values(), key=lambda m: (-m.score, m.listing)))
    return out


def is_match(m: Match, threshold: float) -> bool:
    return m.score >= threshold and m.country_agrees
