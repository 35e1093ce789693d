"""Write the JSON Schemas of the contract, for producers in other languages."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

__all__ = ["export_json_schemas"]


def _documents() -> dict[str, dict[str, object]]:
    # Imported here so that ``schemas.export`` has no import cycle with the package.
    from schemas.deadletter import DeadLetter
    from schemas.events import ChargingEvent
    from schemas.ocpp import OcppEnvelope
    from schemas.session import SessionRecord

    models: dict[str, type[BaseModel]] = {
        "session_record": SessionRecord,
        "dead_letter": DeadLetter,
        "ocpp_envelope": OcppEnvelope,
    }
    docs: dict[str, dict[str, object]] = {
        name: model.model_json_schema() for name, model in models.items()
    }
    docs["charging_event"] = TypeAdapter(ChargingEvent).json_schema()
    return docs


def export_json_schemas(directory: Path) -> list[Path]:
    """Write one ``<name>.schema.json`` per topic contract; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, doc in sorted(_documents().items()):
        full = {"$schema": "https://json-schema.org/draft/2020-12/schema", **doc}
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(full, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
