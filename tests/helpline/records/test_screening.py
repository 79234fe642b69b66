"""The screening scores: every AUDIT-C answer set against the published scoring written out
by hand, and the single drug question."""

from __future__ import annotations

import itertools

import pytest

from helpline.records import screening

# The published AUDIT-C scoring, written out independently of the code: each answer is worth
# 0-4 points; positive at 4+ for men and 3+ for women; we use 3 when sex is not recorded.
CUT_OFF = {"male": 4, "female": 3, None: 3}


def expected_audit_c(q1: int, q2: int, q3: int, sex: str | None) -> tuple[int, bool, str]:
    total = q1 + q2 + q3
    positive = total >= CUT_OFF[sex]
    if total == 0:
        meaning = "audit_c.none"
    elif not positive:
        meaning = "audit_c.negative"
    elif total >= 8:
        meaning = "audit_c.positive_high"
    elif q2 == 0 and q3 == 0:
        meaning = "audit_c.positive_frequency_only"
    else:
        meaning = "audit_c.positive"
    return total, positive, meaning


@pytest.mark.parametrize("sex", [None, "female", "male"])
@pytest.mark.parametrize(("q1", "q2", "q3"), list(itertools.product(range(5), repeat=3)))
def test_every_audit_c_answer_set_scores_as_published(q1, q2, q3, sex):
    result = screening.score("audit_c", {"q1": q1, "q2": q2, "q3": q3}, sex)
    score, positive, meaning = expected_audit_c(q1, q2, q3, sex)
    assert (result.score, result.positive, result.interpretation) == (score, positive, meaning)
    assert result.threshold == CUT_OFF[sex]
    assert meaning in screening.INTERPRETATIONS


def test_a_woman_who_binges_monthly_screens_positive_at_three():
    # Monthly or less (1), 3 or 4 drinks (1), six or more less than monthly (1).
    result = screening.score("audit_c", {"q1": 1, "q2": 1, "q3": 1}, "female")
    assert (result.score, result.positive) == (3, True)


def test_a_man_at_three_screens_negative():
    result = screening.score("audit_c", {"q1": 1, "q2": 1, "q3": 1}, "male")
    assert (result.score, result.positive, result.interpretation) == (3, False,
                                                                     "audit_c.negative")


def test_when_sex_is_not_said_the_more_sensitive_cut_off_of_three_is_used():
    result = screening.score("audit_c", {"q1": 2, "q2": 1, "q3": 0}, None)
    assert (result.score, result.threshold, result.positive) == (3, 3, True)


def test_points_from_frequency_alone_are_flagged_as_probably_within_limits():
    result = screening.score("audit_c", {"q1": 4, "q2": 0, "q3": 0}, "male")
    assert result.positive
    assert result.interpretation == "audit_c.positive_frequency_only"


def test_the_highest_score_is_twelve():
    result = screening.score("audit_c", {"q1": 4, "q2": 4, "q3": 4}, "female")
    assert (result.score, result.interpretation) == (12, "audit_c.positive_high")


@pytest.mark.parametrize(("times", "positive"), [(0, False), (1, True), (2, True), (52, True),
                                                 (366, True)])
def test_the_single_drug_question_is_positive_from_one_time(times, positive):
    result = screening.score("single_drug", {"times": times})
    assert (result.score, result.threshold, result.positive) == (times, 1, positive)


@pytest.mark.parametrize(("form", "message"), [
    ({"q1": "1", "q2": "1"}, "q3: every question needs an answer"),
    ({"q1": "5", "q2": "0", "q3": "0"}, "q1: not one of the answers"),
    ({"q1": "-1", "q2": "0", "q3": "0"}, "q1: a whole number"),
    ({"q1": "two", "q2": "0", "q3": "0"}, "q1: a whole number"),
])
def test_an_answer_that_is_not_on_the_scale_is_refused(form, message):
    with pytest.raises(screening.ScreeningError, match=message):
        screening.parse_answers(screening.AUDIT_C, form)


def test_a_count_beyond_a_year_of_days_is_refused():
    with pytest.raises(screening.ScreeningError, match="not one of the answers"):
        screening.parse_answers(screening.SINGLE_DRUG, {"times": "400"})


def test_every_question_and_answer_reads_in_english_and_spanish():
    for instrument in screening.INSTRUMENTS.values():
        for question in instrument.questions:
            assert set(question.text) == {"en", "es"}
            for choice in question.choices or ():
                assert set(choice.text) == {"en", "es"}
        if instrument.questions[0].choices:
            points = [[c.points for c in q.choices] for q in instrument.questions]
            assert points == [[0, 1, 2, 3, 4]] * len(instrument.questions)
