"""bench/bench_scaling.py's pure parts: the extrapolation math, the pipeline arithmetic, and the
per-child measurement (wall time, peak memory from os.wait4, timed output lines, the timeout) on
trivial subprocesses. No dataset, no model: a few seconds."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def bench():
    """The script as a module (its work is in main(), so importing it runs nothing)."""
    spec = importlib.util.spec_from_file_location("bench_scaling", ROOT / "bench" / "bench_scaling.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_power_law_and_affine(bench):
    assert bench.power_law(1, 1, 10, 10, 100) == pytest.approx(100)          # linear stays linear
    assert bench.power_law(1e5, 2, 1e6, 20, 1e7) == pytest.approx(200)
    assert bench.power_law(1, 1, 10, 100, 100) == pytest.approx(10_000)      # quadratic
    assert bench.power_law(1, 1, 10, 1e6, 100) == pytest.approx(1e6 * 10 ** bench.MAX_EXPONENT)  # clamped
    assert bench.power_law(1, 5, 10, 4, 100) == pytest.approx(4)             # falling: noise, held flat
    assert bench.affine(0, 100, 10, 200, 20) == pytest.approx(300)           # base 100 + 10 per unit
    assert bench.affine(0, 300, 10, 200, 20) == pytest.approx(200)           # never falls
    assert bench.ratio(2, 5) == 2.5 and bench.ratio(0, 5) is None and bench.ratio(2, None) is None


def test_pipeline_arithmetic(bench):
    plan = bench.Plan(runs=[("longtail", "SASRec", "base"), ("longtail", "SASRec", "pte"),
                            ("coldstart", "SASRec", "base")], generate=["item", "user"], align=["longtail"], train=[])
    units = {"SASRec longtail:train_epoch_s": 2.0, "SASRec longtail:eval_s": 1.0, "SASRec longtail:fixed_s": 5.0,
             "profile:each_s": 0.5, "profile:fixed_s": 10.0, "align:epoch_s": 3.0, "align:fixed_s": 4.0}
    shipped = ({("longtail", "SASRec", "base"): [10, 12, 14]}, {"longtail": 6})
    parts = bench.pipeline_parts(units, {"items": 100, "users": 50}, plan, shipped)
    # base: median 12 epochs; pte: no lines of its own, so the backbone/setting's median (12)
    assert parts["backbone runs (3)"] == pytest.approx(2 * (5 + 12 * (2 + 1) + 2 * 1))
    assert parts["backbone runs not measured (1)"] is None                  # coldstart: no unit costs
    assert parts["profiles (item + user)"] == pytest.approx((10 + 0.5 * 100) + (10 + 0.5 * 50))
    assert parts["alignment (longtail)"] == pytest.approx(4 + 6 * 3)
    assert parts["prepare"] is None
    assert parts["Profile-stage training (RESULTS.md, not measured)"] == 0.0


def test_measure_peak_memory_and_lines():
    """Measured from a fresh, small interpreter, as the benchmark runs: Linux carries the launching
    process's high-water mark into a child at exec, so under pytest (hundreds of MiB with torch)
    every child would read at least pytest's own peak."""
    child = ("import sys, time\n"
             "print('start', flush=True)\n"
             "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096])\n"   # touch every page: resident
             "sys.stderr.write('bar 0%'); sys.stderr.flush()\n"               # a progress bar: no line end
             "time.sleep(0.5)\n"
             "sys.stderr.write('\\rbar 100%\\n'); sys.stderr.flush()\n"
             "sys.exit(3)\n")
    probe = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("bench_scaling", {str(ROOT / "bench" / "bench_scaling.py")!r})
bench = importlib.util.module_from_spec(spec); sys.modules[spec.name] = bench; spec.loader.exec_module(bench)
m = bench.measure([sys.executable, "-c", {child!r}], timeout=60)
small = bench.measure([sys.executable, "-c", "pass"], timeout=60)
print(json.dumps({{"rc": m.rc, "status": m.status, "timed_out": m.timed_out, "peak": m.peak_mib, "wall": m.wall,
                  "lines": [line for _, line in m.lines], "start": m.when("^start"), "bar0": m.when("0%"),
                  "bar100": m.when("100%", last=True), "small_status": small.status, "small_peak": small.peak_mib}}))
"""
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["rc"] == 3 and r["status"] == "exit 3" and not r["timed_out"]
    assert 200 <= r["peak"] < 400, r["peak"]          # the child's own peak, not the launcher's
    assert r["lines"] == ["start", "bar 0%", "bar 100%"]   # stderr merged, \r split
    # each line is stamped when its text arrived: the bar's 0% before the pause, not when 100% ended it
    assert r["start"] <= r["bar0"] < r["bar100"] - 0.4 < r["wall"]
    assert r["small_status"] == "ok" and r["small_peak"] < 150, r["small_peak"]


def test_measure_timeout_kills_the_step(bench):
    m = bench.measure([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"], timeout=1)
    assert m.timed_out and m.status == "timeout" and m.wall < 10
    assert [line for _, line in m.lines] == ["up"]
