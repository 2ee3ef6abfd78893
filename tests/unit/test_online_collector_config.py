"""The emulator turns a deployment's dataCollector into the azureml-ai-monitoring config file the
Collector reads (AZUREML_MDC_CONFIG_PATH): mode compared case-insensitively, samplingRate 0..1 as a
percentage, a collection without a rate collected fully, rolling rate Hour unless set."""

from __future__ import annotations

from amlmon.emulator.collector import CollectorConfig


def _deployment(collector: dict | None) -> dict:
    return {"id": "/x", "properties": {} if collector is None else {"dataCollector": collector}}


def test_modes_and_rates_become_the_collectors_file() -> None:
    config = CollectorConfig.of(
        _deployment(
            {
                "collections": {
                    "model_inputs": {"dataCollectionMode": "enabled", "samplingRate": 0.25},
                    "Model_Outputs": {"dataCollectionMode": "Enabled"},
                    "request": {"dataCollectionMode": "Disabled", "samplingRate": 1.0},
                },
                "rollingRate": "Day",
            }
        )
    )
    assert config.mdc_file() == {
        "runMode": "cloud",
        "collections": {
            "model_inputs": {"enabled": True, "sampleRatePercentage": 25.0},
            "model_outputs": {"enabled": True, "sampleRatePercentage": 100.0},
            "request": {"enabled": False, "sampleRatePercentage": 100.0},
        },
    }
    assert config.rolling_rate == "Day"
    assert config.enabled("MODEL_INPUTS") and not config.enabled("request") and not config.enabled("other")


def test_no_collector_means_nothing_enabled_and_hourly_folders() -> None:
    config = CollectorConfig.of(_deployment(None))
    assert config.mdc_file() == {"runMode": "cloud", "collections": {}}
    assert config.rolling_rate == "Hour" and not config.enabled("model_inputs")
