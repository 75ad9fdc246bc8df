"""Start-up (issue 14): the first answers wait only for the kernels they use, and the
"serving" line comes once the socket accepts."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from kernels import cpu, dispatch
from ledger import demo
from tests.test_api_support import ROOT, free_port


def test_warm_up_compiles_only_what_it_is_asked_for(monkeypatch):
    warmed: list[str] = []
    monkeypatch.setattr(dispatch, "_warm_one", lambda name, which: warmed.append(name))
    told: list[str] = []
    dispatch.warm_up("cpu", ("key_search", "rollup:2"), lambda name, s: told.append(name))
    assert warmed == told == ["key_search", "rollup:2"]
    warmed.clear()
    dispatch.warm_up("cpu")
    assert warmed == list(dispatch.KERNELS) and len(set(warmed)) == len(warmed)


def test_an_unknown_kernel_name_is_refused():
    with pytest.raises(ValueError, match="no kernel 'rollup:x'"):
        dispatch.warm_up("cpu", ("rollup:x",))
    with pytest.raises(ValueError, match="no kernel 'screan'"):
        dispatch.warm_up("cpu", ("screan",))


def test_the_demo_build_and_first_totals_use_only_the_first_kernels(ledger, tmp_path, monkeypatch):
    """What `serve --demo` runs before and for its first GET /v1/totals: had it needed a kernel
    outside FIRST_ANSWER, a cold start would compile that one before the first answer too."""
    used: set[str] = set()
    term_tuples = cpu._term_tuples

    def recording_term_tuples(*args):
        rows, tabs = term_tuples(*args)
        used.add(f"rollup:{len(rows)}")  # the roll-up's specialisation: the tuple length
        return rows, tabs

    monkeypatch.setattr(cpu, "_term_tuples", recording_term_tuples)
    for name in (
        "screen",
        "licences",
        "read_floor",
        "json_lines",
        "key_search",
        "decimal_parts",
        "integer_parts",
        "flag_counts",
        "flag_page",
    ):
        inner = getattr(dispatch, name)

        def recording(*args, _inner=inner, _name=name, **kwargs):
            used.add(_name)
            return _inner(*args, **kwargs)

        monkeypatch.setattr(dispatch, name, recording)
    demo.build(ledger, 3_000, batch_lines=1_000)
    ledger.totals(by=["entity"])
    ledger.totals()
    assert {"rollup:1", "rollup:3", "key_search"} <= used  # the recording saw them
    assert used <= set(dispatch.FIRST_ANSWER), used - set(dispatch.FIRST_ANSWER)


@pytest.mark.slow
def test_the_serving_line_comes_once_the_socket_accepts(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIP_LEDGER_")}
    env["PYTHONPATH"] = str(ROOT)
    db = tmp_path / "ledger.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--db", str(db), "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("chip-ledger: serving"):
                # at once, no retry: the line promises a listening socket
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30)
                assert answer.status_code == 200
                assert (db.parent / "ledger.duckdb.serving.json").exists()
                break
        else:
            pytest.fail("no serving line:\n" + "".join(seen))
        log = "".join(seen)
        assert log.index("Application startup complete") < log.index("chip-ledger: serving")
        assert "kernels: rollup:1 ready in" in log  # progress of the first answers' kernels
        deadline = time.monotonic() + 120  # the rest compile (load) in the background
        for line in proc.stdout:
            seen.append(line)
            if "kernels: all" in line or time.monotonic() > deadline:
                break
        assert f"kernels: all {len(dispatch.KERNELS)} ready" in "".join(seen)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
