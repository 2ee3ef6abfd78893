"""The story's first half: the workspace, switching every pipe on (v1 and v2), real traffic, then what
a v1 user reads back — traces, KQL, health and the CI gate, export, a dataset, doctor."""

from __future__ import annotations

from pathlib import Path

from amlmon.emulator.demo.shell import amlmon, banner
from amlmon.emulator.demo.world import Demo, seed_history, send_traffic, wait_for_telemetry


def workspace_and_diagnostics(demo: Demo) -> None:
    env = demo.env
    banner("1. Which workspace am I talking to?")
    amlmon("workspace", "show", env=env)

    banner("2. Every deployed model in the workspace")
    amlmon("services", "list", env=env)

    banner("3. Turn on App Insights diagnostics (and model data collection) — first a dry run")
    v1 = ("diagnostics", "enable", "--all", "--kind", "ACI,AKS", "--model-data")
    amlmon(*v1, "--dry-run", env=env)
    amlmon(*v1, env=env)
    amlmon("diagnostics", "enable", "churn-aci", "--model-data", env=env)  # idempotent: unchanged
    amlmon("diagnostics", "enable", "churn-ac", env=env, check=False)  # a typo: "did you mean"
    banner("   ... and every pipe of the v2 deployment: payloads (half of them) and endpoint logs too")
    v2 = ("diagnostics", "enable", "credit-ep", "--model-data")
    amlmon(*v2, "--sampling-rate", "0.5", "--endpoint-logs", "--dry-run", "-o", "table", env=env)
    amlmon(*v2, "--payloads", "--sampling-rate", "0.5", "--endpoint-logs", "-o", "table", env=env)
    amlmon(*v2, "--payloads", "--sampling-rate", "0.5", "--endpoint-logs", "-o", "table", env=env)
    amlmon("services", "list", "-o", "table", env=env)
    amlmon("diagnostics", "disable", "credit-ep", "--payloads", "--no-app-insights", "-o", "table", env=env)
    amlmon("diagnostics", "status", env=env)


def traffic(demo: Demo) -> list[str]:
    """Real requests to churn-aci and credit-ep, a day of seeded history for the others; the x-request-id
    of each answered credit-ep request."""
    banner("4. Real traffic to churn-aci (a real azureml-inference-server-http behind the emulator)")
    send_traffic(demo.state, "churn-aci")
    wait_for_telemetry(demo.env, "churn-aci")
    banner("   ... and a day of history for the others")
    seed_history(demo.admin)

    banner("   ... and to credit-ep (v2: a real inference server with the azureml-ai-monitoring Collector)")
    # Every request collected from now on (not half), so the story can follow any one of them.
    amlmon(
        "diagnostics",
        "enable",
        "credit-ep/blue",
        "--model-data",
        "--sampling-rate",
        "1",
        "-o",
        "none",
        env=demo.env,
    )
    return send_traffic(demo.state, "credit-ep", endpoint=True)


def traces_and_kql(demo: Demo) -> None:
    env = demo.env
    banner("5. The scoring script's print() lines and the model's inputs and predictions")
    amlmon("traces", "churn-aci", "--since", "1h", env=env)
    amlmon("traces", "churn-aci", "--model-data", "--since", "1h", env=env)

    banner("6. Any KQL")
    amlmon(
        "query",
        "requests | summarize requests = count() by cloud_RoleName | order by cloud_RoleName asc",
        "--since",
        "1d",
        env=env,
    )


def health_and_gate(demo: Demo) -> None:
    env = demo.env
    banner("7. Health numbers, and the CI gate")
    amlmon("stats", "--since", "24h", env=env)
    gate_args = ("check", "fraud-aks", "--since", "24h", "--max-p95", "2s")
    amlmon(*gate_args, "--max-failure-rate", "3%", env=env)  # passes: the demo fails if it does not
    strict = amlmon(*gate_args, "--max-failure-rate", "1%", env=env, check=False)
    print(f"(the stricter gate exited {strict}: a pipeline step would fail here)")


def export_and_dataset(demo: Demo) -> None:
    env = demo.env
    banner("8. Long retention: export to a storage account (continuous export is retired)")
    amlmon("export", "enable", "--storage-account", "amlmondemostore", "--dry-run", env=env)
    amlmon("export", "enable", "--storage-account", "amlmondemostore", env=env)
    amlmon("export", "show", env=env)

    banner("9. Model data as a dataset")
    out = "churn-aci-model-data.parquet"  # in the data directory, where the commands run
    amlmon("data", "pull", "churn-aci", "--since", "1h", "--out", out, env=env)
    print(f"wrote {out} ({(Path(env['AMLMON_EMULATOR_DIR']) / out).stat().st_size} bytes)")


def doctor(demo: Demo) -> None:
    env = demo.env
    banner("10. Why is there no data? `doctor` on a healthy service, then on one broken on purpose")
    amlmon("doctor", "churn-aci", env=env)  # healthy: exits 0 (the demo fails if it does not)
    amlmon("diagnostics", "disable", "fraud-aks", env=env)
    broken = amlmon("doctor", "fraud-aks", env=env, check=False)
    print(f"(doctor exited {broken}: App Insights is off for fraud-aks; the fix is printed under the FAIL)")


def v1_story(demo: Demo) -> list[str]:
    """Steps 1 to 10; the x-request-ids of the v2 requests sent on the way, for the v2 half."""
    workspace_and_diagnostics(demo)
    sent = traffic(demo)
    traces_and_kql(demo)
    health_and_gate(demo)
    export_and_dataset(demo)
    doctor(demo)
    return sent
