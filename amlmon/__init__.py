"""amlmon: telemetry of Azure Machine Learning deployed models, from the shell."""

__version__ = "0.1.0"
