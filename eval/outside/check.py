#!/usr/bin/env python3
"""Checks for the second held-out eval set (eval/outside/). Standard library only.

Run from anywhere:  python3 eval/outside/check.py
Exit status 0 when every check passes; each failure is printed.
"""
import os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from setcheck import check  # noqa: E402 (eval/setcheck.py, beside this set)

# Unanswerable questions: for each, the documents of that week/month (file-name prefix) and a
# pattern that would match a passage giving the answer.  None may match.
UNANSWERABLE_PROBES = [
    ('out-001', '2021-02-1', 'storm.{0,200}(died|death|killed|lives lost)|(died|death|killed|lives lost).{0,200}storm'),
    ('out-011', '2021-05-2', 'Ohio.{0,200}(Rescue Plan|federal funds)|(Rescue Plan|federal funds).{0,200}Ohio'),
    ('out-012', '2021-05-2', 'Geneva.{0,200}(hours|minutes)|(hours|minutes).{0,100}Geneva'),
    ('out-017', '2021-07-0', 'child ?care.{0,150}(\\$\\d+ billion|\\$\\d+ trillion|billion)'),
    ('out-018', '2021-07-0', 'Guatemala|Ecuador|Peru'),
    ('out-023', '2021-08-3', 'Ida.{0,300}(died|deaths|killed|fatalit|lives lost)|(died|deaths|killed|fatalit).{0,200}(Ida|Louisiana|hurricane)'),
    ('out-026', '2021-09-0', 'Corning|Cytiva|Thermo|Millipore|Danaher|SiO2'),
    ('out-029', '2021-10-1', 'Boeing.{0,300}(percent|already)'),
    ('out-039', '2022-01-1', 'Louisiana.{0,100}bridges|bridges.{0,100}Louisiana'),
    ('out-049', '2022-04-', '\\$\\d+ million.{0,100}(security|military)|(security|military) assistance.{0,100}\\$\\d+'),
    ('out-054', '2022-06-0', 'per dose|\\$\\d+.{0,30}dose|price.{0,60}vaccine'),
    ('out-064', '2022-09-2', 'Truss.{0,200}(minutes|hour)'),
    ('out-065', '2022-09-2', 'tribal.{0,100}(opioid|\\$)|\\$\\d.{0,100}tribal|Tribes?.{0,60}\\$'),
    ('out-070', '2022-11-0', '\\d[\\d,]*.{0,60}New Mexic|New Mexic.{0,60}\\d[\\d,]+ (borrowers|people|applicants)'),
    ('out-076', '2022-12-1', 'Nonprofit Security Grant|\\$\\d+ million.{0,100}(security|non-?profit)'),
    ('out-079', '2023-02-1', 'blood pressure|weigh|cholesterol'),
    ('out-085', '2023-04-0', '\\$\\d[\\d.,]* (million|billion).{0,200}(package|security assistance|drawdown)|(package|security assistance|drawdown).{0,200}\\$\\d'),
    ('out-090', '2023-05-2', 'debt (limit|ceiling).{0,100}(\\$\\d|trillion)|trillion.{0,60}debt (limit|ceiling)'),
    ('out-095', '2023-07-0', 'cluster.{0,200}\\d+,?\\d* (rounds|munitions|shells)|\\d+,?\\d* (rounds|shells).{0,100}cluster'),
    ('out-100', '2023-09-', 'Corridor.{0,300}(\\$\\d|billion|cost)'),
    ('out-101', '2023-09-0', 'Taylor.{0,300}(years old|age \\d|\\d\\d-year-old)|\\d\\d-year-old.{0,100}Taylor'),
    ('out-107', '2023-10-2', 'Raanan|Judith|Natalie'),
    ('out-113', '2023-12-1', 'high-intensity.{0,200}(weeks|months|January)|(weeks|months|January).{0,100}high-intensity'),
    ('out-114', '2023-12-1', '\\d[\\d,]* (gun deaths|people (have been )?killed by guns)|\\d[\\d,]* Americans.{0,40}(killed|died).{0,40}gun'),
    ('out-119', '2024-01-', 'border.{0,200}\\$\\d+ billion|\\$\\d+ billion.{0,200}border'),
    ('out-135', '2024-06-2', '\\d+ (people|protesters).{0,40}(killed|died|dead)|(killed|dead|died).{0,40}\\d+ (people|protesters)'),
    ('out-144', '2024-09-3', '(rebuild\\w*|recovery|damage)s?.{0,150}(\\$\\d|billion)|(\\$\\d|billion).{0,100}(rebuild|damage)'),
    ('out-146', '2024-10-0', '\\d+ interceptors|interceptors.{0,60}\\d+|fired \\w+ (interceptors|missiles)'),
    ('out-150', '2024-11-2', 'Thanksgiving.{0,200}\\$\\d|\\$\\d\\d?\\.\\d\\d'),
]


if __name__ == "__main__":
    sys.exit(check(HERE, [os.path.join(HERE, "..", "wh", "docs"), os.path.join(HERE, "..", "heldout", "docs")], UNANSWERABLE_PROBES, (110, 28, 55)))
