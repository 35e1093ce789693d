//! A parallel replay's line filter: each job keeps the lines of its own
//! partitions, and the lines whose station only decoding can tell.
//!
//! `chargewatch.replay` shares a file's partitions out among forked jobs, and
//! each job reads the whole file. Reading a line as far as its station in
//! Python cost a job more than a microsecond per line of the *other* jobs;
//! `own_lines` does it here, for a megabyte of lines per call, with the rules
//! of `chargewatch.replay._named_station` (a line that names its station first
//! and can decode to no other) and of `streams.core.partition.partition_of`
//! (Kafka's murmur2 partitioner). `tests/unit/test_replay_partitions.py` holds
//! both to their Python twins.

use memchr::{memchr, memchr_iter, memmem};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

const SEED: u32 = 0x9747_b28c;
const M: u32 = 0x5bd1_e995;

/// 32-bit MurmurHash2 of `data` as Kafka's partitioners compute it.
pub fn murmur2_hash(data: &[u8]) -> u32 {
    let mut h = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, &byte) in tail.iter().enumerate() {
            k |= u32::from(byte) << (8 * i);
        }
        h ^= k;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// `streams.core.partition.murmur2`, for the tests.
#[pyfunction]
pub fn murmur2(data: &[u8]) -> u32 {
    murmur2_hash(data)
}

const NAMED: &[u8] = b"{\"station_id\":\"";
const KEY: &[u8] = b"\"station_id\"";

/// The station a line names first and can decode to no other (no backslash, no
/// second `"station_id"`), as `_named_station`; `None`: only decoding can tell.
pub fn named_station(line: &[u8]) -> Option<&[u8]> {
    let rest = line.strip_prefix(NAMED)?;
    let end = rest.iter().position(|&byte| byte == b'"')?;
    if memchr(b'\\', line).is_some() || memmem::find(&rest[end..], KEY).is_some() {
        return None;
    }
    let station = &rest[..end];
    std::str::from_utf8(station).ok()?;
    Some(station)
}

/// `bytes.isspace()` or empty: a line the replay skips.
fn blank(line: &[u8]) -> bool {
    line.iter()
        .all(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
}

/// The lines of `buffer[start..end]` (split at `\n`, as `bytes.split`) that a job
/// owning the partitions marked in `owned` must read: not blank, and either
/// naming a station of an owned partition or naming none beyond doubt.
/// Returns them, their indices among the lines of the slice, and the number of
/// lines in it.
#[pyfunction]
pub fn own_lines<'py>(
    py: Python<'py>,
    buffer: &[u8],
    start: usize,
    end: usize,
    owned: &[u8],
) -> PyResult<(Vec<Bound<'py, PyBytes>>, Vec<usize>, usize)> {
    let partitions = owned.len() as u32;
    if partitions == 0 || start > end || end > buffer.len() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "no partitions, or not a slice of the buffer",
        ));
    }
    // One job owns every partition: no line is another's.
    let all = owned.iter().all(|&byte| byte != 0);
    let mut lines = Vec::new();
    let mut indices = Vec::new();
    let mut count = 0;
    let text = &buffer[start..end];
    let mut start = 0;
    // The line ends, found with memchr: most of a megabyte is inside lines.
    let ends = memchr_iter(b'\n', text).chain(std::iter::once(text.len()));
    for (index, stop) in ends.enumerate() {
        let line = &text[start..stop];
        start = stop + 1;
        count = index + 1;
        if blank(line) {
            continue;
        }
        if !all {
            if let Some(station) = named_station(line) {
                let partition = (murmur2_hash(station) & 0x7fff_ffff) % partitions;
                if owned[partition as usize] == 0 {
                    continue;
                }
            }
        }
        lines.push(PyBytes::new(py, line));
        indices.push(index);
    }
    Ok((lines, indices, count))
}

/// The number of lines of `buffer` that name a station of each of `partitions`
/// partitions (`named_station`): the weights a parallel replay shares the
/// partitions out by, read off the input's first megabytes without a Python
/// call per line.
#[pyfunction]
pub fn partition_weights(buffer: &[u8], partitions: u32) -> PyResult<Vec<u64>> {
    if partitions == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err("no partitions"));
    }
    let mut weights = vec![0u64; partitions as usize];
    let mut start = 0;
    for stop in memchr_iter(b'\n', buffer).chain(std::iter::once(buffer.len())) {
        if let Some(station) = named_station(&buffer[start..stop]) {
            weights[((murmur2_hash(station) & 0x7fff_ffff) % partitions) as usize] += 1;
        }
        start = stop + 1;
    }
    Ok(weights)
}
