"""The typer CLI. Parses arguments, calls one function, renders. No HTTP, no KQL."""
