"""`# noqa` comments: read from the tokens, which are read only as far as the last line naming noqa."""

from __future__ import annotations

from dbisolint.noqa import read_suppressions


def test_a_noqa_before_a_line_that_cannot_be_tokenized_still_counts():
    text = 'x = "# noqa"  # noqa: DBI101\n' + "y = 1\n" * 3 + 's = """never closed\n'
    suppressions = read_suppressions(text)
    assert suppressions.silences("DBI101", 1) and not suppressions.silences("DBI102", 1)


def test_noqa_inside_strings_does_not_count_and_the_last_one_does():
    text = 'doc = """\n# noqa\n"""\n' + "pass\n" * 50 + "x = {}  # NOQA:DBI101,DBI102\n" + 'y = "# noqa"\n'
    suppressions = read_suppressions(text)
    assert not any(suppressions.silences("DBI101", row) for row in (1, 2, 3, 55))
    assert suppressions.silences("DBI102", 54) and suppressions.silences("DBI101", 54)


def test_a_file_level_noqa_on_its_own_line():
    suppressions = read_suppressions("import os\n\n# dbisolint: noqa: DBI103\n")
    assert suppressions.silences("DBI103", 9) and not suppressions.silences("DBI101", 9)
