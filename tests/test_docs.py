"""README.md and docs/*.md say what the code does: their Python blocks run, their ``gdl-train``
commands compose, their relative links resolve, and docs/training.md lists the ``metrics.json``
keys that a run writes.

Convention for Python blocks: a block whose first line is ``# doc: no-run`` is only compiled, not
run (for blocks that need a GPU or a long run; use it sparingly). Every other block runs in a fresh
namespace in a temporary working directory and must finish in seconds.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch

from gdl.dtype import default_dtype

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NO_RUN = "# doc: no-run"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
#: Pages that README links to and that other parts of issue 17 add; checked as soon as they exist.
PENDING = {"docs/datasets.md", "docs/results.md"}


def fenced(lang: str) -> list[tuple[str, str]]:
    """``(id, code)`` of every ``lang`` block of the pages; the id is ``page:line``."""
    out = []
    for page in PAGES:
        text = page.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) == lang:
                line = text.count("\n", 0, m.start()) + 1
                out.append((f"{page.relative_to(ROOT)}:{line}", m.group(2)))
    return out


PYTHON = fenced("python")


def test_readme_is_short_and_has_python():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
    assert any(i.startswith("README.md:") for i, _ in PYTHON)


@pytest.mark.parametrize("code", [c for _, c in PYTHON], ids=[i for i, _ in PYTHON])
def test_python_block_runs(code, tmp_path, monkeypatch, request):
    name = request.node.callspec.id
    compiled = compile(code, name, "exec")
    if code.lstrip().startswith(NO_RUN):
        pytest.skip(f"{name}: marked {NO_RUN!r} (compiled only)")
    monkeypatch.chdir(tmp_path)
    with default_dtype(torch.get_default_dtype()), torch.random.fork_rng():
        exec(compiled, {"__name__": "__main__"})


# --- gdl-train and gdl-ablate commands ----------------------------------------------------------
def commands(*prefixes: list[str]) -> list[tuple[str, list[str]]]:
    """The arguments of every command of bash blocks that starts with one of ``prefixes``; ``id`` is
    ``page:line+k`` (the ``k``-th line of the block, continuation lines joined)."""
    out = []
    for block_id, code in fenced("bash"):
        for k, line in enumerate(code.replace("\\\n", " ").splitlines()):
            words = shlex.split(line.split(" #", 1)[0])
            for prefix in prefixes:
                at = next((i for i in range(len(words)) if words[i : i + len(prefix)] == prefix), None)
                if at is not None:
                    out.append((f"{block_id}+{k + 1}", words[at + len(prefix) :]))
    return out


def one_run(args: list[str]) -> list[str] | None:
    """The overrides of the first run of a (sweep) command; ``None`` for one with ``<placeholders>``.
    Shell redirections and control operators end the command (``> log 2>&1 &``)."""
    ends = next((i for i, a in enumerate(args) if a[:1] in (">", "&", "|", ";") or a[:2] == "2>"), None)
    args = args[:ends]
    if any("<" in a for a in args):
        return None
    return [_first_value(a) for a in args if a not in ("-m", "--multirun")]


def _first_value(override: str) -> str:
    """``key=a,b`` -> ``key=a`` (a sweep's first value); commas inside ``[...]`` or ``{...}`` (a list
    value such as ``allow_changes=[x,y]``) do not separate sweep values."""
    depth = 0
    for k, c in enumerate(override):
        depth += c in "[{"
        depth -= c in "]}"
        if c == "," and depth == 0:
            return override[:k]
    return override


TRAIN = [(i, one_run(a)) for i, a in commands(["gdl-train"], ["python", "-m", "gdl.cli.train"])]
TRAIN = [(i, o) for i, o in TRAIN if o is not None]
ABLATE = commands(["gdl-ablate"], ["python", "-m", "gdl.cli.ablate"])
EVAL = commands(["gdl-eval"], ["python", "-m", "gdl.cli.eval"])


def test_docs_show_commands():
    assert len(TRAIN) >= 10 and len(ABLATE) >= 5


@pytest.mark.parametrize("overrides", [o for _, o in TRAIN], ids=[i for i, _ in TRAIN])
def test_gdl_train_command_composes(overrides):
    from gdl.training import compose

    cfg = compose(overrides)
    assert cfg.model._target_ and cfg.data._target_


@pytest.mark.parametrize("args", [a for _, a in ABLATE], ids=[i for i, _ in ABLATE])
def test_gdl_ablate_command_parses(args):
    from gdl.cli.ablate import parser

    parsed = parser().parse_args(args)  # exits (SystemExit) on an unknown option
    assert parsed.paths


@pytest.mark.parametrize("args", [a for _, a in EVAL], ids=[i for i, _ in EVAL])
def test_gdl_eval_command_parses(args):
    from gdl.cli.eval import parser

    parsed = parser().parse_args(args)
    assert parsed.run_dir and parsed.split in ("test", "val", "train")
    assert all("=" in o for o in parsed.overrides)  # the rest are Hydra overrides


# --- links --------------------------------------------------------------------------------------
def slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page):
    text = FENCE.sub("", page.read_text())
    bad = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        rel = dest.relative_to(ROOT).as_posix() if dest.is_relative_to(ROOT) else str(dest)
        if not dest.exists():
            if rel not in PENDING:
                bad.append(target)
            continue
        if anchor:
            headings = re.findall(r"^#+ (.+)$", FENCE.sub("", dest.read_text()), re.M)
            if anchor not in {slug(h) for h in headings}:
                bad.append(target)
    assert not bad, f"{page.name}: links that do not resolve: {bad}"


# --- metrics.json keys --------------------------------------------------------------------------
TRANSFORMS = ("rotation", "reflection", "translation", "permutation")


def documented_keys() -> dict[str, str]:
    """``{key: when written}`` from the table of docs/training.md."""
    text = (ROOT / "docs" / "training.md").read_text()
    table = text.split("<!-- metrics.json keys: begin -->")[1].split("<!-- metrics.json keys: end -->")[0]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", table, re.M)
    assert len(rows) > 30
    return {key: when.strip() for key, when in rows}


def test_documented_keys_cover_the_list_in_experiment_py():
    """Every key that ``gdl/training/experiment.py``'s module docstring lists is documented."""
    import importlib

    doc = importlib.import_module("gdl.training.experiment").__doc__
    listed = doc.split("Keys of ``metrics.json``")[1].split("::", 1)[1].split("\n\n")[1]
    keys = {re.sub(r"\s*\(.*\)$", "", k.strip()) for k in listed.split(",")}
    assert len(keys) > 30
    assert keys - set(documented_keys()) == set()


def key_pattern(key: str, record: dict) -> re.Pattern:
    alts = {
        "<t>": "|".join(map(re.escape, record["targets"].split(","))),
        "<m>": "|".join(map(re.escape, record["metrics"].split(","))),
        "<transform>": "|".join(TRANSFORMS),
        "<key>": ".+",
    }
    pattern = re.escape(key)
    for placeholder, alt in alts.items():
        pattern = pattern.replace(re.escape(placeholder), f"(?:{alt})")
    return re.compile(pattern + "$")


def test_documented_keys_match_a_real_run(tmp_path):
    """A finished run writes exactly the documented keys ("always" and "finished"; "when resumed"
    and "when failed" ones only then)."""
    import json

    from gdl.training import compose, train

    cfg = compose(
        ["experiment=nbody", "model=egnn", "symmetry=rpp", "trainer.fast_dev_run=true",
         "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "data.train_size=16",
         "data.val_size=8", "data.test_size=8", "data.batch_size=8", f"paths.data_dir.nbody={tmp_path}"],
        run_dir=tmp_path / "run",
    )  # fmt: skip
    train(cfg)
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["status"] == "finished"
    patterns = {key: key_pattern(key, record) for key in documented_keys()}
    undocumented = [k for k in record if not any(p.match(k) for p in patterns.values())]
    assert undocumented == []
    missing = [
        key for key, when in documented_keys().items()
        if when in ("always", "finished") and not any(patterns[key].match(k) for k in record)
    ]  # fmt: skip
    assert missing == []
