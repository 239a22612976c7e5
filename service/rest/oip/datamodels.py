"""JSON shapes of the Open Inference Protocol (KServe "V2") REST API, with units.

Units travel where the protocol leaves room for them: ``parameters.unit`` on each
request input, requested output and response output, and on every tensor of the model
metadata. Parameter values are strings, numbers or booleans, as the protocol requires.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

__all__ = [
    "InferenceRequest",
    "InferenceResponse",
    "LiveResponse",
    "MetadataTensor",
    "ModelMetadataResponse",
    "ModelReadyResponse",
    "ReadyResponse",
    "RequestInput",
    "RequestOutput",
    "ResponseOutput",
    "ServerMetadataResponse",
    "V2Error",
]

Parameter = str | int | float | bool
Parameters = dict[str, Parameter]
TensorData = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "array", "items": {}}],
            "description": "Row-major tensor contents, flat or nested.",
        }
    ),
]


class RequestInput(BaseModel):
    """``{"name", "shape", "datatype", "parameters"?, "data"}``."""

    name: str
    shape: list[int]
    datatype: str = Field(
        ..., description="FP32, FP64, INT32 or INT64 (also FP16, INT8/16, UINT*)."
    )
    parameters: Parameters | None = Field(None, description='Units: {"unit": "km/h"}.')
    data: TensorData


class RequestOutput(BaseModel):
    """``{"name", "parameters"?}``: an output wanted, optionally in a unit."""

    name: str
    parameters: Parameters | None = None


class InferenceRequest(BaseModel):
    """``{"id"?, "parameters"?, "inputs": [...], "outputs"?: [...]}``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "42",
                    "inputs": [
                        {
                            "name": "speed",
                            "shape": [2],
                            "datatype": "FP64",
                            "data": [72, 90],
                            "parameters": {"unit": "km/h"},
                        },
                        {
                            "name": "angle",
                            "shape": [2],
                            "datatype": "FP64",
                            "data": [45, 30],
                            "parameters": {"unit": "deg"},
                        },
                        {
                            "name": "g",
                            "shape": [2],
                            "datatype": "FP64",
                            "data": [9.81, 9.81],
                            "parameters": {"unit": "m/s^2"},
                        },
                    ],
                    "outputs": [{"name": "range", "parameters": {"unit": "m"}}],
                }
            ]
        }
    )

    id: str | None = None
    parameters: Parameters | None = None
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    """``{"name", "shape", "datatype", "parameters": {"unit"}, "data"}``."""

    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any]


class InferenceResponse(BaseModel):
    """``{"model_name", "model_version"?, "id"?, "parameters"?, "outputs": [...]}``."""

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: Parameters | None = None
    outputs: list[ResponseOutput]


class MetadataTensor(BaseModel):
    """``{"name", "datatype", "shape", "parameters": {"unit", "dimension"}}``; -1 = any rows."""

    name: str
    datatype: str
    shape: list[int]
    parameters: Parameters | None = None


class ModelMetadataResponse(BaseModel):
    """``{"name", "versions"?, "platform", "inputs", "outputs"}``."""

    name: str
    versions: list[str] | None = None
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: Parameters | None = None


class ServerMetadataResponse(BaseModel):
    """``{"name", "version", "extensions"}``."""

    name: str
    version: str
    extensions: list[str]


class LiveResponse(BaseModel):
    """``{"live": bool}``."""

    live: bool


class ReadyResponse(BaseModel):
    """``{"ready": bool}``."""

    ready: bool


class ModelReadyResponse(BaseModel):
    """``{"name", "ready": bool}``."""

    name: str
    ready: bool


class V2Error(BaseModel):
    """``{"error": "..."}``: every OIP failure."""

    error: str
