"""The one result comparison (``results_equal``) and the progress score, rule by rule.

Each hand-written case is named for the rule of sqldebug/grading.py it pins down; the property
tests at the end check the rules on generated results of mixed types.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqldebug.grading import progress, results_equal

NAN = float("nan")


# -- bags, order -----------------------------------------------------------------------------------


def test_bag_semantics_duplicates_count() -> None:
    assert not results_equal([(1,), (1,)], [(1,)])
    assert not results_equal([(1,)], [(1,), (1,)])
    assert results_equal([(1,), (1,), (2,)], [(2,), (1,), (1,)])


def test_bag_semantics_multiplicities_must_match() -> None:
    assert not results_equal([(1,), (1,), (2,)], [(1,), (2,), (2,)])


def test_row_order_ignored_by_default() -> None:
    assert results_equal([(1, "a"), (2, "b"), (3, "c")], [(3, "c"), (1, "a"), (2, "b")])


def test_row_order_matters_when_ordered() -> None:
    assert not results_equal([(1,), (2,)], [(2,), (1,)], ordered=True)


def test_ordered_compare_same_order_is_equal() -> None:
    assert results_equal([(1, "a"), (2, "b")], [(1, "a"), (2, "b")], ordered=True)


def test_ordered_compare_still_counts_duplicates() -> None:
    assert not results_equal([(1,), (1,)], [(1,)], ordered=True)


# -- columns ---------------------------------------------------------------------------------------


def test_column_names_ignored() -> None:
    assert results_equal(
        [(1, "a")], [(1, "a")], expected_columns=["id", "name"], actual_columns=["x", "y"]
    )


def test_columns_compare_by_position() -> None:
    expected = [("north", 10), ("south", 20)]
    actual = [(20, "south"), (10, "north")]
    names = {"expected_columns": ["region", "total"], "actual_columns": ["total", "region"]}
    assert not results_equal(expected, actual, **names)
    assert results_equal(expected, actual, any_order=True, **names)


def test_swapped_same_typed_columns_are_wrong() -> None:
    # the payer where the payee should be: each column's values exist, in the other's place
    expected = [(1, 2, 500), (3, 1, 700)]
    swapped = [(2, 1, 500), (1, 3, 700)]
    assert not results_equal(expected, swapped)
    assert not results_equal(expected, swapped, ordered=True)
    assert progress(expected, swapped) < 0.5
    assert results_equal(expected, swapped, any_order=True)


def test_column_order_any_with_ordered_rows() -> None:
    expected = [("north", 10), ("south", 20)]
    assert results_equal(expected, [(10, "north"), (20, "south")], ordered=True, any_order=True)
    assert not results_equal(expected, [(20, "south"), (10, "north")], ordered=True, any_order=True)


def test_column_permutation_must_be_consistent_across_rows() -> None:
    # Each column's values match some column of the other result, but no single column order
    # lines up every row.
    assert not results_equal([(1, "a"), (2, "b")], [(2, "a"), (1, "b")], any_order=True)


def test_column_permutation_found_among_many_lookalike_columns() -> None:
    # Five columns with the same value multiset {0, 1}: the matching column order (1 0 0 0 0 ->
    # 0 0 0 0 1) moves the last column first. Some permutation matches, so the results are equal.
    expected = [(1, 0, 0, 0, 0), (0, 1, 1, 1, 1)]
    actual = [(0, 0, 0, 0, 1), (1, 1, 1, 1, 0)]
    assert results_equal(expected, actual, any_order=True)
    assert not results_equal(expected, actual)


def test_different_column_counts_never_equal() -> None:
    assert not results_equal([(1, 2)], [(1, 2, 2)])
    assert not results_equal([(1,)], [(1, 1)])


def test_different_column_counts_never_equal_even_when_empty() -> None:
    # "The number of columns must match" holds for empty results too: SELECT a WHERE 0 does not
    # answer a question about (a, b).
    assert not results_equal([], [], expected_columns=["a"], actual_columns=["a", "b"])


def test_empty_results_with_same_columns_are_equal() -> None:
    assert results_equal([], [], expected_columns=["a"], actual_columns=["b"])
    assert results_equal([], [])


def test_empty_vs_non_empty_not_equal() -> None:
    assert not results_equal([], [(1,)])
    assert not results_equal([(1,)], [])
    assert not results_equal([], [(None,)], expected_columns=["a"], actual_columns=["a"])


# -- values ----------------------------------------------------------------------------------------


def test_int_equals_float_of_same_value() -> None:
    assert results_equal([(3,)], [(3.0,)])
    assert results_equal([(3.0, "x")], [(3, "x")], ordered=True)


def test_float_within_relative_tolerance_is_equal() -> None:
    assert results_equal([(1000.0,)], [(1000.0 * (1 + 1e-7),)])
    assert results_equal([(0.1 + 0.2,)], [(0.3,)])


def test_float_beyond_tolerance_is_not_equal() -> None:
    assert not results_equal([(1000.0,)], [(1000.0 * (1 + 1e-3),)])
    assert not results_equal([(1.0,)], [(1.001,)])


def test_float_tolerance_is_not_widened_by_rounding() -> None:
    # relative differences of 4.9e-6 and 3.9e-6: beyond the documented 1e-6
    assert not results_equal([(1.0,)], [(1.0000049,)])
    assert not results_equal([(1.2345601,)], [(1.2345649,)])
    assert not results_equal([(1.2345601,)], [(1.2345649,)], ordered=True)


def test_distinct_integers_never_equal_however_large() -> None:
    # Integers compare exactly: a difference in the 7th significant digit is a different amount
    # of cents, not rounding noise.
    assert not results_equal([(1234561,)], [(1234564,)])
    assert not results_equal([(12345601,)], [(12345649,)])
    assert progress([(1234561,)], [(1234564,)]) < 1.0


def test_large_floats_outside_tolerance_not_equal() -> None:
    # relative difference 2.4e-6 > 1e-6
    assert not results_equal([(1234561.0,)], [(1234564.0,)])


def test_text_never_equals_number() -> None:
    assert not results_equal([("3",)], [(3,)])
    assert not results_equal([(3.0,)], [("3.0",)])


def test_null_equals_null() -> None:
    assert results_equal([(None, 1)], [(None, 1)])
    assert results_equal([(None,), (None,)], [(None,), (None,)])


def test_null_not_equal_to_zero_or_empty_text() -> None:
    assert not results_equal([(None,)], [(0,)])
    assert not results_equal([(None,)], [(0.0,)])
    assert not results_equal([(None,)], [("",)])
    assert not results_equal([(0,)], [(None,)])


def test_bytes_compare_by_value() -> None:
    assert results_equal([(b"\x00\x01",)], [(b"\x00\x01",)])
    assert results_equal([(memoryview(b"ab"),)], [(b"ab",)])
    assert not results_equal([(b"ab",)], [(b"ac",)])


def test_bytes_never_equal_text() -> None:
    assert not results_equal([(b"a",)], [("a",)])


def test_nan_equals_nan() -> None:
    assert results_equal([(NAN,)], [(NAN,)])
    assert not results_equal([(NAN,)], [(1.0,)])


def test_nan_among_numbers_in_one_column() -> None:
    assert results_equal([(NAN,), (1.0,)], [(1.0,), (NAN,)])
    assert not results_equal([(NAN,), (1.0,)], [(2.0,), (NAN,)])


# -- progress --------------------------------------------------------------------------------------

CASES = [
    ([(1,), (2,)], [(1,), (2,)], False),
    ([(1,), (2,)], [(2,), (1,)], False),
    ([(1,), (2,)], [(2,), (1,)], True),
    ([(1, "a")], [("a", 1)], False),
    ([(1,), (1,)], [(1,)], False),
    ([(1,)], [], False),
    ([], [(1,)], False),
    ([(None,)], [(0,)], False),
    ([(3,)], [(3.0,)], True),
    ([(1, 2), (3, 4)], [(1, 2, 0)], False),
    ([("x", 1.5), ("y", 2.5)], [("y", 2.5), ("z", 9.0)], False),
]


@pytest.mark.parametrize(("expected", "actual", "ordered"), CASES)
def test_progress_is_one_exactly_when_equal(expected: list, actual: list, ordered: bool) -> None:
    score = progress(expected, actual, ordered=ordered)
    if results_equal(expected, actual, ordered=ordered):
        assert score == 1.0
    else:
        assert 0.0 <= score <= 0.95


def test_progress_right_bag_wrong_order_gets_0_9() -> None:
    assert progress(
        [(1, "a"), (2, "b"), (3, "c")], [(3, "c"), (2, "b"), (1, "a")], ordered=True
    ) == pytest.approx(0.9)


def test_progress_nothing_in_common_is_zero() -> None:
    assert progress([(1,), (2,)], [(7,), (8,)]) == 0.0


def test_progress_grows_with_overlap() -> None:
    expected = [(1,), (2,), (3,), (4,)]
    scores = [
        progress(expected, [(9,), (8,), (7,), (6,)]),
        progress(expected, [(1,), (8,), (7,), (6,)]),
        progress(expected, [(1,), (2,), (7,), (6,)]),
        progress(expected, [(1,), (2,), (3,), (6,)]),
        progress(expected, [(1,), (2,), (3,), (4,)]),
    ]
    assert scores == sorted(scores)
    assert len(set(scores)) == len(scores), scores
    assert scores[-1] == 1.0


def test_progress_of_extra_rows_below_one() -> None:
    expected = [(1,), (2,)]
    assert 0.0 < progress(expected, [(1,), (2,), (3,)]) < 1.0
    assert progress(expected, [(1,), (2,), (3,)]) > progress(
        expected, [(1,), (2,), (3,), (4,), (5,)]
    )


def test_progress_counts_columns_found_in_other_order_only_when_any_order() -> None:
    # with column_order: any the right columns in the other order are equal; one right column of
    # two earns column credit either way
    assert progress([(1, "a"), (2, "b")], [("a", 1), ("b", 2)], any_order=True) == 1.0
    assert progress([(1, "a"), (2, "b")], [("a", 1), ("b", 2)]) == 0.0
    assert 0.0 < progress([(1, "a"), (2, "b")], [(1, "x"), (2, "y")]) < 1.0
    assert 0.0 < progress([(1, "a"), (2, "b")], [(1, "x"), (2, "y")], any_order=True) < 1.0


# -- properties ------------------------------------------------------------------------------------

CELL = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tables(draw: st.DrawFn, min_rows: int = 0, max_width: int = 4) -> list[tuple]:
    width = draw(st.integers(1, max_width))
    return draw(st.lists(st.tuples(*[CELL] * width), min_size=min_rows, max_size=6))


@st.composite
def table_pairs(draw: st.DrawFn) -> tuple[list[tuple], list[tuple]]:
    """Two results of the same width, often sharing rows, so equal and near pairs both occur."""
    width = draw(st.integers(1, 3))
    pool = draw(st.lists(st.tuples(*[CELL] * width), min_size=1, max_size=4))
    row = st.one_of(st.sampled_from(pool), st.tuples(*[CELL] * width))
    return draw(st.lists(row, max_size=5)), draw(st.lists(row, max_size=5))


@SETTINGS
@given(table_pairs(), st.booleans())
def test_prop_results_equal_is_symmetric(pair: tuple[list, list], ordered: bool) -> None:
    a, b = pair
    assert results_equal(a, b, ordered=ordered) == results_equal(b, a, ordered=ordered)


@SETTINGS
@given(tables(), st.booleans())
def test_prop_results_equal_is_reflexive(rows: list, ordered: bool) -> None:
    assert results_equal(rows, list(rows), ordered=ordered)
    assert progress(rows, list(rows), ordered=ordered) == 1.0


@SETTINGS
@given(tables(), st.randoms(use_true_random=False))
def test_prop_row_permutation_equal_when_not_ordered(rows: list, rnd) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert results_equal(rows, shuffled)


@SETTINGS
@given(tables(min_rows=1), st.data(), st.booleans())
def test_prop_consistent_column_shuffle_is_equal(
    rows: list, data: st.DataObject, ordered: bool
) -> None:
    width = len(rows[0])
    order = data.draw(st.permutations(range(width)))
    moved = [tuple(r[j] for j in order) for r in rows]
    assert results_equal(rows, moved, ordered=ordered, any_order=True)


@SETTINGS
@given(tables(min_rows=1, max_width=4), st.data())
def test_prop_swapping_two_columns_is_wrong_unless_they_agree_row_by_row(
    rows: list, data: st.DataObject
) -> None:
    width = len(rows[0])
    if width < 2:
        return
    i, j = data.draw(st.permutations(range(width)))[:2]
    order = list(range(width))
    order[i], order[j] = j, i
    moved = [tuple(r[c] for c in order) for r in rows]
    agree = all(results_equal([(r[i],)], [(r[j],)]) for r in rows)
    assert results_equal(rows, moved, ordered=True) == agree
    assert results_equal(rows, moved, ordered=True, any_order=True)
    if not agree:
        assert progress(rows, moved, ordered=True) < 1.0


@SETTINGS
@given(tables(min_rows=1), st.data(), st.booleans())
def test_prop_adding_a_duplicate_row_makes_unequal(
    rows: list, data: st.DataObject, ordered: bool
) -> None:
    extra = data.draw(st.sampled_from(rows))
    assert not results_equal(rows, [*rows, extra], ordered=ordered)
    assert not results_equal([*rows, extra], rows, ordered=ordered)
    assert progress(rows, [*rows, extra], ordered=ordered) < 1.0


@SETTINGS
@given(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1))
def test_prop_integers_equal_only_when_equal(a: int, b: int) -> None:
    assert results_equal([(a,)], [(b,)]) == (a == b)


@SETTINGS
@given(st.text(max_size=8), st.text(max_size=8))
def test_prop_text_equal_only_when_equal(a: str, b: str) -> None:
    assert results_equal([(a,)], [(b,)]) == (a == b)


@SETTINGS
@given(table_pairs(), st.booleans())
def test_prop_progress_bounds(pair: tuple[list, list], ordered: bool) -> None:
    a, b = pair
    forward = progress(a, b, ordered=ordered)
    backward = progress(b, a, ordered=ordered)
    for score in (forward, backward):
        assert 0.0 <= score <= 1.0
        assert not math.isnan(score)
    equal = results_equal(a, b, ordered=ordered)
    assert (forward == 1.0) == equal
    assert (backward == 1.0) == equal
    if not equal:
        assert forward <= 0.95
        assert backward <= 0.95


@SETTINGS
@given(tables(), tables(), st.booleans())
def test_prop_mixed_types_never_crash(a: list, b: list, ordered: bool) -> None:
    equal = results_equal(a, b, ordered=ordered)
    score = progress(a, b, ordered=ordered)
    assert isinstance(equal, bool)
    assert 0.0 <= score <= 1.0
