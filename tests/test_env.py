"""The environment API over every bundled task: compliance, solving, grading, determinism."""

from __future__ import annotations

import pytest

import sqldebug
from sqldebug.errors import ActionError, EpisodeError, SQLDebugError, UnknownTaskError
from sqldebug.models import Observation
from sqldebug.runtime import Runtime
from sqldebug.spec import Task
from sqldebug.validate import constant_answer
from tests.conftest import BUNDLED, ENGINE_TASKS, QUERY_TASKS

ids = [t.id for t in ENGINE_TASKS]


@pytest.mark.parametrize("task", ENGINE_TASKS, ids=ids)
def test_reset_returns_observation_and_info(task: Task) -> None:
    env = sqldebug.make(task.id)
    obs, info = env.reset(seed=7)
    assert isinstance(obs, Observation)
    assert obs.task_id == task.id and obs.step == 0 and not obs.done and not obs.solved
    assert obs.broken_query == task.broken == obs.current_query
    assert obs.max_steps == task.max_steps
    assert set(obs.sample_rows) and all(t.columns for t in obs.sample_rows.values())
    assert info["seed"] == 7 and info["task_id"] == task.id
    assert len(env.instances) == 1 + env.config.k and env.instances[0].key == "visible"
    # no word of the hidden instances, and no bug class, reaches the agent
    assert "instances" not in info and "category" not in obs.model_dump()
    # the prompt has what an agent needs and nothing it must not see
    assert task.intent.strip()[:40] in obs.prompt
    assert task.broken.strip() in obs.prompt
    assert task.solution.strip() not in obs.prompt
    assert f"{task.max_steps} steps left" in obs.prompt


@pytest.mark.parametrize("task", ENGINE_TASKS, ids=ids)
def test_solution_solves_with_the_highest_reward(task: Task) -> None:
    env = sqldebug.make(task.id)
    env.reset(seed=1)
    obs, reward, terminated, truncated, info = env.step(task.solution)
    assert terminated and not truncated and obs.solved and obs.done
    assert info["components"]["correct"] == 1.0
    best = reward
    for other in (task.broken, "SELECT 1", "SELEC nonsense"):
        env.reset(seed=1)
        _, r, term, _, _ = env.step(other)
        assert not term
        assert r < best


@pytest.mark.parametrize("task", ENGINE_TASKS, ids=ids)
def test_broken_query_is_not_solved(task: Task) -> None:
    env = sqldebug.make(task.id)
    for seed in (0, 5):
        env.reset(seed=seed)
        obs, _, terminated, _, info = env.step(task.broken)
        assert not terminated and not obs.solved
        assert info["components"]["correct"] == 0.0


@pytest.mark.parametrize("task", QUERY_TASKS, ids=[t.id for t in QUERY_TASKS])
def test_constant_answer_is_not_solved(task: Task, runtime: Runtime) -> None:
    env = sqldebug.SQLDebugEnv(runtime, [task])
    for seed in range(6):
        env.reset(seed=seed)
        expected = env.grader.expected(env.instances[0])[""][0]
        hack = constant_answer(expected)
        obs, _, terminated, _, _ = env.step(hack)
        assert obs.error is None, obs.error
        assert obs.message.startswith("Right on the rows you can see")  # right on the visible...
        assert not terminated and not obs.solved  # ...and still graded incorrect


@pytest.mark.parametrize("task", ENGINE_TASKS, ids=ids)
def test_same_seed_same_actions_same_everything(task: Task) -> None:
    actions = [
        task.broken,
        {"type": "probe", "sql": "SELECT 1 AS one"},
        {"type": "inspect_schema"},
        "SELECT * FROM nowhere",
        task.solution,
    ]

    def play() -> list[object]:
        env = sqldebug.make(task.id)
        obs, info = env.reset(seed=42)
        trace: list[object] = [obs.model_dump(), info]
        for action in actions:
            obs, reward, term, trunc, info = env.step(action)
            trace += [obs.model_dump(), reward, term, trunc, info]
            if term or trunc:
                break
        return trace

    assert play() == play()


def test_seeds_pick_different_hidden_instances() -> None:
    env = sqldebug.make(BUNDLED[0].id)
    drawn = set()
    for s in range(20):
        env.reset(seed=s)
        drawn.add(tuple(i.key for i in env.instances))
    assert len(drawn) > 5
    assert all(keys[0] == "visible" for keys in drawn)


def test_the_observation_carries_the_datasets_notes() -> None:
    task = next(t for t in BUNDLED if t.dataset == "shop")
    env = sqldebug.make(task.id)
    obs, _ = env.reset(seed=0)
    notes = env.runtime.catalog.datasets["shop"].description.strip()
    assert notes and obs.dataset_description.strip() == notes
    about = obs.prompt.split("## About the data\n", 1)[1]
    assert about.startswith(notes) and about.index("## Schema") > len(notes)


def test_perturbed_visible_instance_changes_the_samples() -> None:
    task = next(t for t in BUNDLED if t.dataset == "shop")
    env = sqldebug.make(task.id)
    plain, _ = env.reset(seed=3)
    perturbed, _ = env.reset(seed=3, options={"perturb_visible": True})
    assert env.instances[0].key != "visible"
    assert perturbed.sample_rows != plain.sample_rows
    assert env.step(task.solution)[0].solved


def test_make_over_a_filtered_set_draws_tasks_by_seed() -> None:
    env = sqldebug.make(dataset="hr")
    seen = {env.reset(seed=s)[0].task_id for s in range(30)}
    assert len(seen) > 2 and all(t.startswith("hr/") for t in seen)
    assert env.reset(seed=4)[0].task_id == env.reset(seed=4)[0].task_id
    chosen = env.reset(seed=1, options={"task_id": "shop/top-products-ties"})[0]
    assert chosen.task_id == "shop/top-products-ties"


def test_out_of_steps_truncates() -> None:
    task = BUNDLED[0]
    env = sqldebug.make(task.id, max_steps=2)
    env.reset(seed=0)
    _, _, term, trunc, _ = env.step("SELECT 1")
    assert not term and not trunc
    obs, _, term, trunc, _ = env.step("SELECT 2")
    assert not term and trunc and obs.done and not obs.solved
    assert "out of steps" in obs.prompt
    with pytest.raises(EpisodeError, match="reset"):
        env.step("SELECT 3")


def test_step_before_reset_and_bad_actions_are_clear_errors() -> None:
    env = sqldebug.make(BUNDLED[0].id)
    with pytest.raises(EpisodeError, match=r"reset\(\)"):
        env.step("SELECT 1")
    env.reset(seed=0)
    with pytest.raises(ActionError, match="unknown action_type"):
        env.step({"action_type": "drop_everything"})
    with pytest.raises(ActionError, match="type"):
        env.step({"type": "explode"})
    with pytest.raises(ActionError):
        env.step(42)
    with pytest.raises(SQLDebugError, match="unknown reset option"):
        env.reset(options={"colour": "blue"})


def test_unknown_task_and_options_name_the_fix() -> None:
    with pytest.raises(UnknownTaskError, match="sqldebug tasks list"):
        sqldebug.make("shop/no-such-task")
    with pytest.raises(SQLDebugError, match="unknown option"):
        sqldebug.make(BUNDLED[0].id, colour="blue")


def test_every_action_spelling() -> None:
    task = next(t for t in QUERY_TASKS if t.dataset == "shop")
    env = sqldebug.make(task.id)
    env.reset(seed=0)
    spellings = [
        (task.broken, "submit"),
        ({"type": "probe", "sql": "SELECT count(*) FROM orders"}, "probe"),
        ({"action_type": "inspect_schema"}, "inspect_schema"),
        ({"action_type": "inspect_sample", "table_name": "orders"}, "inspect_sample"),
        ({"action_type": "reset_query"}, "reset_query"),
        (sqldebug.Action(type="probe", sql="SELECT 2"), "probe"),
        ({"action_type": "submit_query", "query": task.solution}, "submit"),
    ]
    for action, kind in spellings:
        obs, *_ = env.step(action)
        assert obs.last_action is not None and obs.last_action.type == kind
    assert obs.solved


def test_probe_and_inspect_show_data_without_grading() -> None:
    env = sqldebug.make("shop/top-products-ties")
    env.reset(seed=0)
    obs, reward, _, _, info = env.step({"type": "probe", "sql": "SELECT count(*) AS n FROM orders"})
    assert obs.result is not None and obs.result.columns == ["n"] and obs.result.rows[0][0] > 0
    assert "components" not in info and reward < 0
    obs, *_ = env.step({"type": "inspect_sample", "table": "ORDERS"})
    assert obs.result is not None and obs.result.row_count > 0
    obs, *_ = env.step({"type": "inspect_sample", "table": "nope"})
    assert obs.error is not None and obs.error.kind == "binding" and "orders" in obs.error.message
    obs, *_ = env.step({"type": "inspect_schema"})
    assert obs.result is not None and obs.result.rows[
        [r[0] for r in obs.result.rows].index("orders")
    ][:2] == ["orders", "id"]


def test_reset_query_restores_the_broken_query() -> None:
    task = BUNDLED[0]
    env = sqldebug.make(task.id)
    env.reset(seed=0)
    obs, *_ = env.step("SELECT 1")
    assert obs.current_query == "SELECT 1"
    obs, *_ = env.step({"type": "reset_query"})
    assert obs.current_query == task.broken


def test_hints_unlock_as_submissions_fail() -> None:
    task = next(t for t in BUNDLED if len(t.hints) >= 2 and t.max_steps >= 5)
    env = sqldebug.make(task.id)
    env.reset(seed=0)
    unlocked = []
    for i in range(4):
        obs, *_ = env.step(f"SELECT {i}")
        unlocked.append(len(obs.hints))
    assert unlocked == [0, 1, 1, 2]
    assert task.hints[0] in obs.prompt


def test_state_keeps_the_history_and_the_return() -> None:
    task = BUNDLED[0]
    env = sqldebug.make(task.id)
    env.reset(seed=9)
    rewards = [env.step(a)[1] for a in ("SELECT 1", {"type": "inspect_schema"}, task.solution)]
    state = env.state()
    assert state.task_id == task.id and state.seed == 9 and state.step == 3
    assert state.solved and state.done
    assert [h.reward for h in state.history] == rewards
    assert state.total_reward == pytest.approx(sum(rewards))
    assert [h.action.type for h in state.history] == ["submit", "inspect_schema", "submit"]


def test_review_mode_blocks_without_running_and_still_shapes_reward() -> None:
    env = sqldebug.make("shop/last-paid-order-syntax", review=True)  # a shop task: it has orders
    env.reset(seed=0)
    obs, reward, _, _, info = env.step("DELETE FROM orders")
    assert obs.error is not None and obs.error.kind == "blocked"
    assert any(f.severity == "block" for f in obs.findings)
    assert info["components"]["valid"] == 1.0  # parsed and bound: the shaped part of the reward
    assert reward > -env.config.weights.step_cost - env.config.weights.safety_penalty
    obs, *_ = env.step("SELECT * FROM orders WHERE status = NULL")
    assert "null-comparison" in [f.code for f in obs.findings]
    assert obs.error is None and obs.result is not None  # a warning does not stop the query


def test_mutation_task_is_graded_on_table_state() -> None:
    task = next(t for t in BUNDLED if t.kind == "mutation")
    env = sqldebug.make(task.id)
    env.reset(seed=0)
    obs, _, term, _, _ = env.step(task.broken)
    assert not term and obs.result is not None
    obs, _, term, _, _ = env.step("SELECT 1")  # changes nothing: not the wanted state
    assert not term
    obs, _, term, _, _ = env.step(task.solution)
    assert term and obs.solved
    # every statement ran on a throw-away copy: a new episode sees the original data
    env.reset(seed=0)
    assert env.step(task.solution)[0].solved


def test_writes_outside_the_graded_tables_are_blocked() -> None:
    task = next(t for t in BUNDLED if t.kind == "mutation")
    other = next(
        n for n in sqldebug.load_catalog().datasets[task.dataset].rows if n not in task.tables
    )
    env = sqldebug.make(task.id)
    env.reset(seed=0)
    obs, *_ = env.step(f"DELETE FROM {other}")
    assert obs.error is not None and obs.error.kind == "blocked" and other in obs.error.message


def test_custom_weights_and_k() -> None:
    task = BUNDLED[0]
    env = sqldebug.make(task.id, k=2, pool_size=4, weights={"correct": 2.0})
    env.reset(seed=0)
    assert len(env.instances) == 3
    _, reward, *_ = env.step(task.solution)
    assert reward > 1.5
    with pytest.raises(SQLDebugError):
        sqldebug.make(task.id, k=5, pool_size=4)


def test_every_action_type_has_its_handler() -> None:
    from typing import get_args

    from sqldebug.env import _HANDLERS
    from sqldebug.models import ActionType

    assert set(_HANDLERS) == set(get_args(ActionType))
