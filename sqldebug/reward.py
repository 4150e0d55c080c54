"""The reward: one function, weights in one place, a breakdown that sums to the total.

A submission is scored on four components, each in [0, 1]: ``correct`` (equal to the solution on
every instance), ``executes`` (ran without error), ``valid`` (parses and binds to the schema) and
``progress`` (how near the result is, averaged over every instance). The step reward pays each
component's **improvement** over the best seen so far in the episode, starting from the broken
query's own score. Consequences, each tested:

* resubmitting the broken query, or any query no better than one already submitted, earns nothing
  but the step cost: rewards cannot be farmed by repetition or by small variations;
* the return of an episode is at most the sum of the weights (reached by solving at the first step
  a task whose broken query does not even run); solving later costs only the step costs between;
* a correct fix scores above any incorrect submission at the same step, because ``correct`` weighs
  more than everything else together and an incorrect result has progress < 1 on some instance;
* a typed-out answer (the visible result as VALUES) earns progress on the visible instance only, so
  it scores well below half of a correct fix;
* probe and inspect actions pay only the step cost: information has its price, never a profit.

Penalties: ``step_cost`` on every action, ``repeat_penalty`` for a submission identical to an
earlier one, ``safety_penalty`` for a statement that was blocked or ran past its budget.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqldebug.models import RewardBreakdown


@dataclass(frozen=True)
class RewardWeights:
    """Weights and penalties; the defaults are documented in docs/reward.md."""

    correct: float = 0.6
    executes: float = 0.1
    valid: float = 0.1
    progress: float = 0.2
    step_cost: float = 0.01
    repeat_penalty: float = 0.05
    safety_penalty: float = 0.1

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"reward weight {f.name} must be >= 0")
        if self.correct <= self.executes + self.valid + self.progress:
            raise ValueError(
                "reward weight 'correct' must exceed executes + valid + progress, "
                "so that a correct fix always scores above an incorrect one"
            )

    @classmethod
    def from_mapping(cls, values: dict[str, float] | None) -> RewardWeights:
        known = {f.name for f in fields(cls)}
        unknown = set(values or {}) - known
        if unknown:
            raise ValueError(f"unknown reward weight(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**(values or {}))

    @property
    def max_return(self) -> float:
        return self.correct + self.executes + self.valid + self.progress


@dataclass(frozen=True)
class Score:
    """A submission's absolute quality, each component in [0, 1]."""

    correct: float = 0.0
    executes: float = 0.0
    valid: float = 0.0
    progress: float = 0.0

    def best(self, other: Score) -> Score:
        """Component-wise maximum: the best seen so far."""
        if (
            other.correct >= self.correct
            and other.executes >= self.executes
            and other.valid >= self.valid
            and other.progress >= self.progress
        ):
            return other
        return Score(
            max(self.correct, other.correct),
            max(self.executes, other.executes),
            max(self.valid, other.valid),
            max(self.progress, other.progress),
        )

    def weighted(self, w: RewardWeights) -> float:
        return (
            w.correct * self.correct
            + w.executes * self.executes
            + w.valid * self.valid
            + w.progress * self.progress
        )


def step_reward(
    w: RewardWeights,
    *,
    score: Score | None,
    best: Score,
    repeated: bool = False,
    unsafe: bool = False,
) -> RewardBreakdown:
    """The reward of one action. ``score`` is None for actions that are not graded (probe,
    inspect, reset_query); ``best`` is the best score so far (the broken query's at first)."""
    correct = executes = valid = progress = 0.0
    if score is not None and not repeated:
        correct = round(w.correct * max(0.0, score.correct - best.correct), 6)
        executes = round(w.executes * max(0.0, score.executes - best.executes), 6)
        valid = round(w.valid * max(0.0, score.valid - best.valid), 6)
        progress = round(w.progress * max(0.0, score.progress - best.progress), 6)
    step_cost = -w.step_cost
    repeat_penalty = -w.repeat_penalty if repeated else 0.0
    safety_penalty = -w.safety_penalty if unsafe else 0.0
    total = round(
        correct + executes + valid + progress + step_cost + repeat_penalty + safety_penalty, 6
    )
    return RewardBreakdown(
        correct=correct,
        executes=executes,
        valid=valid,
        progress=progress,
        step_cost=step_cost,
        repeat_penalty=repeat_penalty,
        safety_penalty=safety_penalty,
        total=total,
    )
