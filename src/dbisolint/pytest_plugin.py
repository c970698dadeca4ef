"""pytest plugin: `pytest --dbisolint-leaks` names the tests that leak module state (see issue 8).

Registered for every pytest run where dbisolint is installed, so importing it must stay cheap:
nothing is imported or done unless the option is given.
"""


def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    group = parser.getgroup("dbisolint")
    group.addoption(
        "--dbisolint-leaks",
        nargs="?",
        const="report",
        default=None,
        choices=("report", "fail"),
        help="Report the tests that leave module state behind (fail: make them fail).",
    )
