"""KQL builders, one module per feature: pure functions from what the user asked for to query text.

Every table and column name comes from amlmon.schema; every user value goes through amlmon.kql.
"""
