"""The query path: the totals use case in process (parameters in, JSON out), and
`GET /v1/totals` over HTTP on loopback with 1 and with 8 concurrent clients.
"""

from __future__ import annotations

import itertools
import json
import threading
import time

import httpx

from bench.rollup import BY, kernel_rows
from bench.timing import interleave, percentile, summary

PATH = "/v1/totals?by=" + ",".join(BY) + "&currency=USD"


def _rows(answer: dict) -> dict:
    return {
        tuple(r[d] for d in BY): (r["lines"], r["quantity"], r["amount_minor"])
        for r in answer["rows"]
    }


def latency_summary(times_ms: list[float], wall_s: float | None = None) -> dict:
    out = {
        "p50_ms": percentile(times_ms, 50),
        "p99_ms": percentile(times_ms, 99),
        "min_ms": min(times_ms),
        "max_ms": max(times_ms),
        "requests": len(times_ms),
    }
    if wall_s:
        out["requests_per_s"] = len(times_ms) / wall_s
    return out


# Eight different requests of the same work: the 3 dims in each order, and two with a
# filter that keeps every line. Identical concurrent requests share one computation
# (ledger.read.queries: Queries._shared); these do not.
DISTINCT_PATHS = [
    "/v1/totals?by=" + ",".join(order) + "&currency=USD" for order in itertools.permutations(BY)
] + [
    "/v1/totals?by=" + ",".join(BY[::-1]) + "&currency=USD&acquisition=purchase&acquisition=lease",
    "/v1/totals?by=" + ",".join(BY) + "&currency=USD&acquisition=purchase&acquisition=lease",
]


def concurrent(url: str | list[str], clients: int, requests_per_client: int) -> dict:
    """`clients` threads, each with its own connection, all started together; client k
    asks for url[k] when given a list (one URL per client)."""
    urls = url if isinstance(url, list) else [url] * clients
    times: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def client(k: int) -> None:
        with httpx.Client(timeout=600) as http:
            http.get(urls[k])  # connect and warm this connection
            barrier.wait()
            for _ in range(requests_per_client):
                started = time.perf_counter()
                answer = http.get(urls[k])
                times[k].append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code}: {answer.text[:200]}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"/v1/totals failed under {clients} clients: {failures[0]}")
    return latency_summary([t for per in times for t in per], wall)


def measure(q, base_url: str | None, requests: int) -> dict:
    """{"totals_e2e_ms"} in process, plus {"totals_1_client", "totals_8_clients" (the same
    request), "totals_8_clients_distinct" (8 different requests)} over HTTP.

    In-process and 1-client HTTP calls are interleaved; the HTTP answer is checked
    equal to the kernel's first.
    """
    want = kernel_rows(q)

    def use_case(_round: int) -> str:
        return json.dumps(q.totals(BY, "USD"))

    methods = {"totals_e2e": use_case}
    http = httpx.Client(timeout=600) if base_url else None
    if http is not None:
        url = base_url + PATH

        def over_http(_round: int) -> dict:
            answer = http.get(url)
            answer.raise_for_status()
            return _rows(answer.json())

        got = over_http(0)
        if got != want:
            raise AssertionError("/v1/totals: the HTTP answer differs from the kernel's")
        methods["totals_1_client"] = over_http
    try:
        raw = interleave(methods, requests, raw=True)
    finally:
        if http is not None:
            http.close()
    result = {"query": {"totals_e2e_ms": summary(raw["totals_e2e"]),
                        **{"totals_e2e_" + k: v
                           for k, v in latency_summary(raw["totals_e2e"]).items()}}}  # fmt: skip
    if base_url:
        result["http"] = {
            "totals_1_client": latency_summary(raw["totals_1_client"]),
            "totals_8_clients": concurrent(base_url + PATH, 8, max(1, requests // 8 * 2)),
            "totals_8_clients_distinct": concurrent(
                [base_url + p for p in DISTINCT_PATHS], 8, max(1, requests // 8 * 2)
            ),
        }
    return result
