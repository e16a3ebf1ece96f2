"""Typed records that flow through the graph: hardware, model facts, plans, decisions, audit."""
