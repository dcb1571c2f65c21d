"""Speaker labels resolved to the names and roles the transcript itself gives them."""

from __future__ import annotations

from rag.ingest.parse import parse_document


def fields(text: str) -> dict[str, str]:
    from rag.ingest.roles import speaker_fields

    return speaker_fields(parse_document("b", text, "0" * 64, "upload"))


BRIEFING = """Press Briefing by Press Secretary Jen Psaki and Treasury Secretary Janet Yellen

James S. Brady Press Briefing Room

MS. PSAKI:  Good afternoon.  Today we are joined by Secretary of the Treasury Janet Yellen.

SECRETARY YELLEN:  Thank you, Jen.  Inflation will ease next year.

Q    Madam Secretary, when?

SECRETARY YELLEN:  By the summer.
"""


def test_labels_get_the_roles_and_names_of_the_title_and_the_introductions():
    found = fields(BRIEFING)
    assert "Press Secretary Jen Psaki" in found["Ms. Psaki"]
    assert "Treasury Secretary Janet Yellen" in found["Secretary Yellen"]
    assert "Secretary of the Treasury Janet Yellen" in found["Secretary Yellen"]
    # One speaker's role never leaks into another's: "Jen Psaki and Treasury Secretary ..." is cut at "and".
    assert "Yellen" not in found["Ms. Psaki"] and "Psaki" not in found["Secretary Yellen"]


def test_a_speaker_the_text_does_not_introduce_keeps_its_label():
    found = fields("Remarks\n\nMR. SMITH:  Hello there.  Thank you.\n\nMS. JONES:  Good morning.  Yes.\n")
    assert set(found) == {"Mr. Smith", "Ms. Jones"}
    assert set(found["Mr. Smith"].casefold().split()) == {"mr.", "smith"}  # the label, as written
    assert set(found["Ms. Jones"].casefold().split()) == {"ms.", "jones"}
