"""The partition a record key lands in, chosen as Kafka's producers choose it.

The Java client's default partitioner, librdkafka's ``murmur2_random`` (which
the gateway and the worker's outputs use) and aiokafka's all take murmur2 of the
key bytes (seed ``0x9747b28c``), clear the sign bit and reduce it modulo the
partition count. The offline replay needs the same function to judge silence
per partition, as the worker does. Not on any per-event path: callers cache the
answer per key. ``tests/unit/test_partition.py`` checks it against aiokafka's.
"""

from __future__ import annotations

__all__ = ["murmur2", "partition_of"]

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """32-bit MurmurHash2 of ``data``, unsigned."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[whole:]
    if tail:
        # The remaining 1-3 bytes, little-endian, as the C switch falls through.
        h ^= int.from_bytes(tail, "little")
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_of(key: bytes, partitions: int) -> int:
    """The partition of ``key`` among ``partitions`` (Kafka's default partitioner)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
