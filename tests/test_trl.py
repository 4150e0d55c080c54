"""sqldebug.integrations.trl without TRL: extraction, reward functions called exactly as TRL calls
them, dataset rows, and the tool environment in-process and against a real `sqldebug serve`.

The run with TRL itself (GRPOTrainer on the CPU) is tests/test_trl_smoke.py.
"""

from __future__ import annotations

import inspect
import json
import math
import pickle
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sqldebug
from sqldebug.client import ServerError
from sqldebug.errors import OptionError, SQLDebugError, UnknownTaskError
from sqldebug.integrations.extract import extract_sql
from sqldebug.integrations.trl import (
    COMPONENTS,
    TOOL_INSTRUCTION,
    TOOL_PROMPT,
    MissingDependencyError,
    RewardInputError,
    RewardScorer,
    SQLDebugReward,
    SQLDebugToolEnv,
    dataset_rows,
    environment_factory,
    make_dataset,
    reward_functions,
)
from tests.server_support import Live, free_port, running

TASK = "shop/top-products-ties"
MUTATION = next(t for t in sqldebug.load_tasks(split=None) if t.kind == "mutation")
TASKS = {t.id: t for t in sqldebug.load_tasks(split=None)}
SOLUTION = TASKS[TASK].solution
BROKEN = TASKS[TASK].broken


# -- extraction ---------------------------------------------------------------------------------

EXTRACTION = [
    ("```sql\nSELECT 1\n```", "SELECT 1"),
    ("Try:\n```sql\nSELECT 1\n```\nBetter:\n```SQL\nSELECT 2;\n```\nDone.", "SELECT 2;"),
    ("```sqlite\nSELECT 3\n```", "SELECT 3"),
    ("```\nSELECT 4 FROM t\n```", "SELECT 4 FROM t"),  # unlabelled, but a statement
    ("```python\nprint('SELECT 1')\n```", None),  # other languages are not SQL
    ("```sql\nSELEC broken\n```", "SELEC broken"),  # a sql block as written, broken or not
    ("Here:\n```sql\nSELECT 5 FROM t WHERE", "SELECT 5 FROM t WHERE"),  # cut off at the limit
    ("```sql SELECT 6```", "SELECT 6"),
    ("~~~sql\nSELECT 7\n~~~", "SELECT 7"),
    ("SELECT a FROM t", "SELECT a FROM t"),
    ("  SELECT a FROM t;  \n", "SELECT a FROM t;"),
    ("Fix: SELECT a FROM t", "SELECT a FROM t"),
    (
        "The fix:\n\nSELECT a\nFROM t\nWHERE x = 'don''t'\n\nThis works because it's right.",
        "SELECT a\nFROM t\nWHERE x = 'don''t'",
    ),
    ("SELECT a FROM t\nUNION\nSELECT b FROM u", "SELECT a FROM t\nUNION\nSELECT b FROM u"),
    ("SELECT 1;\n\nSELECT 2;", "SELECT 2"),  # several bare statements: the last
    ("Was:\nSELECT a FROM t WHERE b\nNow:\nSELECT a FROM t WHERE c", "SELECT a FROM t WHERE c"),
    ("WITH x AS (SELECT 1 AS n) SELECT n FROM x", "WITH x AS (SELECT 1 AS n) SELECT n FROM x"),
    ("UPDATE t SET a = 1 WHERE b = 2", "UPDATE t SET a = 1 WHERE b = 2"),
    ("DELETE FROM t WHERE a IS NULL", "DELETE FROM t WHERE a IS NULL"),
    ("INSERT INTO t (a) VALUES (1)", "INSERT INTO t (a) VALUES (1)"),
    ("REPLACE INTO t (a) VALUES (1)", "REPLACE INTO t (a) VALUES (1)"),
    ("SELECT FROM WHERE (\n\nsorry", "SELECT FROM WHERE ("),  # starts like SQL: graded as broken
    ("<think>```sql\nSELECT 0\n```</think>\nSELECT 9", "SELECT 9"),  # drafts are not answers
    ("I don't know.", None),
    ("The answer is 42.", None),
    ("", None),
    ("   \n\n ", None),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACTION)
def test_extraction_rules(text: str, expected: str | None) -> None:
    assert extract_sql(text) == expected


def test_extraction_from_chat_messages() -> None:
    assert extract_sql([{"role": "assistant", "content": "```sql\nSELECT 1\n```"}]) == "SELECT 1"
    parts = [{"type": "text", "text": "SELECT 2"}, {"type": "image"}]
    assert extract_sql([{"role": "assistant", "content": parts}]) == "SELECT 2"
    assert extract_sql({"role": "assistant", "content": "SELECT 3"}) == "SELECT 3"
    # a multi-turn completion: tool results are not answers; the last submission wins
    call = {
        "type": "function",
        "function": {"name": "submit_sql", "arguments": {"sql": "SELECT 4"}},
    }
    turns = [
        {"role": "assistant", "content": "SELECT 1"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "name": "submit_sql", "content": "```sql\nSELECT 99\n```"},
    ]
    assert extract_sql(turns) == "SELECT 4"
    assert extract_sql([*turns, {"role": "assistant", "content": "So: SELECT 5"}]) == "SELECT 5"
    assert extract_sql([{"role": "tool", "content": "SELECT 6"}]) is None
    assert extract_sql([]) is None


@pytest.mark.parametrize("odd", [None, 42, 3.5, {"content": None}, [None, 7], [{"role": "user"}]])
def test_extraction_never_raises_on_odd_completions(odd: Any) -> None:
    assert extract_sql(odd) is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("SELECT from;`'\"\n:()*,x1<>/think-")), max_size=80))
def test_extraction_never_raises(text: str) -> None:
    found = extract_sql(text)
    assert found is None or (isinstance(found, str) and found.strip() == found and found)


# -- reward functions, called the way TRL calls them ------------------------------------------


class TRLLog:
    """What TRL passes as ``log_metric`` and ``log_extra``, recording the calls."""

    def __init__(self) -> None:
        self.metrics: dict[str, list[float]] = {}
        self.extra: dict[str, list[Any]] = {}

    def log_metric(self, name: str, value: float) -> None:
        self.metrics.setdefault(name, []).append(value)

    def log_extra(self, column: str, values: list[Any]) -> None:
        self.extra.setdefault(column, []).extend(values)


def trl_call(
    func: Any, rows: list[dict[str, Any]], completions: list[Any], log: TRLLog | None = None
) -> list[float | None]:
    """Call ``func`` exactly as GRPOTrainer._calculate_rewards does: keyword arguments only,
    every column but prompt/completion as a list (one value per completion), the trainer state
    and the two logging callables."""
    assert len(rows) == len(completions)
    keys = [k for k in rows[0] if k not in ("prompt", "completion", "completion_ids")]
    columns = {k: [row[k] for row in rows] for k in keys}
    log = log or TRLLog()
    result: list[float | None] = func(
        prompts=[row["prompt"] for row in rows],
        completions=completions,
        completion_ids=[[1, 2, 3] for _ in completions],
        **columns,
        trainer_state=object(),
        log_extra=log.log_extra,
        log_metric=log.log_metric,
    )
    assert isinstance(result, list) and len(result) == len(completions)
    return result


def fence(sql: str) -> str:
    return f"Here is the fix:\n```sql\n{sql}\n```"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return dataset_rows(task_ids=[TASK], seeds=[0, 1])


def group(rows: list[dict[str, Any]], per_row: int) -> list[dict[str, Any]]:
    """TRL's batch layout: each row repeated once per generation."""
    return [row for row in rows for _ in range(per_row)]


def engine_reward(task_id: str, seed: int, sql: str) -> tuple[float, dict[str, float]]:
    env = sqldebug.make(task_id)
    env.reset(seed=seed)
    obs, reward, *_ = env.step({"type": "submit", "sql": sql})
    return reward, obs.reward_breakdown.model_dump()


def test_total_reward_is_the_engines_first_step_reward(rows: list[dict[str, Any]]) -> None:
    (total,) = reward_functions()
    assert total.__name__ == "total"
    batch = group(rows, 4)  # 2 prompts x 4 generations, as TRL lays them out
    completions = [
        fence(SOLUTION),
        SOLUTION,  # bare
        [{"role": "assistant", "content": fence(BROKEN)}],  # chat, the broken query back
        "I am not sure what to change.",  # no SQL
    ] * 2
    log = TRLLog()
    rewards = trl_call(total, batch, completions, log)
    for row, completion, reward in zip(batch, completions, rewards, strict=True):
        sql = extract_sql(completion) or ""
        assert reward == engine_reward(row["task_id"], row["seed"], sql)[0]
    assert rewards[0] > 0.5 and rewards[0] == rewards[1]  # fenced or bare: the same fix
    assert rewards[2] == pytest.approx(-0.01)  # handing back the broken query earns nothing
    assert rewards[3] == pytest.approx(-0.01)  # no SQL: an empty submission's step cost
    assert log.metrics == {"sqldebug/solved": [0.5], "sqldebug/no_sql": [0.25]}
    assert log.extra["sql"][3] is None and log.extra["sql"][0] == SOLUTION.strip()


def test_components_sum_to_the_total(rows: list[dict[str, Any]]) -> None:
    funcs = reward_functions(components=True)
    assert [f.__name__ for f in funcs] == list(COMPONENTS)
    assert set(COMPONENTS) == set(sqldebug.RewardBreakdown.model_fields) - {"total"}
    (total,) = reward_functions(scorer=funcs[0].scorer)
    batch = group(rows, 3)
    completions = [fence(SOLUTION), fence("SELECT 1; SELECT 2"), fence(BROKEN)] * 2
    per_component = [trl_call(f, batch, completions) for f in funcs]
    totals = trl_call(total, batch, completions)
    weights = [1.0] * len(funcs)  # TRL's default reward_weights
    for i, expected in enumerate(totals):
        assert expected is not None
        mixed = sum(
            w * float(values[i] or 0.0) for w, values in zip(weights, per_component, strict=True)
        )
        assert mixed == pytest.approx(expected, abs=1e-9)
    # each is the breakdown's own value
    breakdown = engine_reward(TASK, 0, SOLUTION)[1]
    assert [values[0] for values in per_component] == [breakdown[c] for c in COMPONENTS]
    # two statements in one block are blocked: the safety penalty shows in its own component
    assert per_component[COMPONENTS.index("safety_penalty")][1] == pytest.approx(-0.1)


def test_trl_reward_weights_mix_like_engine_weights(rows: list[dict[str, Any]]) -> None:
    """TRL's reward_weights scale the components; the engine's weights do the same job."""
    trl_weights = {"correct": 2.0, "executes": 0.5, "progress": 1.5, "step_cost": 3.0}
    base = sqldebug.RewardWeights()
    scaled = {
        name: getattr(base, name) * trl_weights.get(name, 1.0)
        for name in ("correct", "executes", "valid", "progress", "step_cost")
    }
    funcs = reward_functions(components=True)
    (engine_total,) = reward_functions(weights=scaled)
    batch = group(rows, 3)
    completions = [fence(SOLUTION), fence("SELECT product_id FROM order_items"), "nothing"] * 2
    per_component = [trl_call(f, batch, completions) for f in funcs]
    expected = trl_call(engine_total, batch, completions)
    for i, total in enumerate(expected):
        mixed = sum(
            trl_weights.get(f.__name__, 1.0) * float(values[i] or 0.0)
            for f, values in zip(funcs, per_component, strict=True)
        )
        assert mixed == pytest.approx(total, abs=1e-6)


def test_none_for_rows_of_other_sources_and_errors_for_bad_batches(
    rows: list[dict[str, Any]],
) -> None:
    (total,) = reward_functions()
    other = {"prompt": "What is 2 + 2?", "task_id": None, "seed": None, "split": None}
    mixed = [rows[0], other, rows[1], other]
    rewards = trl_call(total, mixed, [fence(SOLUTION), "4", fence(SOLUTION), "SELECT 4"])
    assert rewards[1] is None and rewards[3] is None
    assert rewards[0] is not None and rewards[0] > 0.5
    # a batch that is all another source's: every reward None (TRL ignores them)
    assert trl_call(total, [other, other], ["4", "5"]) == [None, None]
    # a missing seed column means seed 0
    assert total(prompts=["p"], completions=[fence(SOLUTION)], task_id=[TASK]) == [
        engine_reward(TASK, 0, SOLUTION)[0]
    ]
    with pytest.raises(RewardInputError, match="no 'task_id' column"):
        total(prompts=["p"], completions=["SELECT 1"], seed=[0])
    with pytest.raises(RewardInputError, match="2 values for 1 completions"):
        total(prompts=["p"], completions=["SELECT 1"], task_id=[TASK, TASK])
    with pytest.raises(RewardInputError, match="seed must be an integer"):
        total(prompts=["p"], completions=["SELECT 1"], task_id=[TASK], seed=["x"])
    with pytest.raises(UnknownTaskError):
        total(prompts=["p"], completions=["SELECT 1"], task_id=["shop/nope"], seed=[0])
    with pytest.raises(RewardInputError, match="unknown reward component"):
        SQLDebugReward("speed")
    with pytest.raises(OptionError):
        reward_functions(k=0)
    assert issubclass(RewardInputError, SQLDebugError)


def test_components_share_one_grading(
    rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    funcs = reward_functions(components=True)
    scorer = funcs[0].scorer
    assert all(f.scorer is scorer for f in funcs)
    steps = 0
    real_step = scorer.env.step

    def counting_step(action: Any) -> Any:
        nonlocal steps
        steps += 1
        return real_step(action)

    monkeypatch.setattr(scorer.env, "step", counting_step)
    batch = group(rows, 4)
    completions = [fence(SOLUTION), fence(SOLUTION), "no", "no"] * 2
    for func in funcs:
        trl_call(func, batch, completions)
    assert steps == 4  # (2 seeds) x (2 distinct completions), graded once for 7 functions


def test_reward_functions_pickle(rows: list[dict[str, Any]]) -> None:
    (total,) = reward_functions(k=2)
    before = trl_call(total, rows, [fence(SOLUTION)] * 2)
    copy = pickle.loads(pickle.dumps(total))
    assert copy.__name__ == "total" and copy.scorer.config == {"k": 2}
    assert trl_call(copy, rows, [fence(SOLUTION)] * 2) == before


def test_mutation_tasks_and_generated_tasks_are_scored() -> None:
    scorer = RewardScorer()
    solved = scorer.score_completion(fence(MUTATION.solution), MUTATION.id, 3)
    assert solved.solved and solved.breakdown.total > 0.5
    generated = dataset_rows(task_ids=["generated:shop"], seeds=[0, 1])
    (total,) = reward_functions()
    rewards = trl_call(total, generated, ["nothing", fence("SELECT 1")])
    env = sqldebug.make("generated:shop")
    env.reset(seed=1)
    assert rewards == [pytest.approx(-0.01), env.step("SELECT 1")[1]]


# -- dataset rows -------------------------------------------------------------------------------


def test_dataset_rows_carry_prompt_task_seed_split() -> None:
    rows = dataset_rows(seeds=2)
    train = [t for t in TASKS.values() if t.split == "train"]
    assert len(rows) == 2 * len(train)
    assert {r["split"] for r in rows} == {"train"}
    assert set(rows[0]) == {"prompt", "task_id", "seed", "split"}
    first = rows[0]
    task = TASKS[first["task_id"]]
    obs = sqldebug.make(task.id).reset(seed=first["seed"])[0]
    assert first["prompt"] == [{"role": "user", "content": obs.prompt}]
    assert task.broken.strip() in obs.prompt and task.solution.strip() not in obs.prompt
    assert [r["seed"] for r in rows[:2]] == [0, 1]
    assert len(dataset_rows(split=None)) == len(TASKS)
    text = dataset_rows(task_ids=[TASK], seeds=[7], conversational=False, system_prompt="Be brief.")
    assert text[0]["seed"] == 7 and text[0]["prompt"].startswith("Be brief.\n\n# Task:")
    chat = dataset_rows(task_ids=[TASK], system_prompt="Be brief.")
    assert [m["role"] for m in chat[0]["prompt"]] == ["system", "user"]
    tools = dataset_rows(task_ids=[TASK], tools=True)
    assert tools[0]["prompt"] == [{"role": "user", "content": TOOL_PROMPT}]
    assert json.loads(json.dumps(rows)) == rows  # plain data, as datasets stores it


def test_dataset_rows_refuse_bad_options() -> None:
    with pytest.raises(UnknownTaskError):
        dataset_rows(task_ids=["shop/nope"])
    with pytest.raises(OptionError, match="no tasks match"):
        dataset_rows(category="no-such-category")
    with pytest.raises(OptionError, match="at least one seed"):
        dataset_rows(seeds=0)
    with pytest.raises(OptionError, match="conversational"):
        dataset_rows(tools=True, conversational=False)
    with pytest.raises(OptionError):
        dataset_rows(k=0)


def test_make_dataset_without_the_datasets_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(MissingDependencyError, match=r"sqldebug\[trl\]"):
        make_dataset(task_ids=[TASK])


def test_importing_the_integration_loads_no_training_or_interface_library() -> None:
    heavy = ("trl", "datasets", "torch", "transformers", "typer", "rich", "fastapi", "uvicorn")
    code = (
        "import sys, sqldebug.integrations.trl; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the tool environment -----------------------------------------------------------------------

TOOLS = {"submit_sql", "probe_sql", "inspect_sample"}


def test_environment_has_the_shape_trl_expects() -> None:
    cls = environment_factory()
    # TRL: no-argument constructor; every public function but reset/get_reward is a tool
    public = {n for n, _ in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}
    assert public == TOOLS | {"reset", "get_reward"}
    for name in TOOLS:
        method = getattr(cls, name)
        doc = inspect.getdoc(method) or ""
        params = [p for p in inspect.signature(method).parameters if p != "self"]
        assert "Args:" in doc and "Returns:" in doc
        assert all(f"{p}:" in doc.split("Args:")[1] for p in params)
        assert inspect.get_annotations(method, eval_str=True) == {
            **{p: str for p in params},
            "return": str,
        }
    assert inspect.signature(cls).parameters == {}


def play(env: SQLDebugToolEnv, row: dict[str, Any]) -> dict[str, Any]:
    prompt = env.reset(**row)
    transcript = {"prompt": prompt}
    transcript["sample"] = env.inspect_sample("orders")
    transcript["probe"] = env.probe_sql("SELECT count(*) AS n FROM orders")
    transcript["wrong"] = env.submit_sql("SELECT 1")
    transcript["right"] = env.submit_sql(SOLUTION)
    transcript["after"] = env.submit_sql(SOLUTION)
    transcript["reward"] = env.get_reward()
    return transcript


def expected_return(seed: int) -> float:
    env = sqldebug.make(TASK)
    env.reset(seed=seed)
    for action in (
        {"type": "inspect_sample", "table": "orders"},
        {"type": "probe", "sql": "SELECT count(*) AS n FROM orders"},
        "SELECT 1",
        SOLUTION,
    ):
        env.step(action)
    return env.state().total_reward


def check_transcript(transcript: dict[str, Any], seed: int) -> None:
    prompt = transcript["prompt"]
    assert TASKS[TASK].intent.strip()[:40] in prompt and BROKEN.strip() in prompt
    assert TOOL_INSTRUCTION in prompt and "```sql block" not in prompt
    assert "orders" in transcript["sample"] and "steps left" in transcript["sample"]
    assert "Probe ran" in transcript["probe"]
    assert "Not correct yet" in transcript["wrong"] or "did not run" in transcript["wrong"]
    assert "Correct" in transcript["right"] and "solved" in transcript["right"]
    assert "episode is over (solved)" in transcript["after"]
    assert transcript["reward"] == pytest.approx(expected_return(seed), abs=1e-6)
    assert transcript["reward"] > 0.5


def test_environment_in_process() -> None:
    env = environment_factory()()
    row = {"prompt": [{"role": "user", "content": TOOL_PROMPT}], "task_id": TASK, "seed": 3}
    check_transcript(play(env, {**row, "split": "test"}), 3)
    # reset starts over; the same instance plays another task
    env.reset(task_id=MUTATION.id, seed=1)
    assert env.get_reward() == pytest.approx(-0.01)  # nothing submitted yet
    assert "Probe ran" in env.probe_sql("SELECT 1")
    assert env.get_reward() == pytest.approx(-0.02)  # the probe's step cost, no submission yet
    assert "no such table" in env.inspect_sample("nope")
    assert "needs a table name" in env.inspect_sample("")
    env.submit_sql(MUTATION.solution)
    assert env.get_reward() > 0.5


def test_environment_options() -> None:
    cls = environment_factory(k=2, max_steps=2, no_submission_penalty=0.0)
    env = cls()
    env.reset(task_id=TASK, seed=0)
    assert env.get_reward() == 0.0
    env.submit_sql("SELECT 1")
    assert "out of steps" in env.submit_sql("SELECT 2")
    assert "episode is over (out of steps)" in env.submit_sql(SOLUTION)
    with pytest.raises(OptionError):
        environment_factory(k=0)
    with pytest.raises(OptionError, match="in-process only"):
        environment_factory("http://127.0.0.1:1", k=2)
    with pytest.raises(SQLDebugError, match="reset"):
        SQLDebugToolEnv().submit_sql("SELECT 1")
    with pytest.raises(UnknownTaskError):
        SQLDebugToolEnv().reset(task_id="shop/nope", seed=0)
    with pytest.raises(OptionError, match="seed must be an integer"):
        SQLDebugToolEnv().reset(task_id=TASK, seed=1.5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running(tmp_path_factory.mktemp("serve-trl")) as live:
        yield live


def test_environment_against_a_real_server(server: Live) -> None:
    import httpx

    cls = environment_factory(server.url)
    env = cls()
    row = {"prompt": [{"role": "user", "content": TOOL_PROMPT}], "task_id": TASK, "seed": 3}
    remote = play(env, row)
    check_transcript(remote, 3)
    local = play(environment_factory()(), row)
    assert remote == local  # the same episode, whichever side plays it
    sessions = httpx.get(f"{server.url}/health").json()["sessions"]
    for seed in range(3):  # each reset ends the instance's previous session
        env.reset(task_id=TASK, seed=seed)
    assert httpx.get(f"{server.url}/health").json()["sessions"] == sessions


def test_environment_reports_an_unreachable_server() -> None:
    env = environment_factory(f"http://127.0.0.1:{free_port()}", timeout=5)()
    with pytest.raises(ServerError, match="cannot reach"):
        env.reset(task_id=TASK, seed=0)


def test_scoring_is_deterministic_across_scorers(rows: list[dict[str, Any]]) -> None:
    completions = [fence(SOLUTION), fence("SELECT product_id FROM order_items")]
    a = trl_call(reward_functions()[0], rows, completions)
    b = trl_call(reward_functions()[0], rows, completions)
    assert a == b and all(isinstance(r, float) and math.isfinite(r) for r in a)
