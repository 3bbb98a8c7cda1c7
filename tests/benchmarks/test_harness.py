"""The measurement harness: timing loop, peak memory, and the guarded subprocess. The functions
``hog``, ``fail`` and ``sleep`` are run by the subprocess tests (``"tests.benchmarks.test_harness:hog"``)."""

import time

import torch

from benchmarks.harness import PeakMemory, is_oom, run_inline, run_isolated, time_steps

GIB = 2**30


def hog(step_mib: int = 64, total_mib: int = 8192) -> dict:
    """Allocate and touch memory until ``total_mib`` (the guard should stop it first)."""
    keep = []
    for _ in range(total_mib // step_mib):
        keep.append(torch.ones(step_mib * 2**18))  # float32: step_mib MiB, touched
    return {"allocated_mib": total_mib}


def fail() -> dict:
    raise ValueError("bad configuration xyz")


def sleep(seconds: float) -> dict:
    time.sleep(seconds)
    return {"slept": seconds}


def test_time_steps_respects_min_max_and_budget():
    calls = []

    def step(x):
        calls.append(x)
        return {"extra": 1.0}

    records = time_steps(step, ["a", "b", "c"], "cpu", warmup=["w"], min_steps=2, max_steps=5, budget_s=0.0)
    assert calls[0] == "w" and len(records) == 2  # budget spent: stops at min_steps
    assert [r["input"] for r in records] == [0, 1] and records[0]["extra"] == 1.0
    records = time_steps(step, ["a", "b"], "cpu", min_steps=1, max_steps=5, budget_s=60.0)
    assert [r["input"] for r in records] == [0, 1, 0, 1, 0]  # cyclic, capped by max_steps
    assert all(r["s"] >= 0 and r["user_s"] >= 0 and "sys_s" in r for r in records)


def test_peak_memory_sees_an_allocation():
    mem = PeakMemory("cpu")
    mem.start()
    x = torch.ones(200 * 2**18)  # 200 MiB, touched
    growth = mem.growth()
    del x
    assert 190 * 2**20 <= growth < 400 * 2**20


def test_is_oom():
    assert is_oom(MemoryError())
    assert is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes"))
    assert is_oom(RuntimeError("CUDA out of memory. Tried to allocate"))
    assert not is_oom(RuntimeError("shape mismatch"))


def test_inline_errors_become_results():
    out = run_inline({"function": "tests.benchmarks.test_harness:fail"})
    assert out["status"] == "error" and "bad configuration xyz" in out["error"]
    assert run_inline({"function": "tests.benchmarks.test_harness:sleep", "kwargs": {"seconds": 0}}) == {
        "status": "ok",
        "slept": 0,
    }


def test_isolated_measurement_over_the_memory_limit_is_reported_not_fatal():
    out = run_isolated(
        {"function": "tests.benchmarks.test_harness:hog"}, mem_limit=1 * GIB, timeout_s=120, threads=1
    )
    assert out["status"] == "oom", out
    assert out["limit_bytes"] == GIB and "1.0 GB" in out["error"]


def test_isolated_timeout_and_errors():
    out = run_isolated(
        {"function": "tests.benchmarks.test_harness:sleep", "kwargs": {"seconds": 60}},
        mem_limit=4 * GIB,
        timeout_s=1,
        threads=1,
    )
    assert out["status"] == "timeout" and out["child_wall_s"] < 30
    out = run_isolated(
        {"function": "tests.benchmarks.test_harness:fail"}, mem_limit=4 * GIB, timeout_s=120, threads=1
    )
    assert out["status"] == "error" and "bad configuration xyz" in out["error"]


def test_isolated_ok_result_round_trips():
    out = run_isolated(
        {"function": "tests.benchmarks.test_harness:sleep", "kwargs": {"seconds": 0.1}},
        mem_limit=4 * GIB,
        timeout_s=120,
        threads=1,
        env={"GLIBC_TUNABLES": "glibc.malloc.mmap_max=0"},
    )
    assert out["status"] == "ok" and out["slept"] == 0.1
