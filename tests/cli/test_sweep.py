"""Resumable sweeps (gdl.cli.sweep): unit tests of the pieces (fast) and real interrupted sweeps
killed with SIGKILL and relaunched, through the basic and the submitit_local launchers (slow)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from gdl.cli.ablate import main as ablate
from gdl.cli.sweep import (
    Job,
    ResumableSweeperBase,
    SweepExcludeError,
    _ResumingLauncher,
    config_differences,
    exclude_jobs,
    job_differences,
    read_jobs,
)

from .test_gdl_train import REPO, cli, command, env, metrics, nbody


@pytest.fixture(scope="session")
def nbody_root(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "nbody"


# -- the pieces ---------------------------------------------------------------------------------------
def sweep_config(task, **top):
    return OmegaConf.create({**top, "hydra": {"overrides": {"task": task}, "sweeper": {"params": None},
                                              "launcher": {"n_jobs": 1}}})


def test_config_differences_name_the_keys():
    a = sweep_config(["seed=0,1", "model=egnn"], trainer={"max_epochs": 5}, lr=1.0)
    assert config_differences(a, a) == []
    # the launcher may change: it does not change what a job computes
    b = sweep_config(["seed=0,1", "model=egnn"], trainer={"max_epochs": 5}, lr=1.0)
    b.hydra.launcher.n_jobs = 2
    assert config_differences(a, b) == []
    c = sweep_config(["seed=0,1,2", "model=egnn"], trainer={"max_epochs": 6}, lr=1.0, extra=3)
    diffs = config_differences(a, c)
    assert diffs == [
        "extra: (absent) then, 3 now",
        "trainer.max_epochs: 5 then, 6 now",
        "override seed: '0,1' then, '0,1,2' now",
    ]
    assert config_differences(a, c, allow=["extra", "trainer", "seed"]) == []
    d = sweep_config(["model=egnn", "seed=0,1"], trainer={"max_epochs": 5}, lr=1.0)
    assert "order of the overrides" in config_differences(a, d)[0]
    e = sweep_config(["seed=0,1", "model=egnn"], trainer={"max_epochs": 5}, lr=1.0)
    e.hydra.sweeper.params = {"combo": "a,b"}
    assert config_differences(a, e) == ["hydra.sweeper.params.combo: (absent) then, 'a,b' now"]


def test_job_differences():
    old = [Job(0, "0", ("seed=0",)), Job(1, "1", ("seed=1",))]
    assert job_differences(old, old) == []
    new = [Job(0, "0", ("seed=0",)), Job(1, "1", ("seed=2",)), Job(2, "2", ("seed=3",))]
    assert job_differences(old, new) == [
        "number of jobs: 2 then, 3 now", "job 1 override seed: '1' then, '2' now"
    ]


class FakeSweeper:
    def __init__(self, sweep_dir, together=True):
        self.sweep_dir, self.together = sweep_dir, together
        self.config = OmegaConf.create({"hydra": {"job": {"name": "train"}}})

    def job_dir(self, num, overrides):
        return self.sweep_dir / str(num)

    def numbers_only_name_directories(self, jobs):
        return self.together


class FakeLauncher:
    def __init__(self):
        self.calls = []

    def launch(self, job_overrides, initial_job_idx):
        self.calls.append((initial_job_idx, [list(o) for o in job_overrides]))
        return [JobReturn(overrides=list(o), status=JobStatus.COMPLETED, _return_value=o[0])
                for o in job_overrides]


@pytest.mark.parametrize("together", [True, False])
def test_finished_jobs_are_skipped_and_the_others_keep_their_numbers(tmp_path, together):
    for num, status in ((1, "finished"), (2, "running"), (4, "finished"), (5, "failed")):
        (tmp_path / str(num)).mkdir()
        (tmp_path / str(num) / "metrics.json").write_text(json.dumps({"status": status, "num": num}))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    inner = FakeLauncher()
    jobs = [[f"seed={i}"] for i in range(7)]
    results = _ResumingLauncher(inner, FakeSweeper(tmp_path, together)).launch(jobs, initial_job_idx=0)
    if together:
        # 0 | 1 skipped | 2, 3 | 4 skipped | 5, 6: one launch, each job sent to its own directory
        assert inner.calls == [(0, [[f"seed={i}", f"hydra.sweep.subdir={i}"] for i in (0, 2, 3, 5, 6)])]
    else:
        # the same as runs of consecutive numbers: three launches with the original job numbers
        assert inner.calls == [
            (0, [["seed=0"]]), (2, [["seed=2"], ["seed=3"]]), (5, [["seed=5"], ["seed=6"]])
        ]
    values = [r.return_value for r in results]
    assert values[0] == "seed=0" and values[2:4] == ["seed=2", "seed=3"]
    assert values[5:] == ["seed=5", "seed=6"]
    assert values[1] == {"status": "finished", "num": 1} and values[4] == {"status": "finished", "num": 4}
    assert all(r.status == JobStatus.COMPLETED for r in results)
    assert [r.overrides for r in results] == jobs  # as the sweep's own, without the directory override
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_single_run_of_jobs_is_launched_as_is(tmp_path):
    (tmp_path / "10").mkdir()
    (tmp_path / "10" / "metrics.json").write_text(json.dumps({"status": "finished"}))
    inner = FakeLauncher()
    _ResumingLauncher(inner, FakeSweeper(tmp_path)).launch([["seed=0"], ["seed=1"], ["seed=2"]], 10)
    assert inner.calls == [(11, [["seed=1"], ["seed=2"]])]


class FakeLoader:
    def __init__(self, configs):
        self.configs = configs

    def load_sweep_config(self, master, overrides):
        return OmegaConf.create(self.configs[overrides[0]])


@pytest.mark.parametrize(("subdir", "job_config", "together"), [
    ("${hydra.job.num}", {"name": "${hydra:job.name}", "out": "${hydra:runtime.output_dir}"}, True),
    ("${hydra:job.num}", {"seed": 0}, True),
    ("${hydra.job.override_dirname}", {"seed": 0}, False),  # the directory is not the number alone
    ("${hydra.job.num}", {"seed": "${hydra:job.num}"}, False),  # the job's number changes what it computes
    ("${hydra.job.num}", {"tag": {"id": "run_${hydra.job.id}"}}, False),
    ("${hydra.job.num}", {"job": "${hydra:job}"}, False),
])
def test_jobs_are_launched_together_only_where_their_number_names_a_directory(subdir, job_config, together):
    sweeper = object.__new__(ResumableSweeperBase)  # as in test_the_sweeper_numbers_and_batches_the_jobs_left
    sweeper.config = OmegaConf.create({"hydra": {"sweep": {"dir": "s", "subdir": subdir}}})
    hydra_part = {"hydra": {"job": {"num": 3}}}
    configs = {"seed=0": {"seed": 0, **hydra_part}, "seed=1": {**job_config, **hydra_part}}

    class Context:
        config_loader = FakeLoader(configs)

    sweeper.hydra_context = Context()
    assert sweeper.numbers_only_name_directories([["seed=0"], ["seed=1"]]) is together


def hydra_sweep_config(tmp_path, *task):
    """What `gdl-train -m <task>` saves as multirun.yaml (composed in this process)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return GlobalHydra.instance().hydra.compose_config(
            "train", list(task), run_mode=RunMode.MULTIRUN, with_log_configuration=False
        )


def test_relaunch_with_another_configuration_names_the_differing_keys(tmp_path, nbody_root):
    sweep = tmp_path / "sweep"
    args = nbody(nbody_root, "trainer.max_epochs=2")
    started = hydra_sweep_config(tmp_path, "seed=0,1", *args)
    sweep.mkdir()
    OmegaConf.save(started, sweep / "multirun.yaml")
    (sweep / "0").mkdir()
    (sweep / "0" / "metrics.json").write_text(json.dumps({"status": "finished"}))
    before = {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file()}
    args[args.index("trainer.max_epochs=2")] = "trainer.max_epochs=3"
    res = cli("-m", "seed=0,1", f"hydra.sweep.dir={sweep}", *args, "model.num_layers=3")
    assert res.returncode != 0
    err = res.stderr + res.stdout
    assert "was started with another configuration; differing keys" in err, err[-3000:]
    assert "override trainer.max_epochs: '2' then, '3' now" in err and "model.num_layers" in err
    assert {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file()} == before


def test_an_edited_config_file_of_a_started_job_is_named(tmp_path, nbody_root):
    """The sweep's own configuration is unchanged, but the config a job composes is not (as after an
    edit of conf/combo/<pair>.yaml): the relaunch names the job and the key."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    sweep = tmp_path / "sweep"
    args = nbody(nbody_root, "trainer.max_epochs=2")
    sweep.mkdir()
    OmegaConf.save(hydra_sweep_config(tmp_path, "seed=0,1", *args), sweep / "multirun.yaml")
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        job = GlobalHydra.instance().hydra.compose_config(
            "train", ["seed=0", *args], run_mode=RunMode.RUN, with_log_configuration=False
        )
    job = OmegaConf.to_container(job, resolve=False)
    del job["hydra"]
    job["model"]["hidden_channels"] = 17
    (sweep / "0" / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(job), sweep / "0" / ".hydra" / "config.yaml")
    (sweep / "0" / "metrics.json").write_text(json.dumps({"status": "finished"}))
    res = cli("-m", "seed=0,1", f"hydra.sweep.dir={sweep}", *args)
    assert res.returncode != 0
    err = res.stderr + res.stdout
    assert "started with another configuration of its jobs" in err, err[-3000:]
    assert "job 0: model.hidden_channels: 17 then, 16 now" in err
    assert "job 1" not in err  # not started: nothing to compare


# -- real sweeps --------------------------------------------------------------------------------------
SWEEP = ("seed=0,1,2,3,4,5",)


def tiny(nbody_root, *extra):
    # 32 training systems in 4 batches, 6 epochs: about a second per job
    return nbody(nbody_root, "trainer.max_epochs=6", "model.hidden_channels=8", "logger=[]",
                 "callbacks.lr_monitor=null", "callbacks.equivariance_monitor.num_graphs=2", *extra,
                 train_size=32)


def wait_for(predicate, proc, what, timeout=300):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the sweep ended before {what}"
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.01)


def status(job_dir: Path):
    try:
        return json.loads((job_dir / "metrics.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return None


def kill_in_the_third_job_and_relaunch(tmp_path, nbody_root, launcher_args, sequential=True):
    args = (*SWEEP, *launcher_args, *tiny(nbody_root))
    reference = tmp_path / "reference"
    done = cli("-m", f"hydra.sweep.dir={reference}", *args)
    assert done.returncode == 0, done.stderr[-3000:]

    sweep = tmp_path / "sweep"
    proc = subprocess.Popen(
        command("-m", f"hydra.sweep.dir={sweep}", *args), cwd=REPO, env=env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    third = sweep / "2"
    try:
        # in the middle of the third job: it has checkpointed an epoch and is still training
        wait_for(lambda: (third / "checkpoints" / "last.ckpt").is_file() and status(third) == "running",
                 proc, "checkpoint of the third job")
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, as a preempted node
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    statuses = [status(sweep / str(i)) for i in range(6)]
    assert statuses[2] == "running"
    if sequential:
        assert statuses == ["finished", "finished", "running", None, None, None]
    finished = [i for i, s in enumerate(statuses) if s == "finished"]
    assert len(finished) < 6

    def files_of_the_finished():
        return {p: p.read_bytes() for i in finished for p in (sweep / str(i)).rglob("*") if p.is_file()}

    before = files_of_the_finished()

    # gdl-ablate on the sweep in progress: the finished runs tabulated, the other jobs pending
    assert ablate([str(sweep), "--out", str(tmp_path / "partial")]) == (0 if finished else 2)
    if finished:
        pending = (tmp_path / "partial" / "pending.csv").read_text().splitlines()[1:]
        assert len(pending) == 6 - len(finished) and "running or interrupted" in pending[0]

    again = cli("-m", f"hydra.sweep.dir={sweep}", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    log = again.stdout + again.stderr
    assert "#2 : running before, resumes from" in log
    assert all(f"#{i} : finished before, skipped" in log for i in finished)
    # finished runs are never rewritten
    assert files_of_the_finished() == before
    assert metrics(third)["resumed_from"].endswith("last.ckpt")
    for i in range(6):
        a, b = metrics(reference / str(i)), metrics(sweep / str(i))
        assert b["status"] == "finished" and a["seed"] == b["seed"] == i
        assert a["optimizer_steps"] == b["optimizer_steps"] == 6 * 4
        keys = [k for k in a if k.startswith(("test/", "baseline/"))]
        assert keys
        for k in keys:
            assert math.isclose(a[k], b[k], rel_tol=1e-6, abs_tol=1e-12), (i, k, a[k], b[k])
    assert read_jobs(sweep) == read_jobs(reference)
    assert ablate([str(sweep), "--out", str(tmp_path / "all")]) == 0
    assert len((tmp_path / "all" / "pending.csv").read_text().splitlines()) == 1  # the header only


@pytest.mark.slow
def test_sigkill_in_the_third_job_and_relaunch(tmp_path, nbody_root):
    """The issue's check: a 6-job CPU sweep SIGKILLed in the middle of its third job and relaunched
    with the same command ends with the metrics of an uninterrupted sweep (fixed seeds, trainer=cpu)."""
    kill_in_the_third_job_and_relaunch(tmp_path, nbody_root, ())


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
                    reason="needs the slurm extra (hydra-submitit-launcher)")
def test_sigkill_in_the_third_job_and_relaunch_through_submitit_local(tmp_path, nbody_root):
    """The same through submitit's local executor: each job a separate process, as on a cluster."""
    kill_in_the_third_job_and_relaunch(
        tmp_path, nbody_root, ("hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"),
        sequential=False,  # submitit's local executor starts every job of the array at once
    )


@pytest.mark.slow  # two real jobs through joblib (~40 s); the launch itself is tested above
def test_jobs_on_both_sides_of_a_finished_one_run_together_in_their_own_directories(tmp_path, nbody_root):
    sweep = tmp_path / "sweep"
    args = ("-m", "seed=0,1,2", f"hydra.sweep.dir={sweep}", "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2", *tiny(nbody_root))
    (sweep / "1").mkdir(parents=True)
    (sweep / "1" / "metrics.json").write_text(json.dumps({"status": "finished", "seed": 1}))
    before = (sweep / "1" / "metrics.json").read_bytes()
    res = cli(*args)
    assert res.returncode == 0, (res.stderr + res.stdout)[-3000:]
    assert "launching jobs 0, 2 together" in res.stdout + res.stderr
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1", "2"]
    for num in (0, 2):
        record = metrics(sweep / str(num))
        assert record["status"] == "finished" and record["seed"] == num
        overrides = yaml.safe_load((sweep / str(num) / ".hydra" / "overrides.yaml").read_text())
        assert overrides[0] == f"seed={num}" and not any(o.startswith("hydra.") for o in overrides)
    assert (sweep / "1" / "metrics.json").read_bytes() == before
    assert [j.subdir for j in read_jobs(sweep)] == ["0", "1", "2"]


@pytest.mark.slow
def test_a_failed_job_is_retried_and_its_error_kept(tmp_path, nbody_root):
    blocked = tmp_path / "data"
    blocked.write_text("a file where the data folder should be")
    sweep = tmp_path / "sweep"
    args = ("seed=0,1", f"hydra.sweep.dir={sweep}", *tiny(nbody_root, f"paths.data_dir.nbody={blocked}"))
    first = cli("-m", *args)
    assert first.returncode != 0
    assert [status(sweep / str(i)) for i in (0, 1)] == ["failed", "failed"]
    error = metrics(sweep / "0")["error"]
    blocked.unlink()
    again = cli("-m", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    for i in (0, 1):
        m = metrics(sweep / str(i))
        assert m["status"] == "finished" and m["earlier_attempt"] == "failed_attempt_1.json"
        kept = json.loads((sweep / str(i) / "failed_attempt_1.json").read_text())
        assert kept["status"] == "failed" and kept["error"] == error and "Traceback" in kept["traceback"]


GRID = [[f"combo={c}", f"model.hidden_channels={w}", "seed=0"] for c in ("egnn", "tfn_l2") for w in (8, 32)]


def test_exclude_drops_the_matching_points_of_the_grid():
    assert exclude_jobs(GRID, []) == GRID
    # one point: every key of the entry must match (int and str values alike)
    assert exclude_jobs(GRID, [{"combo": "tfn_l2", "model.hidden_channels": 32}]) == GRID[:3]
    # a list of values matches any of them; entries are alternatives
    assert exclude_jobs(GRID, [{"model.hidden_channels": [8, 32], "combo": "egnn"}]) == GRID[2:]
    assert exclude_jobs(GRID, [{"combo": "egnn", "model.hidden_channels": "8"},
                               {"combo": "tfn_l2", "model.hidden_channels": 32.0}]) == [GRID[1], GRID[2]]
    grid = [["flag=true", "lr=1e-3"], ["flag=false", "lr=0.001"], ["flag=false", "lr=0.01"]]
    assert exclude_jobs(grid, [{"flag": False, "lr": 0.001}]) == [grid[0], grid[2]]


@pytest.mark.parametrize(("entry", "message"), [
    ({"model.width": 32}, r"names 'model.width', which no job of the sweep sets; the sweep sets: combo, "
                          r"model.hidden_channels, seed"),
    ({}, r"non-empty mapping"),
    ("combo=egnn", r"non-empty mapping"),
])
def test_an_exclude_entry_that_cannot_apply_is_an_error(entry, message):
    with pytest.raises(SweepExcludeError, match=message):
        exclude_jobs(GRID, [entry])


def test_an_exclude_entry_that_matches_no_job_is_a_warning(caplog):
    """Not an error: a preset's grid shrunk on the command line may no longer hold the point."""
    with caplog.at_level("WARNING", logger="gdl.cli.sweep"):
        assert exclude_jobs(GRID, [{"combo": "tfn_l3"}, {"seed": 0, "combo": "egnn"}]) == GRID[2:]
    assert "exclude[0] = {'combo': 'tfn_l3'} matches no job" in caplog.text
    assert "exclude[1]" not in caplog.text


def test_the_sweeper_numbers_and_batches_the_jobs_left():
    """The grid the sweeper launches (and records in jobs.yaml) is Hydra's, less the excluded points,
    numbered consecutively and cut into batches of max_batch_size."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = OverridesParser.create().parse_overrides(
        ["combo=egnn,tfn_l2", "model.hidden_channels=8,32", "seed=0"]
    )
    def sweeper(exclude):
        # not ResumableSweeperBase(...): once Hydra's plugin scan has re-imported its core plugins (an
        # earlier test's compose), BasicSweeper.__init__'s super(BasicSweeper, self) names another class
        out = object.__new__(ResumableSweeperBase)
        out.exclude = exclude
        return out

    cut = sweeper([{"combo": "tfn_l2", "model.hidden_channels": 32}])
    assert cut.split_arguments(overrides, None) == [GRID[:3]]
    assert cut.split_arguments(overrides, 2) == [GRID[:2], GRID[2:3]]
    assert sweeper([]).split_arguments(overrides, None) == [GRID]


def test_a_changed_exclude_list_is_another_configuration(tmp_path):
    a = sweep_config(["seed=0,1"])
    b = sweep_config(["seed=0,1"])
    b.hydra.sweeper.exclude = []
    assert config_differences(a, b) == []  # absent (a sweep started before the key) == empty
    b.hydra.sweeper.exclude = [{"seed": 1}]
    assert config_differences(a, b) == ["hydra.sweeper.exclude: (absent) then, [{'seed': 1}] now"]


def test_a_misspelt_exclude_key_stops_the_sweep_before_any_job(tmp_path, nbody_root):
    sweep = tmp_path / "sweep"
    res = cli("-m", "seed=0,1", f"hydra.sweep.dir={sweep}", *nbody(nbody_root, "trainer.max_epochs=1"),
              "hydra.sweeper.exclude=[{sede:1}]")
    assert res.returncode != 0
    err = res.stderr + res.stdout
    assert "hydra.sweeper.exclude[0] names 'sede', which no job of the sweep sets" in err, err[-2000:]
    assert not any((sweep / d).exists() for d in ("0", "1"))


@pytest.mark.slow  # two real jobs (~35 s); the exclusion itself is tested above, this is the Hydra wiring
def test_excluded_jobs_are_not_run_nor_pending(tmp_path, nbody_root):
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=0,1,2", f"hydra.sweep.dir={sweep}", *nbody(nbody_root, "trainer.max_epochs=1"),
            "hydra.sweeper.exclude=[{seed:1}]"]
    res = cli(*args)
    assert res.returncode == 0, (res.stderr + res.stdout)[-3000:]
    jobs = [(j.num, j.subdir, j.overrides[0]) for j in read_jobs(sweep)]
    assert jobs == [(0, "0", "seed=0"), (1, "1", "seed=2")]
    assert [metrics(sweep / d)["status"] for d in ("0", "1")] == ["finished"] * 2
    assert not (sweep / "2").exists()
    assert yaml.safe_load((sweep / "1" / ".hydra" / "overrides.yaml").read_text())[0] == "seed=2"
    # relaunching without the exclude list is another sweep
    res = cli(*args[:-1])
    assert res.returncode != 0
    assert "hydra.sweeper.exclude: [{'seed': 1}] then, (absent) now" in res.stderr + res.stdout


def test_manifest_lists_every_job(tmp_path):
    (tmp_path / "jobs.yaml").write_text(yaml.safe_dump([{"num": 0, "dir": "0", "overrides": ["seed=0"]}]))
    assert read_jobs(tmp_path) == [Job(0, "0", ("seed=0",))]
    assert read_jobs(tmp_path / "missing") is None


def test_a_checkout_whose_install_lacks_the_sweeper_plugin_says_how_to_fix_it(tmp_path, monkeypatch):
    """An editable install made before hydra_plugins/ existed cannot import the plugin: the sweep stops
    before launching, saying to reinstall (or to use Hydra's basic sweeper)."""
    import importlib.util as iu

    from gdl.cli.hydra_callbacks import check_launcher

    cfg = hydra_sweep_config(tmp_path, "seed=0,1")
    check_launcher(cfg)  # installed here
    real = iu.find_spec
    def find_spec(name, *args):
        return None if name == "hydra_plugins.gdl_sweeper" else real(name, *args)

    monkeypatch.setattr(iu, "find_spec", find_spec)
    with pytest.raises(ModuleNotFoundError, match=r"hydra/sweeper: .*reinstall gdl.*hydra/sweeper=basic"):
        check_launcher(cfg)
