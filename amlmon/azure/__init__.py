"""The only package that talks to Azure. Every module imports the Azure SDK lazily, inside functions."""
