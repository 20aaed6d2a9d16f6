"""Coding stage: code sets by year, the rule engine and its YAML packs, routing."""

from coders.codeset import code_set
from coders.engine import RuleEngine
from coders.routing import RoutingConfig, route
from coders.rule_pack import RulePack, RulePackError, load_pack

__all__ = ["RoutingConfig", "RuleEngine", "RulePack", "RulePackError", "code_set", "load_pack", "route"]
