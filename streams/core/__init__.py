"""The pure core: session stitching with no Kafka, Faust, ClickHouse or clock.

Time comes in the events. Everything here is plain Python over typed values
and can be tested, replayed and benchmarked without any I/O.
"""

from streams.core.events import Event, decode_event, decode_events
from streams.core.record import SessionOut, encode_record
from streams.core.state import SessionState, restore_state, snapshot_state
from streams.core.stitcher import Stitcher

__all__ = [
    "Event",
    "SessionOut",
    "SessionState",
    "Stitcher",
    "decode_event",
    "decode_events",
    "encode_record",
    "restore_state",
    "snapshot_state",
]
