"""The dead-letter record: the contract of the ``chargewatch.deadletter`` topic."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["DeadLetter"]


class DeadLetter(BaseModel):
    """An input record that could not be used, with why and where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    reason: str = Field(description="Machine-readable reason, e.g. decode_error")
    detail: str = Field(description="Human-readable explanation")
    source_topic: str
    source_partition: int
    source_offset: int
    key_b64: str | None = Field(description="Original key bytes, base64")
    value_b64: str = Field(description="Original value bytes, base64")
    rejected_at: AwareDatetime
