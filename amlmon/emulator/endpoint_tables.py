"""The Log Analytics tables a v2 online endpoint's diagnostic setting fills (schema only).

Columns as the Azure Monitor table reference documents them (AmlOnlineEndpointTrafficLog,
AmlOnlineEndpointConsoleLog, AmlOnlineEndpointEventLog); the numeric traffic columns are `int` there,
so they are integers here too (a query compares them with numbers, not strings). The endpoint is
not a column of the console and event tables: it is in `_ResourceId`. `_ItemId` and
`_IngestionTime` are the store's hidden columns, as for the App* tables.
"""

from __future__ import annotations

_HIDDEN = [("_ResourceId", "VARCHAR"), ("_ItemId", "VARCHAR"), ("_IngestionTime", "TIMESTAMP")]

ENDPOINT_TABLES: dict[str, list[tuple[str, str]]] = {
    "AmlOnlineEndpointTrafficLog": [
        ("TimeGenerated", "TIMESTAMP"),
        ("Method", "VARCHAR"),
        ("Path", "VARCHAR"),
        ("Protocol", "VARCHAR"),
        ("ResponseCode", "INTEGER"),
        ("ResponseCodeReason", "VARCHAR"),
        ("ModelStatusCode", "INTEGER"),
        ("ModelStatusReason", "VARCHAR"),
        ("TotalDurationMs", "INTEGER"),
        ("RequestDurationMs", "INTEGER"),
        ("ResponseDurationMs", "INTEGER"),
        ("RequestThrottlingDelayMs", "INTEGER"),
        ("ResponseThrottlingDelayMs", "INTEGER"),
        ("RequestPayloadSize", "INTEGER"),
        ("ResponsePayloadSize", "INTEGER"),
        ("XRequestId", "VARCHAR"),
        ("XMSClientRequestId", "VARCHAR"),
        ("EndpointName", "VARCHAR"),
        ("DeploymentName", "VARCHAR"),
        ("AuthType", "VARCHAR"),
        ("UserAgent", "VARCHAR"),
        ("IdentityData", "VARCHAR"),
        ("Location", "VARCHAR"),
        ("AzureMLWorkspaceId", "VARCHAR"),
        ("AzureMLWorkspaceName", "VARCHAR"),
        ("OperationName", "VARCHAR"),
        *_HIDDEN,
    ],
    "AmlOnlineEndpointConsoleLog": [
        ("TimeGenerated", "TIMESTAMP"),
        ("InstanceId", "VARCHAR"),
        ("DeploymentName", "VARCHAR"),
        ("ContainerName", "VARCHAR"),
        ("ContainerImageName", "VARCHAR"),
        ("Message", "VARCHAR"),
        *_HIDDEN,
    ],
    "AmlOnlineEndpointEventLog": [
        ("TimeGenerated", "TIMESTAMP"),
        ("InstanceId", "VARCHAR"),
        ("DeploymentName", "VARCHAR"),
        ("Name", "VARCHAR"),
        ("Message", "VARCHAR"),
        *_HIDDEN,
    ],
}
