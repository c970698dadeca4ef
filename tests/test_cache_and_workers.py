"""The result cache and the worker processes change how fast, never what is found."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from dbisolint import checker
from dbisolint.config import load_config

from .conftest import FIXTURES


def findings(result):
    return [(f.path, f.code, f.start, f.message) for f in result.findings]


def test_cold_warm_and_parallel_runs_agree(tmp_path: Path, monkeypatch):
    project = tmp_path / "polluted"
    shutil.copytree(FIXTURES / "projects" / "polluted_suite", project)
    for extra in ("DBI101", "DBI102", "DBI103"):
        shutil.copytree(FIXTURES / "rules" / extra, project / "more" / extra)
    monkeypatch.chdir(project)
    config = load_config(None)
    cache = tmp_path / "cache"
    reference = checker.check([Path(".")], config, jobs=1)
    assert len(reference.findings) > 20
    cold = checker.check([Path(".")], config, jobs=2, cache_dir=cache)
    warm = checker.check([Path(".")], config, jobs=2, cache_dir=cache)
    assert findings(cold) == findings(warm) == findings(reference)
    assert (cache / "CACHEDIR.TAG").exists() and (cache / ".gitignore").read_text() == "*\n"


def test_a_changed_test_file_changes_the_verdicts_it_decides(tmp_path: Path, monkeypatch):
    project = tmp_path / "polluted"
    shutil.copytree(FIXTURES / "projects" / "polluted_suite", project)
    monkeypatch.chdir(project)
    config = load_config(None, {"select": ["DBI101"]})
    cache = tmp_path / "cache"
    before = checker.check([Path("app/state.py")], config, cache_dir=cache)
    assert "_users" in {f.message.split("`")[1] for f in before.findings}
    with (project / "tests" / "conftest.py").open("a") as conftest:
        conftest.write(
            "\n\nimport pytest\n\n\n@pytest.fixture(autouse=True)\ndef _reset():\n"
            "    yield\n    from app import state\n    state._users.clear()\n"
        )
    after = checker.check([Path("app/state.py")], config, cache_dir=cache)
    assert "_users" not in {f.message.split("`")[1] for f in after.findings}
    assert len(after.findings) == len(before.findings) - 1


def test_a_damaged_cache_is_an_empty_one(tmp_path: Path, monkeypatch):
    project = tmp_path / "demo"
    shutil.copytree(FIXTURES / "demo", project)
    monkeypatch.chdir(project)
    cache = tmp_path / "cache"
    first = checker.check([Path(".")], load_config(None), cache_dir=cache)
    for stored in cache.rglob("*.pickle"):
        stored.write_bytes(b"not a pickle")
    again = checker.check([Path(".")], load_config(None), cache_dir=cache)
    assert findings(first) == findings(again) and first.findings


def test_texts_facts_lost_from_the_cache_are_read_again_from_the_files(tmp_path: Path, monkeypatch):
    project = tmp_path / "polluted"
    shutil.copytree(FIXTURES / "projects" / "polluted_suite", project)
    monkeypatch.chdir(project)
    config = load_config(None)
    cache = tmp_path / "cache"
    checker.check([Path(".")], config, cache_dir=cache)
    shards = sorted(cache.rglob("*.texts-*.pickle"))
    for shard in shards:
        shard.unlink()
    with (project / "app" / "state.py").open("a") as changed:
        changed.write("\n# the files to parse are chosen again\n")
    again = checker.check([Path(".")], config, cache_dir=cache)
    assert findings(again) == findings(checker.check([Path(".")], config)) and again.findings
    stored = {name for shard in shards for name in pickle.loads(shard.read_bytes())}
    assert stored == {str(path.resolve()) for path in project.rglob("*.py")}, "the facts read again are stored"


def test_after_one_file_changed_only_its_shard_of_the_texts_is_written_again(tmp_path: Path, monkeypatch):
    from dbisolint.cache import _shard

    project = tmp_path / "polluted"
    shutil.copytree(FIXTURES / "projects" / "polluted_suite", project)
    for index in range(40):  # files enough to fill every shard
        (project / "app" / f"more{index}.py").write_text(f"VALUE{index} = {index}\n")
    monkeypatch.chdir(project)
    config = load_config(None)
    cache = tmp_path / "cache"
    first = checker.check([Path(".")], config, cache_dir=cache)
    # Each write replaces its file (a new inode), even with the same content.
    before = {shard.name: shard.stat().st_ino for shard in cache.rglob("*.texts-*.pickle")}
    changed = project / "app" / "more7.py"
    changed.write_text("VALUE7 = 8\n")
    again = checker.check([Path(".")], config, cache_dir=cache)
    after = {shard.name: shard.stat().st_ino for shard in cache.rglob("*.texts-*.pickle")}
    rewritten = {name for name in after if after[name] != before.get(name)}
    assert rewritten == {name for name in before if name.endswith(f"-{_shard(str(changed.resolve())):02d}.pickle")}
    assert len(rewritten) == 1 and len(before) > 8
    assert findings(again) == findings(first)


def test_no_cache_writes_nothing(tmp_path: Path, monkeypatch):
    project = tmp_path / "demo"
    shutil.copytree(FIXTURES / "demo", project)
    monkeypatch.chdir(project)
    checker.check([Path(".")], load_config(None))
    assert not any(path.name == ".dbisolint_cache" for path in project.rglob("*"))


def _tasks(count: int):
    from dbisolint.engine_call import ENGINE_FACTORIES
    from dbisolint.model import FileTask, ModuleName

    source = b'from sqlalchemy import create_engine\nengine = create_engine("sqlite://")\n'
    return [
        (FileTask(f"m{index}.py", ModuleName(f"m{index}"), frozenset({"DBI001"}), ENGINE_FACTORIES), source, None)
        for index in range(count)
    ]


def test_workers_give_the_reports_of_one_process_in_order():
    from dbisolint.workers import Workers

    items = _tasks(40)
    with Workers(1) as one, Workers(2) as two:
        alone, together = one.analyse_all(items), two.analyse_all(items)
    assert [report.path for report in together] == [f"m{index}.py" for index in range(40)]
    assert [report.findings for report in together] == [report.findings for report in alone]


def test_a_worker_killed_by_one_file_costs_only_that_file(monkeypatch):
    import os
    import signal

    from dbisolint import workers

    real = workers._analyse

    def crash_on_m7(item):
        if item[0].path == "m7.py":
            os.kill(os.getpid(), signal.SIGSEGV)  # what libcst's parser does on a stack overflow
        return real(item)

    # Pickled by name into the (forked) workers, which then find this function under that name.
    crash_on_m7.__module__, crash_on_m7.__qualname__ = workers.__name__, "_analyse"
    monkeypatch.setattr(workers, "_analyse", crash_on_m7)
    with workers.Workers(2) as pool:
        reports = pool.analyse_all(_tasks(20))
        assert [problem.kind for problem in reports[7].problems] == ["ParserCrash"]
        assert all(report.findings for index, report in enumerate(reports) if index != 7)
        alone = []
        monkeypatch.setattr(workers, "_alone", lambda item: alone.append(item))
        later = pool.analyse_all(_tasks(20)[8:])
        assert all(report.findings for report in later) and not alone, "the next round has workers again"


def test_workers_learn_from_the_files_what_one_process_learns(tmp_path: Path):
    from dbisolint.prefilter import Summarizer
    from dbisolint.workers import Workers

    for index in range(30):
        (tmp_path / f"m{index}.py").write_text(f"_cache{index} = {{}}\nengine = create_engine('sqlite://')\n")
    names = [str(tmp_path / f"m{index}.py") for index in range(30)] + [str(tmp_path / "gone.py")]
    items = [(name, Path(name).name, Summarizer({"sqlalchemy.create_engine"}, ())) for name in names]
    with Workers(1) as alone, Workers(2) as together:
        assert together.learn_all(items) == alone.learn_all(items)
        (source, problem, _digest, text) = alone.learn_all(items)[-1]
        assert source is None and text is None and problem is not None and problem.path == "gone.py"


LEARN_THEN_PARSE = """
import sys
from pathlib import Path

from dbisolint.prefilter import Summarizer
from dbisolint.workers import Workers


def parser_identity():
    return id(sys.modules.get("libcst"))


folder = Path(sys.argv[1])
items = [(str(path), path.name, Summarizer({"sqlalchemy.create_engine"}, ())) for path in sorted(folder.glob("*.py"))]
assert "libcst" not in sys.modules
with Workers(2) as workers:
    learnt = workers.learn_all(items)
    assert len(learnt) == len(items) and "libcst" in sys.modules
    print(workers._pool.submit(parser_identity).result() == id(sys.modules["libcst"]))
"""


def test_the_workers_that_parse_are_forked_with_the_parser_imported_while_the_first_ones_read(tmp_path: Path):
    """A cold run imports the parser once, in the main process, while the workers read the files;
    the workers that then parse are forked from it, and hold that very module. Run in a fresh
    interpreter: this one has imported libcst already, so every worker would inherit it."""
    import multiprocessing
    import subprocess
    import sys

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("workers are spawned, and import the parser themselves")
    for index in range(20):
        (tmp_path / f"m{index}.py").write_text(f"_cache{index} = {{}}\n")
    script = tmp_path / "learn_then_parse.py"
    script.write_text(LEARN_THEN_PARSE)
    run = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "True", "the worker's libcst is the one the main process imported"


def test_the_edits_of_fixes_are_cached_too(tmp_path: Path, monkeypatch, parsed):
    project = tmp_path / "demo"
    shutil.copytree(FIXTURES / "demo", project)
    monkeypatch.chdir(project)
    config, cache = load_config(None), tmp_path / "cache"
    first = checker.check([Path(".")], config, edits=True, cache_dir=cache)
    assert parsed and any(finding.fix and finding.fix.edits for finding in first.findings)
    assert any(finding.code.startswith("DBI1") and finding.fix.edits for finding in first.findings)
    parsed.clear()

    def conftest_rewritten(*args):  # type: ignore[no-untyped-def]
        raise AssertionError("the edits of the conftest fixture were computed again")

    monkeypatch.setattr("dbisolint.state_fix.with_managed_fixture", conftest_rewritten)
    again = checker.check([Path(".")], config, edits=True, cache_dir=cache)
    assert again.findings == first.findings and parsed == [], "JSON and SARIF output, warm, parse nothing"


def test_a_files_analysis_leaves_no_cycles_behind():
    """A run pauses the cycle collector (and a worker, during each file): a file's tree and
    scopes must then be freed by their reference counts alone, or every file read stays in
    memory to the end of the run."""
    import gc

    from dbisolint.analysis import analyse_source
    from dbisolint.engine_call import ENGINE_FACTORIES
    from dbisolint.model import FileTask, ModuleName, StateSettings

    source = (FIXTURES / "projects" / "polluted_suite" / "app" / "state.py").read_bytes()
    task = FileTask("app/state.py", ModuleName("app.state"), frozenset({"DBI101"}), ENGINE_FACTORIES, state=StateSettings())
    gc.collect()
    gc.disable()
    try:
        report = analyse_source(task, source)
        left = gc.collect()  # what only the collector could free
    finally:
        gc.enable()
    assert report.facts is not None and report.facts.definitions
    assert left < 50, f"{left} objects in cycles"


def test_workers_started_for_a_few_files_grow_for_many():
    from dbisolint.workers import Workers

    items = _tasks(20)
    with Workers(1) as one, Workers(2) as two:
        two.prepare(1)
        few = two.analyse_all(items[:3])
        assert two._size == 1, "a few files are parsed by the one worker prepared for them"
        many = two.analyse_all(items)
        assert two._size == 2, "many files get all the workers"
        alone = one.analyse_all(items)
    assert [report.findings for report in few] == [report.findings for report in alone[:3]]
    assert [report.findings for report in many] == [report.findings for report in alone]
