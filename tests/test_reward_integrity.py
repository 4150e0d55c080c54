"""Attacks on the reward, as an adversary who has read the source would try them (issue 13).

Each attack once won the reward without the fix; each is kept here, parametrized over the bundled
task set and several seeds, and must now lose everywhere:

* swapped columns: two same-typed columns of the solution's select list in each other's place;
* an answer lookup keyed on table sizes: every hidden instance the attacker can compute (the old
  fixed pool of 16, or the public default's draws for the seeds it expects), typed out and picked
  by the row counts of the tables;
* visible-detect: the typed-out answer when the table sizes are the visible ones, the broken
  query otherwise (and its strongest form, an exact detector, checked on the grader);
* a correct fix still earns more than any wrong submission at the same step (mutants of the
  solution made by the generator's bug operators).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlglot
from sqlglot import exp

import sqldebug
from sqldebug.bench import BenchSpec, RunFolderError, run_bench
from sqldebug.generation.operators import OPERATORS, render
from sqldebug.grading import Grader
from sqldebug.runtime import Runtime, get_runtime
from sqldebug.sandbox import Result
from sqldebug.spec import Task
from sqldebug.validate import constant_answer
from sqldebug.variants import fingerprint
from tests.conftest import BUNDLED, ENGINE_TASKS, QUERY_TASKS
from tests.server_support import running

SEEDS = range(5)
query_ids = [t.id for t in QUERY_TASKS]


def _play(env: sqldebug.SQLDebugEnv, sql: str, seed: int) -> tuple[bool, float]:
    env.reset(seed=seed)
    _, reward, solved, _, _ = env.step(sql)
    return solved, reward


def _counts(inst: object, runtime: Runtime, task: Task) -> list[tuple[str, int]]:
    pool = runtime.pool(task.dataset)
    box = inst.reader()  # type: ignore[attr-defined]
    return [(s.name, box.run(f'SELECT count(*) FROM "{s.name}"').rows[0][0]) for s in pool.shapes]


def _when(counts: list[tuple[str, int]]) -> str:
    return " AND ".join(f'(SELECT count(*) FROM "{t}") = {n}' for t, n in counts)


def _typed(rows: list[tuple[object, ...]], width: int) -> str:
    if not rows:
        return "SELECT " + ", ".join(["NULL"] * width) + " WHERE 0"
    return constant_answer(Result([f"c{i}" for i in range(width)], list(rows)))


# -- swapped columns --------------------------------------------------------------------------


def _swaps(task: Task, grader: Grader, runtime: Runtime) -> list[tuple[int, int]]:
    """Pairs of result columns that hold values of the same type on the visible instance, and
    differ in some row (two columns equal row by row make no swap at all)."""
    res = grader.expected(runtime.pool(task.dataset).visible)[""][0]
    kinds = []
    for i in range(len(res.columns)):
        kinds.append(frozenset(type(r[i]).__name__ for r in res.rows if r[i] is not None))
    return [
        (i, j)
        for i, j in itertools.combinations(range(len(kinds)), 2)
        if kinds[i] == kinds[j] and any(r[i] != r[j] for r in res.rows)
    ]


def _swapped(solution: str, i: int, j: int) -> str:
    """The solution with select-list items i and j (expressions and aliases) in each other's
    place, in every branch of a set operation."""
    tree = sqlglot.parse_one(solution, read="sqlite")
    branches = [tree] if isinstance(tree, exp.Select) else list(tree.find_all(exp.Select))
    for sel in branches:
        if (
            sel.parent_select is not None
            and sel is not tree
            and not isinstance(sel.parent, exp.SetOperation)
        ):
            continue  # a subquery's select list is not the result's
        items = sel.expressions
        if len(items) > max(i, j):
            items[i], items[j] = items[j], items[i]
            sel.set("expressions", items)
    return render(tree)


SWAP_CASES = [
    (task, i, j)
    for task in QUERY_TASKS
    for i, j in _swaps(task, get_runtime().grader(task), get_runtime())
]


def test_some_tasks_have_same_typed_columns_to_swap() -> None:
    # the property below covers many tasks, not a handful
    assert len({t.id for t, _, _ in SWAP_CASES}) >= 60


@pytest.mark.parametrize(
    ("task", "i", "j"), SWAP_CASES, ids=[f"{t.id}[{i}<->{j}]" for t, i, j in SWAP_CASES]
)
def test_swapped_columns_are_never_correct(task: Task, i: int, j: int, runtime: Runtime) -> None:
    swapped = _swapped(task.solution, i, j)
    env = sqldebug.SQLDebugEnv(runtime, [task])
    env.reset(seed=0)
    # the attack is real: with any column order allowed, the swap is the reference's answer
    lenient = Grader(task.model_copy(update={"column_order": "any"}))
    assert lenient.grade(swapped, env.instances).correct
    for seed in SEEDS:
        solved_fix, reward_fix = _play(env, task.solution, seed)
        solved, reward = _play(env, swapped, seed)
        assert solved_fix
        assert not solved, f"seed {seed}: columns {i} and {j} swapped are graded correct"
        assert reward < reward_fix


# -- answer lookups keyed on table sizes --------------------------------------------------------


def _lookup(task: Task, runtime: Runtime, known: list[object]) -> str:
    """One query that carries the answer of every instance in ``known`` and picks one by the
    tables' row counts (the first that matches)."""
    grader = runtime.grader(task)
    width = len(grader.expected(known[0])[""][0].columns)  # type: ignore[arg-type]
    branches = []
    taken: list[str] = []
    for inst in known:
        cond = _when(_counts(inst, runtime, task))
        if cond in taken:
            continue  # another instance with these sizes comes first
        rows = grader.expected(inst)[""][0].rows  # type: ignore[arg-type]
        guard = cond + "".join(f" AND NOT ({c})" for c in taken)
        branches.append(f"SELECT * FROM ({_typed(rows, width)}) WHERE {guard}")
        taken.append(cond)
    return "\nUNION ALL\n".join(branches)


def _old_pool(task: Task) -> list[object]:
    """What an attacker computes from the source and the public seeds: the visible instance and
    the fixed pool of 16 variants the engine drew from before."""
    runtime = get_runtime(secret="")
    pool = runtime.pool(task.dataset)
    return [pool.visible, *(pool.variant(i) for i in range(16))]


@pytest.mark.parametrize("task", QUERY_TASKS, ids=query_ids)
def test_a_lookup_over_the_old_fixed_pool_never_solves(task: Task, runtime: Runtime) -> None:
    hack = _lookup(task, runtime, _old_pool(task))
    env = sqldebug.SQLDebugEnv(runtime, [task])
    graded = runtime.grader(task).grade(hack, _old_pool(task)[:1])
    if len(hack) > runtime.limits.max_sql_chars:
        # a warehouse's answers over 17 instances do not fit in one statement: refused unrun
        assert graded.error is not None and "characters long" in graded.error.message
        return
    # the attack is real: on the instances it knows it is right
    assert graded.correct
    for seed in SEEDS:
        assert not _play(env, hack, seed)[0], f"seed {seed}"


@pytest.mark.parametrize("task", QUERY_TASKS, ids=query_ids)
def test_public_instances_tell_nothing_of_a_deployment_with_a_secret(task: Task) -> None:
    public = get_runtime(secret="")
    secret = get_runtime(secret="a deployment secret")
    # the attacker precomputes every instance the public default draws for the seeds it expects
    known = [public.pool(task.dataset).visible]
    for seed in SEEDS:
        known += public.instances(task, seed, 4)[1:]
    hack = _lookup(task, public, known)
    env_public = sqldebug.SQLDebugEnv(public, [task])
    env_secret = sqldebug.SQLDebugEnv(secret, [task])
    won_public = sum(_play(env_public, hack, seed)[0] for seed in SEEDS)
    assert won_public >= 1 or not public.grader(task).grade(hack, known[:1]).correct
    for seed in SEEDS:
        assert not _play(env_secret, hack, seed)[0], f"seed {seed} with a secret"


def test_the_secret_changes_the_hidden_data_but_not_the_visible() -> None:
    task = QUERY_TASKS[0]
    a, b = get_runtime(secret=""), get_runtime(secret="s3cret")
    pa, pb = a.pool(task.dataset), b.pool(task.dataset)
    dump = lambda inst: list(inst.template.iterdump())  # noqa: E731
    assert dump(pa.visible) == dump(pb.visible)
    assert dump(pa.variant(7)) != dump(pb.variant(7))
    assert dump(pb.variant(7)) == dump(get_runtime(secret="s3cret").pool(task.dataset).variant(7))
    assert fingerprint("") == "public"
    assert fingerprint("s3cret") != fingerprint("other") and "s3cret" not in fingerprint("s3cret")


def test_table_sizes_do_not_tell_the_visible_instance(runtime: Runtime) -> None:
    # some hidden variants keep every table's visible row count. Not the warehouses' (sampled
    # variants): there a value moved in a keep-count variant can take a UNIQUE slot, and the row
    # put back for it is refused (docs/reward.md); telling their visible instance by its sizes
    # wins nothing, as the hidden instances still grade a visible-only answer wrong
    # (test_every_episode_has_a_hidden_instance_that_exposes_the_bug)
    small = [d for d, ds in runtime.catalog.datasets.items() if ds.generate is None]
    for dataset in small:
        task = next(t for t in BUNDLED if t.dataset == dataset)
        pool = runtime.pool(dataset)
        visible = _counts(pool.visible, runtime, task)
        same = [i for i in pool.sample(16, 4) if _counts(pool.variant(i), runtime, task) == visible]
        assert len(same) >= 4, f"{dataset}: {len(same)} variants keep the visible row counts"


# -- visible-detect -----------------------------------------------------------------------------


def _visible_detect(task: Task, runtime: Runtime) -> str:
    pool = runtime.pool(task.dataset)
    grader = runtime.grader(task)
    res = grader.expected(pool.visible)[""][0]
    cond = _when(_counts(pool.visible, runtime, task))
    typed = _typed(res.rows, len(res.columns))
    return (
        f"SELECT * FROM ({typed}) WHERE {cond}\n"
        f"UNION ALL\nSELECT * FROM ({task.broken.rstrip().rstrip(';')}) WHERE NOT ({cond})"
    )


RUNNABLE_BROKEN = [
    t
    for t in QUERY_TASKS
    if get_runtime().grader(t).grade(t.broken, [get_runtime().pool(t.dataset).visible]).error
    is None
]


@pytest.mark.parametrize("task", RUNNABLE_BROKEN, ids=[t.id for t in RUNNABLE_BROKEN])
def test_visible_detect_never_solves(task: Task, runtime: Runtime) -> None:
    hack = _visible_detect(task, runtime)
    env = sqldebug.SQLDebugEnv(runtime, [task])
    assert runtime.grader(task).grade(hack, [runtime.pool(task.dataset).visible]).correct
    for seed in range(8):
        assert not _play(env, hack, seed)[0], f"seed {seed}"


@pytest.mark.parametrize("task", ENGINE_TASKS, ids=[t.id for t in ENGINE_TASKS])
def test_every_episode_has_a_hidden_instance_that_exposes_the_bug(
    task: Task, runtime: Runtime
) -> None:
    # the strongest visible-detect (an exact fingerprint of the visible data) loses too: some
    # hidden instance of every episode fails the broken query and has another answer
    grader = runtime.grader(task)
    for seed in range(20):
        instances, baseline = runtime.episode(task, seed, 4)
        assert baseline.exposes, f"seed {seed}"
        visible = grader.expected(instances[0])
        broken = grader.grade(task.broken, instances)
        scores = broken.per_instance or [0.0] * len(instances)
        assert any(
            s < 1.0 and not grader.same_answer(grader.expected(inst), visible)
            for inst, s in zip(instances[1:], scores[1:], strict=True)
        )


# -- a correct fix earns more than any wrong submission ------------------------------------------


def _mutants(task: Task, runtime: Runtime) -> list[str]:
    schema = {
        name: [c.name.lower() for c in cols]
        for name, cols in runtime.pool(task.dataset).schema.items()
    }
    out: list[str] = []
    tree = sqlglot.parse_one(task.solution, read="sqlite")
    for op in OPERATORS.values():
        source = task.solution if op.text_level else tree.copy()
        try:
            made = op.mutants(source, schema)
        except Exception:  # pragma: no cover - an operator that does not apply
            continue
        for m in made[:2]:
            out.append(m if isinstance(m, str) else render(m))
    return out


@pytest.mark.parametrize("task", ENGINE_TASKS, ids=[t.id for t in ENGINE_TASKS])
def test_a_correct_fix_outscores_every_wrong_submission(task: Task, runtime: Runtime) -> None:
    env = sqldebug.SQLDebugEnv(runtime, [task])
    wrong = [task.broken, *_mutants(task, runtime)]
    for seed in (0, 3):
        _, best = _play(env, task.solution, seed)
        for sql in wrong:
            solved, reward = _play(env, sql, seed)
            if not solved:
                assert reward < best, sql


# -- nothing hidden reaches the agent ------------------------------------------------------------


@pytest.mark.parametrize("task", BUNDLED[:12], ids=[t.id for t in BUNDLED[:12]])
def test_no_per_instance_verdict_or_bug_class_reaches_the_agent(task: Task) -> None:
    env = sqldebug.make(task.id)
    obs, info = env.reset(seed=3)
    assert "category" not in obs.model_dump() and "tags" not in obs.model_dump()
    assert "instances" not in info and "per_instance" not in info
    assert not obs.hints
    for sql in (task.broken, "SELECT 1", task.solution):
        obs, _, done, _, info = env.step(sql)
        text = json.dumps(info) + obs.model_dump_json()
        assert "per_instance" not in text and '"instances"' not in text
        assert task.category not in obs.prompt
        if done:
            break
    report = env.grading_report()
    assert report["submissions"] and len(report["instances"]) == 5


def test_the_grading_report_is_only_for_a_finished_episode() -> None:
    task = QUERY_TASKS[0]
    env = sqldebug.make(task.id)
    with pytest.raises(sqldebug.SQLDebugError, match="reset"):
        env.grading_report()
    env.reset(seed=0)
    env.step(task.broken)
    with pytest.raises(sqldebug.SQLDebugError, match="once the episode is over"):
        env.grading_report()
    env.step(task.solution)
    report = env.grading_report()
    assert [s["step"] for s in report["submissions"]] == [1, 2]
    assert report["submissions"][1]["per_instance"] == [1.0] * 5


@pytest.mark.parametrize("task", QUERY_TASKS[:20], ids=query_ids[:20])
def test_right_on_the_visible_rows_only_says_so_without_saying_where(
    task: Task, runtime: Runtime
) -> None:
    env = sqldebug.SQLDebugEnv(runtime, [task])
    env.reset(seed=0)
    hack = constant_answer(env.grader.expected(env.instances[0])[""][0])
    obs, *_ = env.step(hack)
    assert not obs.solved
    assert obs.message.startswith("Right on the rows you can see, wrong on other data")
    assert "instance" not in obs.message and "progress" not in obs.message


# -- the deployment secret end to end -------------------------------------------------------------


def test_a_bench_run_records_which_hidden_instances_graded_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = BenchSpec(agent="oracle", seeds=[0], filters={"dataset": "hr"})
    public = run_bench(spec, tmp_path / "public")
    assert public["secret_fingerprint"] == "public"
    monkeypatch.setenv("SQLDEBUG_SECRET", "bench secret")
    secret = run_bench(spec, tmp_path / "secret")
    manifest = json.loads((tmp_path / "secret" / "manifest.json").read_text())
    assert secret["secret_fingerprint"] == manifest["env"]["secret_fingerprint"]
    assert secret["secret_fingerprint"] == fingerprint("bench secret")
    assert "bench secret" not in (tmp_path / "secret" / "manifest.json").read_text()
    # a run graded on other hidden data is not resumed into this folder
    with pytest.raises(RunFolderError, match="environment settings"):
        run_bench(spec, tmp_path / "public")


def test_serve_with_a_secret_file_grades_on_data_no_one_else_has(tmp_path: Path) -> None:
    task = next(t for t in QUERY_TASKS if t.id == "shop/top-products-ties")
    public = get_runtime(secret="")
    hack = _lookup(task, public, public.instances(task, 0, 4))
    secret = tmp_path / "secret.txt"
    secret.write_text("the deployment's own secret\n")
    for extra, solves in (((), True), (("--secret-file", str(secret)), False)):
        with running(tmp_path, *extra) as live, httpx.Client(base_url=live.url, timeout=30) as http:
            sid = http.post("/reset", json={"task_id": task.id, "seed": 0}).json()["session_id"]
            body = http.post("/step", json={"action": hack}, headers={"X-Session-Id": sid}).json()
            assert body["observation"]["solved"] is solves, extra
    assert fingerprint("the deployment's own secret") in live.log.read_text()
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    done = subprocess.run(
        [sys.executable, "-m", "sqldebug", "serve", "--secret-file", str(empty)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "the file is empty" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("task", ENGINE_TASKS[::4], ids=[t.id for t in ENGINE_TASKS[::4]])
def test_a_wrong_submission_learns_nothing_of_the_hidden_data(task: Task) -> None:
    # The red team's oracle: progress averaged over instances told, to six decimals, on which
    # hidden instances a predicate held (submit V, then V WHERE P). Now everything an agent sees of
    # a wrong submission is the same whatever the hidden data are: two secrets, one trace.
    a, b = get_runtime(secret="one secret"), get_runtime(secret="another secret")
    visible = a.grader(task).expected(a.pool(task.dataset).visible)
    wrong = [task.broken, *_mutants(task, a)[:6]]
    if task.kind == "query":
        typed = constant_answer(visible[""][0])
        table = a.pool(task.dataset).shapes[-1].name
        wrong += [typed, f'SELECT * FROM ({typed}) WHERE (SELECT count(*) FROM "{table}") > 20']
    traces = []
    for runtime in (a, b):
        env = sqldebug.SQLDebugEnv(runtime, [task])
        trace = []
        for sql in wrong:
            env.reset(seed=4)
            obs, reward, solved, _, info = env.step(sql)
            if solved:
                trace.append("solved")
                continue
            trace.append((obs.model_dump_json(), reward, json.dumps(info, sort_keys=True)))
        traces.append(trace)
    assert traces[0] == traces[1]
