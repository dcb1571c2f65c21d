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


def test_dates_as_journalists_write_them_reach_the_date_signal():
    assert question_dates("What did Kirby say in mid-July 2023?") == [DateMention(2023, 7)]
    assert question_dates("during the summer of 2023") == [DateMention(2023, 6, None, 8)]
    assert question_dates("in early 2022, and late 2021") == [
        DateMention(2022, 1, None, 4),
        DateMention(2021, 9, None, 12),
    ]
    assert question_dates("in the first quarter of 2024") == [DateMention(2024, 1, None, 3)]
    # A day without a year takes the one the question names, else matches that day of any year.
    assert question_dates("at the 12 March briefing in 2023") == [DateMention(2023, 3, 12)]
    assert question_dates("at the 12 March briefing") == [DateMention(None, 3, 12)]
    assert question_dates("on the 4th of July") == [DateMention(None, 7, 4)]
    assert question_dates("by May 2 million people had applied; May 40") == []

    summer = question_dates("What was said in the summer of 2023?")
    assert date_match(summer, "2023-07-19") == 1.0 and date_match(summer, "2023-09-01") == SAME_YEAR
    winter = question_dates("in the winter of 2022")
    assert date_match(winter, "2022-01-10") == 1.0 and date_match(winter, "2022-12-20") == 1.0
    assert date_match(winter, "2022-06-01") == SAME_YEAR
    march_12 = question_dates("at the 12 March briefing")
    assert date_match(march_12, "2021-03-12") == 1.0 and date_match(march_12, "2024-03-12") == 1.0
    assert date_match(march_12, "2021-03-13") == 0.0  # no year named: no partial credit either
