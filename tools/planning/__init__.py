"""Deployment planning: memory arithmetic, feasibility rules, candidate ranking, alternatives."""
