"""The dates a question names, and how a document's date matches them."""

from __future__ import annotations

from rag.signals import SAME_YEAR, DateMention, date_match, question_dates


def test_dates_are_read_as_precisely_as_the_question_gives_them():
    assert question_dates("What did she say on January 22, 2021?") == [DateMention(2021, 1, 22)]
    assert question_dates("the 2 August 2018 news conference") == [DateMention(2018, 8, 2)]
    assert question_dates("in Sept. 2021 and in 2018") == [DateMention(2021, 9), DateMention(2018)]
    assert question_dates("on 2021-03-04") == [DateMention(2021, 3, 4)]
    assert question_dates("How many of the 900 claims? May we ask?") == []


def test_a_document_of_the_named_date_matches_fully_and_of_the_year_partly():
    march = question_dates("What was said in March 2021?")
    assert date_match(march, "2021-03-19") == 1.0
    assert date_match(march, "2021-07-01") == SAME_YEAR
    assert date_match(march, "2020-03-19") == 0.0
    assert date_match(march, None) == 0.0 and date_match([], "2021-03-19") == 0.0
