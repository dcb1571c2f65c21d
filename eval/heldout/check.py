#!/usr/bin/env python3
"""Checks for the held-out eval set (eval/heldout/). Standard library only.

Run from anywhere:  python3 eval/heldout/check.py
Exit status 0 when every check passes; each failure is printed.
"""
import os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from setcheck import check  # noqa: E402 (eval/setcheck.py, beside this set)

# Unanswerable questions: for each, the documents of that week/month (file-name prefix) and a
# pattern that would match a passage giving the answer.  None may match.
UNANSWERABLE_PROBES = [
    ('ho-006', '2021-05-1', 'ransom.{0,80}(paid|\\$)|\\$.{0,40}ransom|4\\.4 million|75 bitcoin'),
    ('ho-012', '2024-07-1', 'per (icebreaker|vessel|ship)|each (icebreaker|vessel|ship)'),
    ('ho-018', '2022-08-2', 'donat\\w*.{0,80}(vaccine|dose|vial)s?.{0,80}(countr|abroad)'),
    ('ho-023', '2022-10-0', 'Micron.{0,300}(grant|award|CHIPS (Act|funding|money))'),
    ('ho-029', '2024-12-1', 'arrest'),
    ('ho-035', '2024-12-0', 'China.{0,150}\\$|\\$.{0,150}Chin(a|ese)|Benguela'),
    ('ho-041', '2022-12-1', 'Paxlovid.{0,200}(donat|abroad|global)'),
    ('ho-047', '2023-08-2', 'death toll|fatalit|(\\d+) (people )?(have )?(died|killed|dead)|lives lost'),
    ('ho-053', '2023-03-2', 'Ohio.{0,100}borrowers|borrowers.{0,100}Ohio'),
    ('ho-058', '2023-07-1', 'Cyber Trust Mark.{0,300}(fine|penalt|enforce)'),
    ('ho-064', '2024-03-2', '3\\d,\\d00|killed'),
    ('ho-070', '2022-11-', 'Kem Sokha|Sokha'),
    ('ho-076', '2022-07-2', 'heat.{0,100}(deaths|died|killed|kills \\d)'),
    ('ho-082', '2023-02-2', 'Norfolk.{0,300}\\$\\d|\\$\\d[\\d.,]* (million|billion).{0,100}(East Palestine|Norfolk|residents)'),
    ('ho-088', '2021-04-0', 'AstraZeneca.{0,300}(Mexico|Canada)|(Mexico|Canada).{0,200}AstraZeneca'),
    ('ho-093', '2022-05-11-background', '\\$\\d'),
    ('ho-099', '2022-04-0', '\\d[\\d,]* Javelin|Javelins?.{0,40}\\d{3}'),
    ('ho-105', '2024-12-09', 'killed|\\d+ (ISIS )?(fighters|operatives)'),
    ('ho-111', '2024-12-19', '(cost|price tag).{0,100}(\\$|trillion|billion)'),
    ('ho-117', '2024-01-1', 'average (monthly )?payment|average.{0,40}month'),
    ('ho-123', '2021-01-2', '\\d+ million (doses )?(of )?(the )?(Johnson|J&J)|(Johnson & Johnson|J&J).{0,80}(ordered|purchased|\\d+ million)'),
    ('ho-128', '2021-12-1', '\\d+ (airmen|service members|members).{0,40}discharg|discharg.{0,80}\\d'),
    ('ho-134', '2023-06-1', '(cost|burden)s? (to|for|on) (manufacturers|truck|industry)|compliance cost'),
    ('ho-140', '2023-11-0', '(\\d+|nine|ten|eight) (Americans|U\\.S\\. citizens).{0,60}(hostage|held|unaccounted)|hostage.{0,60}(\\d+|nine|ten|eight) Americans'),
    ('ho-146', '2023-03-2', 'Wolfspeed.{0,300}(grant|award|CHIPS (Act|funding|money))'),
    ('ho-152', '2022-04-0', 'refugees?.{0,80}(admit|welcome|arriv).{0,40}\\d|\\d[\\d,]* (Ukrainian )?refugees'),
    ('ho-158', '2021-10-0', '194,000|September.{0,80}\\d+,000 jobs'),
    ('ho-163', '2022-11-1', 'Just Energy|JETP|energy transition partnership'),
    ('ho-169', '2024-08-1', '\\d+ hostages|hostages?.{0,60}(alive|living)'),
    ('ho-175', '2021-09-0', '(100|200|\\d+) (Americans|American citizens)|Americans.{0,60}(remain|still there|left behind).{0,60}\\d'),
    ('ho-181', '2022-12-1', '\\$275 million.{0,300}(HIMARS|artillery|rounds|air defense|drones)'),
]


if __name__ == "__main__":
    sys.exit(check(HERE, [os.path.join(HERE, "..", "wh", "docs")], UNANSWERABLE_PROBES, (110, 28, 60)))
