"""The rule registry: every rule, in code order."""

from __future__ import annotations

from typing import Dict, List, Type

from ..rule import Rule
from .dbi001_no_pool_class import InMemorySqliteWithoutPoolClass
from .dbi002_wrong_pool_class import InMemorySqliteWithWrongPoolClass
from .dbi003_check_same_thread import StaticPoolWithoutCheckSameThread
from .dbi004_pool_sizing import InMemorySqliteWithPoolSizing
from .dbi005_settings_url import SettingsUrlInMemoryWithoutStaticPool
from .dbi006_async_suite_in_memory import AsyncSuiteOnInMemorySqlite
from .dbi101_unreset_container import UnresetModuleContainer
from .dbi102_uncleared_cache import UnclearedFunctionCache
from .dbi103_stateful_instance import UnresetModuleInstance

ALL_RULES: List[Type[Rule]] = sorted(
    [
        InMemorySqliteWithoutPoolClass,
        InMemorySqliteWithWrongPoolClass,
        StaticPoolWithoutCheckSameThread,
        InMemorySqliteWithPoolSizing,
        SettingsUrlInMemoryWithoutStaticPool,
        AsyncSuiteOnInMemorySqlite,
        UnresetModuleContainer,
        UnclearedFunctionCache,
        UnresetModuleInstance,
    ],
    key=lambda rule: rule.code,
)
RULES_BY_CODE: Dict[str, Type[Rule]] = {rule.code: rule for rule in ALL_RULES}


def markdown_table() -> str:
    """The README's rules table, made from the rules themselves."""
    rows = ["| code | name | what it flags | fix |", "|---|---|---|---|"]
    for rule in ALL_RULES:
        fix = {"safe": "safe", "unsafe": "unsafe (`--unsafe-fixes`)"}.get(rule.fix_availability or "", "none")
        rows.append(f"| {rule.code} | `{rule.name}` | {rule.summary()} | {fix} |")
    return "\n".join(rows)
