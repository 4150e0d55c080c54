"""The reward (sqldebug/reward.py) and the invariants of DESIGN.md §4, through the real environment.

Every invariant is checked on every bundled task where it applies: the breakdown sums to the
reward; a correct fix scores above any incorrect submission at the same step; the typed-out answer
scores below half of a correct fix; probes and inspections cannot be farmed; repeats are penalised;
same seed and same actions give the same episode.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sqldebug
from sqldebug.models import RewardBreakdown
from sqldebug.reward import RewardWeights, Score, step_reward
from sqldebug.sandbox import Result
from sqldebug.validate import constant_answer
from tests.conftest import ENGINE_TASKS

SEED = 11
TOL = 1e-5  # each step rounds its terms to 6 decimals; a sum of steps drifts by a few 1e-7
ALL_TASKS = [t.id for t in ENGINE_TASKS]  # every small-dataset task, a sample of warehouse ones
QUERY_TASKS = [t.id for t in ENGINE_TASKS if t.kind == "query"]
COMPONENTS = (
    "correct",
    "executes",
    "valid",
    "progress",
    "step_cost",
    "repeat_penalty",
    "safety_penalty",
)
SYNTAX_ERROR = "SELEC name FROM nowhere"
DEFAULTS = RewardWeights()


def test_bundled_tasks_are_found() -> None:
    assert len(QUERY_TASKS) >= 5
    assert set(QUERY_TASKS) < set(ALL_TASKS)


# -- helpers ---------------------------------------------------------------------------------------


def fresh(task_id: str, **config: Any) -> sqldebug.SQLDebugEnv:
    env = sqldebug.make(task_id, **config)
    env.reset(seed=SEED)
    return env


def first_step(
    task_id: str, action: Any, **config: Any
) -> tuple[sqldebug.Observation, float, dict[str, Any]]:
    """The observation, reward and info of ``action`` as the first step of a fresh episode."""
    env = fresh(task_id, **config)
    obs, reward, _, _, info = env.step(action)
    return obs, reward, info


def body(sql: str) -> str:
    return sql.strip().rstrip(";").strip()


def partial_query(task: sqldebug.Task) -> str:
    """The solution's rows plus a copy of its first row: most of the answer, never all of it."""
    sol = body(task.solution)
    return f"SELECT * FROM ({sol}) UNION ALL SELECT * FROM (SELECT * FROM ({sol}) LIMIT 1)"


def visible_answer(env: sqldebug.SQLDebugEnv) -> Result:
    """The solution's visible result, as an agent sees it: by probing the solution."""
    probe_env = sqldebug.make(env.task.id, show_rows=10_000)
    probe_env.reset(seed=env.seed)
    obs, *_ = probe_env.step({"type": "probe", "sql": env.task.solution})
    assert obs.error is None and obs.result is not None and not obs.result.truncated
    return Result(columns=obs.result.columns, rows=[tuple(r) for r in obs.result.rows])


def a_table(env: sqldebug.SQLDebugEnv) -> str:
    return next(iter(env.observation.sample_rows))


def assert_sums(breakdown: RewardBreakdown, reward: float) -> None:
    parts = breakdown.model_dump()
    assert set(parts) == {*COMPONENTS, "total"}
    assert sum(parts[c] for c in COMPONENTS) == pytest.approx(parts["total"], abs=TOL)
    assert reward == parts["total"]


# -- the breakdown sums to the reward --------------------------------------------------------------


@pytest.mark.parametrize("task_id", ALL_TASKS)
def test_breakdown_sums_to_reward_for_every_step_kind(task_id: str) -> None:
    env = fresh(task_id, max_steps=30)
    task = env.task
    table = a_table(env)
    actions: list[tuple[str, Any]] = [
        (
            "probe",
            {
                "type": "probe",
                "sql": task.solution if task.kind == "query" else f"SELECT * FROM {table}",
            },
        ),
        ("inspect_schema", {"type": "inspect_schema"}),
        ("inspect_sample", {"type": "inspect_sample", "table": table}),
        ("inspect_sample unknown", {"type": "inspect_sample", "table": "no_such_table"}),
        ("reset_query", {"type": "reset_query"}),
        ("syntax error", SYNTAX_ERROR),
        ("broken", task.broken),
        ("repeat", task.broken),
        ("drop missing table", "DROP TABLE x"),
        ("blocked", f"DROP TABLE {table}"),
        ("seed spelling probe", {"action_type": "probe_query", "query": "SELECT 1"}),
        ("correct", task.solution),
    ]
    total = 0.0
    for label, action in actions:
        obs, reward, terminated, _, info = env.step(action)
        assert_sums(obs.reward_breakdown, reward)
        assert info["reward_breakdown"] == obs.reward_breakdown.model_dump(), label
        assert obs.reward_breakdown.step_cost == -DEFAULTS.step_cost, label
        total += reward
        if label == "repeat":
            assert obs.reward_breakdown.repeat_penalty == -DEFAULTS.repeat_penalty
        if label == "blocked":
            assert obs.error is not None and obs.error.kind == "blocked"
            assert obs.reward_breakdown.safety_penalty == -DEFAULTS.safety_penalty
        assert terminated == (label == "correct"), label
    assert env.state().total_reward == pytest.approx(total, abs=TOL)
    assert sum(h.reward for h in env.state().history) == pytest.approx(total, abs=TOL)


def test_runaway_query_is_penalised_and_sums() -> None:
    task_id = QUERY_TASKS[0]
    obs, reward, _ = first_step(
        task_id,
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    )
    assert obs.error is not None and obs.error.kind == "budget"
    assert obs.reward_breakdown.safety_penalty == -DEFAULTS.safety_penalty
    assert_sums(obs.reward_breakdown, reward)
    assert reward < 0


# -- a correct fix beats every incorrect submission at the same step -------------------------------


def incorrect_submissions(env: sqldebug.SQLDebugEnv) -> dict[str, str]:
    task = env.task
    return {
        "broken": task.broken,
        "syntax error": SYNTAX_ERROR,
        "constant answer": constant_answer(visible_answer(env)),
        "partially right": partial_query(task),
        "unknown column": "SELECT no_such_column FROM " + a_table(env),
    }


@pytest.mark.parametrize("task_id", QUERY_TASKS)
def test_correct_fix_scores_above_every_incorrect_submission_at_step_one(task_id: str) -> None:
    env = fresh(task_id)
    solution_obs, solution_reward, _, _, solution_info = env.step(env.task.solution)
    assert solution_obs.solved
    for label, sql in incorrect_submissions(env).items():
        env.reset(seed=SEED)
        obs, reward, terminated, _, info = env.step(sql)
        assert not terminated and not obs.solved, label
        assert reward < solution_reward, (label, reward, solution_reward)
        if "score" in info:
            assert info["score"] < solution_info["score"], label


@pytest.mark.parametrize("task_id", QUERY_TASKS)
def test_correct_fix_scores_above_every_incorrect_submission_at_a_later_step(task_id: str) -> None:
    env = fresh(task_id)
    prefix = partial_query(env.task)
    env.step(prefix)
    _, solution_reward, terminated, _, _ = env.step(env.task.solution)
    assert terminated
    for label, sql in incorrect_submissions(env).items():
        if sql == prefix:
            continue
        env.reset(seed=SEED)
        env.step(prefix)
        _, reward, terminated, _, _ = env.step(sql)
        assert not terminated, label
        assert reward < solution_reward, (label, reward, solution_reward)


@pytest.mark.parametrize("task_id", QUERY_TASKS)
def test_partial_query_is_partially_right(task_id: str) -> None:
    # the helper above really is a near miss: it runs, is not correct, and earns some progress
    env = fresh(task_id)
    obs, _, terminated, _, info = env.step(partial_query(env.task))
    assert obs.error is None
    assert not terminated
    assert 0.0 < info["components"]["progress"] < 1.0


# -- the constant-answer hack ----------------------------------------------------------------------


@pytest.mark.parametrize("task_id", QUERY_TASKS)
def test_constant_answer_scores_below_half_of_a_correct_fix(task_id: str) -> None:
    env = fresh(task_id)
    answer = visible_answer(env)
    assert answer.rows
    hack = constant_answer(answer)

    _, solution_reward, _, _, solution_info = env.step(env.task.solution)
    env.reset(seed=SEED)
    obs, hack_reward, terminated, _, hack_info = env.step(hack)

    assert not terminated and not obs.solved
    assert obs.result is not None and obs.result.row_count == len(answer.rows)
    # right on the visible instance, but not on every hidden one
    assert obs.message.startswith("Right on the rows you can see, wrong on other data")
    assert hack_reward < 0.5 * solution_reward
    assert hack_info["score"] < 0.5 * solution_info["score"]


# -- probes and inspections cannot be farmed -------------------------------------------------------


@pytest.mark.parametrize("task_id", ALL_TASKS)
def test_probe_and_inspect_never_pay(task_id: str) -> None:
    env = fresh(task_id)
    task = env.task
    tables = list(env.observation.sample_rows)
    cycle: list[Any] = [
        {
            "type": "probe",
            "sql": task.solution if task.kind == "query" else f"SELECT * FROM {tables[0]}",
        },
        {"type": "inspect_schema"},
        *({"type": "inspect_sample", "table": t} for t in tables),
        {"type": "probe", "sql": "SELECT 1"},
        {"type": "reset_query"},
    ]
    rewards = []
    truncated = False
    i = 0
    while not truncated:
        obs, reward, terminated, truncated, _ = env.step(cycle[i % len(cycle)])
        i += 1
        assert not terminated
        assert reward <= 0.0
        gains = obs.reward_breakdown
        assert gains.correct == gains.executes == gains.valid == gains.progress == 0.0
        rewards.append(reward)
    assert len(rewards) == env.max_steps
    assert sum(rewards) < 0.0
    assert env.state().total_reward < 0.0
    assert not env.state().solved


def test_probing_the_solution_does_not_make_its_submission_pay_less() -> None:
    # probing first costs exactly one step: the submission that follows is paid as usual
    task_id = QUERY_TASKS[0]
    env = fresh(task_id)
    _, direct, *_ = env.step(env.task.solution)
    env.reset(seed=SEED)
    _, probe_reward, *_ = env.step({"type": "probe", "sql": env.task.solution})
    _, after_probe, *_ = env.step(env.task.solution)
    assert probe_reward == pytest.approx(-DEFAULTS.step_cost, abs=TOL)
    assert after_probe == pytest.approx(direct, abs=TOL)


# -- resubmissions and repeats ---------------------------------------------------------------------


@pytest.mark.parametrize("task_id", ALL_TASKS)
def test_resubmitting_the_broken_query_earns_nothing(task_id: str) -> None:
    obs, reward, _ = first_step(task_id, sqldebug.load_catalog().get(task_id).broken)
    assert reward <= 0.0
    assert reward == pytest.approx(-DEFAULTS.step_cost, abs=TOL)
    assert not obs.solved


@pytest.mark.parametrize("task_id", QUERY_TASKS)
def test_resubmitting_the_broken_query_after_progress_earns_nothing(task_id: str) -> None:
    env = fresh(task_id)
    env.step(partial_query(env.task))
    _, reward, *_ = env.step(env.task.broken)
    assert reward <= 0.0


@pytest.mark.parametrize("task_id", QUERY_TASKS)
def test_repeating_any_submission_gets_the_repeat_penalty(task_id: str) -> None:
    env = fresh(task_id, max_steps=30)
    submissions = [
        env.task.broken,
        SYNTAX_ERROR,
        partial_query(env.task),
        constant_answer(visible_answer(env)),
    ]
    for sql in submissions:
        env.step(sql)
    for sql in submissions:
        # the same statement, other whitespace around it
        obs, reward, terminated, _, _ = env.step("  " + sql + "\n")
        assert not terminated
        assert obs.reward_breakdown.repeat_penalty == -DEFAULTS.repeat_penalty
        assert obs.reward_breakdown.correct == obs.reward_breakdown.progress == 0.0
        assert reward == pytest.approx(-DEFAULTS.step_cost - DEFAULTS.repeat_penalty, abs=TOL)


def test_a_different_statement_is_not_a_repeat() -> None:
    env = fresh(QUERY_TASKS[0])
    env.step(SYNTAX_ERROR)
    obs, *_ = env.step(SYNTAX_ERROR + " WHERE 1")
    assert obs.reward_breakdown.repeat_penalty == 0.0


# -- the return of an episode ----------------------------------------------------------------------


def improvement_value(baseline: Score, w: RewardWeights) -> float:
    return Score(1.0, 1.0, 1.0, 1.0).weighted(w) - baseline.weighted(w)


@pytest.mark.parametrize("task_id", ALL_TASKS)
def test_solving_at_step_one_earns_the_whole_improvement(task_id: str) -> None:
    env = fresh(task_id)
    baseline = env.best
    _, reward, terminated, _, _ = env.step(env.task.solution)
    assert terminated
    assert env.state().total_reward == pytest.approx(
        improvement_value(baseline, DEFAULTS) - DEFAULTS.step_cost, abs=TOL
    )
    assert reward <= DEFAULTS.max_return - DEFAULTS.step_cost + TOL


@pytest.mark.parametrize("task_id", ALL_TASKS)
def test_solving_later_costs_only_the_step_costs_in_between(task_id: str) -> None:
    env = fresh(task_id, max_steps=30)
    env.step(env.task.solution)
    at_once = env.state().total_reward
    env.reset(seed=SEED)
    detour: list[Any] = [
        {"type": "inspect_schema"},
        SYNTAX_ERROR,
        env.task.broken + " ",
        {"type": "reset_query"},
    ]
    if env.task.kind == "query":
        detour.append(partial_query(env.task))
    for action in detour:
        env.step(action)
    env.step(env.task.solution)
    assert env.state().solved
    assert env.state().total_reward == pytest.approx(
        at_once - len(detour) * DEFAULTS.step_cost, abs=TOL
    )
    assert env.state().total_reward < at_once


@pytest.mark.parametrize("task_id", ALL_TASKS)
def test_return_never_exceeds_the_sum_of_the_weights(task_id: str) -> None:
    env = fresh(task_id, max_steps=30)
    for action in [
        SYNTAX_ERROR,
        env.task.broken,
        {"type": "probe", "sql": "SELECT 1"},
        env.task.solution,
    ]:
        env.step(action)
    assert env.state().total_reward <= DEFAULTS.max_return + TOL


def test_max_return_is_reached_when_the_broken_query_scores_nothing() -> None:
    # a task whose broken query does not even parse starts from zero: solving it at once earns
    # every weight, less one step cost
    zero_start = []
    for task_id in ALL_TASKS:
        env = fresh(task_id)
        if env.best == Score():
            env.step(env.task.solution)
            zero_start.append(task_id)
            assert env.state().total_reward == pytest.approx(
                DEFAULTS.max_return - DEFAULTS.step_cost, abs=TOL
            )
    assert zero_start, "expected a bundled task whose broken query does not run"


# -- weights ---------------------------------------------------------------------------------------


def test_default_weights_are_valid_and_correct_dominates() -> None:
    w = RewardWeights()
    assert w.correct > w.executes + w.valid + w.progress
    assert w.max_return == pytest.approx(w.correct + w.executes + w.valid + w.progress)


@pytest.mark.parametrize(
    "name",
    ["correct", "executes", "valid", "progress", "step_cost", "repeat_penalty", "safety_penalty"],
)
def test_negative_weight_raises(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RewardWeights(**{name: -0.01})


@pytest.mark.parametrize(
    "values",
    [
        {"correct": 0.4},  # 0.4 == 0.1 + 0.1 + 0.2
        {"correct": 0.3},
        {"correct": 0.6, "progress": 0.5},
        {"correct": 0.0, "executes": 0.0, "valid": 0.0, "progress": 0.0},
    ],
)
def test_correct_must_outweigh_the_rest(values: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="correct"):
        RewardWeights(**values)


def test_from_mapping_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="corect"):
        RewardWeights.from_mapping({"corect": 1.0})


def test_from_mapping_fills_defaults() -> None:
    assert RewardWeights.from_mapping(None) == RewardWeights()
    assert RewardWeights.from_mapping({"step_cost": 0.02}) == RewardWeights(step_cost=0.02)


def test_make_rejects_unknown_weight_names() -> None:
    with pytest.raises(ValueError, match="bogus"):
        sqldebug.make(QUERY_TASKS[0], weights={"bogus": 1.0})


def test_make_rejects_invalid_weights() -> None:
    with pytest.raises(ValueError):
        sqldebug.make(QUERY_TASKS[0], weights={"correct": 0.1})


def test_custom_weights_change_the_reward() -> None:
    task_id = QUERY_TASKS[0]
    custom = {"correct": 2.0, "step_cost": 0.05, "repeat_penalty": 0.2}
    _, default_reward, _ = first_step(task_id, sqldebug.load_catalog().get(task_id).solution)
    obs, reward, _ = first_step(
        task_id, sqldebug.load_catalog().get(task_id).solution, weights=custom
    )
    assert obs.reward_breakdown.correct == pytest.approx(2.0)
    assert obs.reward_breakdown.step_cost == pytest.approx(-0.05)
    assert reward == pytest.approx(
        default_reward + (2.0 - DEFAULTS.correct) - (0.05 - DEFAULTS.step_cost), abs=TOL
    )
    assert_sums(obs.reward_breakdown, reward)

    env = fresh(task_id, weights=custom)
    env.step(SYNTAX_ERROR)
    obs, reward, *_ = env.step(SYNTAX_ERROR)
    assert obs.reward_breakdown.repeat_penalty == pytest.approx(-0.2)
    assert reward == pytest.approx(-0.25, abs=TOL)


def test_weights_object_is_accepted_by_make() -> None:
    task_id = QUERY_TASKS[0]
    obs, _, _ = first_step(
        task_id, sqldebug.load_catalog().get(task_id).solution, weights=RewardWeights(correct=1.5)
    )
    assert obs.reward_breakdown.correct == pytest.approx(1.5)


# -- step_reward on its own ------------------------------------------------------------------------


def test_ungraded_action_pays_only_the_step_cost() -> None:
    b = step_reward(DEFAULTS, score=None, best=Score(0.0, 1.0, 1.0, 0.5))
    assert b.total == -DEFAULTS.step_cost
    assert b.correct == b.executes == b.valid == b.progress == 0.0


def test_no_pay_for_a_score_no_better_than_the_best() -> None:
    best = Score(0.0, 1.0, 1.0, 0.6)
    b = step_reward(DEFAULTS, score=Score(0.0, 1.0, 1.0, 0.4), best=best)
    assert b.total == -DEFAULTS.step_cost
    b = step_reward(DEFAULTS, score=best, best=best)
    assert b.total == -DEFAULTS.step_cost


def test_improvement_is_paid_by_component() -> None:
    b = step_reward(DEFAULTS, score=Score(0.0, 1.0, 1.0, 0.75), best=Score(0.0, 1.0, 1.0, 0.25))
    assert b.progress == pytest.approx(DEFAULTS.progress * 0.5)
    assert b.executes == b.valid == b.correct == 0.0
    assert b.total == pytest.approx(DEFAULTS.progress * 0.5 - DEFAULTS.step_cost)


def test_repeated_submission_is_not_paid_even_if_better() -> None:
    b = step_reward(DEFAULTS, score=Score(1.0, 1.0, 1.0, 1.0), best=Score(), repeated=True)
    assert b.total == pytest.approx(-DEFAULTS.step_cost - DEFAULTS.repeat_penalty)


def test_unsafe_statement_pays_the_safety_penalty() -> None:
    b = step_reward(DEFAULTS, score=Score(), best=Score(), unsafe=True)
    assert b.safety_penalty == -DEFAULTS.safety_penalty
    assert b.total == pytest.approx(-DEFAULTS.step_cost - DEFAULTS.safety_penalty)


def test_score_best_is_componentwise() -> None:
    assert Score(1.0, 0.0, 0.5, 0.2).best(Score(0.0, 1.0, 0.25, 0.7)) == Score(1.0, 1.0, 0.5, 0.7)


UNIT = st.floats(0.0, 1.0)
SCORES = st.builds(Score, UNIT, UNIT, UNIT, UNIT)


@st.composite
def weights(draw: st.DrawFn) -> RewardWeights:
    executes, valid, prog = draw(UNIT), draw(UNIT), draw(UNIT)
    correct = executes + valid + prog + draw(st.floats(0.01, 2.0))
    small = st.floats(0.0, 0.5)
    return RewardWeights(correct, executes, valid, prog, draw(small), draw(small), draw(small))


@settings(max_examples=150, deadline=None)
@given(weights(), SCORES, SCORES, st.booleans(), st.booleans())
def test_prop_breakdown_sums_and_is_bounded(
    w: RewardWeights, score: Score, best: Score, repeated: bool, unsafe: bool
) -> None:
    b = step_reward(w, score=score, best=best, repeated=repeated, unsafe=unsafe)
    assert sum(getattr(b, c) for c in COMPONENTS) == pytest.approx(b.total, abs=TOL)
    assert b.total <= w.max_return - w.step_cost + TOL
    for name in ("correct", "executes", "valid", "progress"):
        assert getattr(b, name) >= 0.0
    if repeated or score.best(best) == best:
        assert b.total <= -w.step_cost + TOL


@settings(max_examples=150, deadline=None)
@given(weights(), SCORES, st.floats(0.0, 0.999999), SCORES)
def test_prop_correct_beats_incorrect_from_any_best(
    w: RewardWeights, best: Score, near: float, other: Score
) -> None:
    # a correct result from the same best beats any incorrect one (progress < 1 when incorrect)
    correct = step_reward(w, score=Score(1.0, 1.0, 1.0, 1.0), best=best)
    wrong = Score(0.0, other.executes, other.valid, near)
    incorrect = step_reward(w, score=wrong, best=best)
    if best.correct < 1.0:
        assert correct.total > incorrect.total


# -- determinism -----------------------------------------------------------------------------------


def script(task: sqldebug.Task, table: str) -> list[Any]:
    return [
        {"type": "inspect_schema"},
        {"type": "inspect_sample", "table": table},
        {"type": "probe", "sql": f"SELECT * FROM {table} LIMIT 3"},
        SYNTAX_ERROR,
        task.broken,
        task.broken,
        {"type": "reset_query"},
        f"DROP TABLE {table}",
        task.solution,
    ]


@pytest.mark.parametrize("task_id", ALL_TASKS)
def test_same_seed_same_actions_same_episode(task_id: str) -> None:
    runs = []
    for _ in range(2):
        env = sqldebug.make(task_id, max_steps=30)
        obs, info = env.reset(seed=SEED)
        trace: list[Any] = [(obs.model_dump(), info)]
        for action in script(env.task, a_table(env)):
            obs, reward, terminated, truncated, info = env.step(action)
            trace.append((obs.model_dump(), reward, terminated, truncated, info))
        runs.append(trace)
    assert runs[0] == runs[1]
    assert runs[0][-1][2] is True  # the script ends solved, so the whole path was walked
