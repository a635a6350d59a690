"""Read the records of an offline W&B run file (`run-*.wandb`), so tests can check what was logged.

The file is a 7-byte W&B header followed by a LevelDB-style log: 32 KiB blocks of chunks, each chunk
a 4-byte checksum, a 2-byte little-endian length, a 1-byte type (1 full, 2 first, 3 middle, 4 last)
and the payload; a record is a serialised `wandb_internal_pb2.Record`.

W&B's service writes the file from its own process, and `wandb.finish()` can return before the last
records reach the disk on a loaded machine; `finished_records` waits for the run's exit record.
"""
import json
import struct
import time
from pathlib import Path

from wandb.proto import wandb_internal_pb2

HEADER, BLOCK, CHUNK_HEADER = 7, 32768, 7


def read_records(path: Path):
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    position, pending = HEADER, b""
    while position + CHUNK_HEADER <= len(data):
        room = BLOCK - position % BLOCK
        if room < CHUNK_HEADER:  # the rest of a block too short for a chunk header is padding
            position += room
            continue
        length, kind = struct.unpack("<HB", data[position + 4:position + 7])
        if position + CHUNK_HEADER + length > len(data):  # a chunk still being written
            return
        payload = data[position + 7:position + 7 + length]
        position += CHUNK_HEADER + length
        if kind == 0 and length == 0:
            continue
        pending = payload if kind in (1, 2) else pending + payload
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def finished_records(path: Path, timeout: float = 60.0) -> list:
    """Every record of a run file once its exit record is on disk (at most `timeout` seconds of waiting)."""
    deadline = time.monotonic() + timeout
    while True:
        records = list(read_records(path))
        if any(record.HasField("exit") for record in records):
            return records
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} has no exit record after {timeout:.0f} s: the run never finished")
        time.sleep(0.5)


def logged_values(path: Path) -> dict:
    """Last value logged for every key, from history and summary records ("a/b" for nested keys)."""
    values = {}
    for record in finished_records(path):
        items = record.history.item if record.HasField("history") else (
            record.summary.update if record.HasField("summary") else [])
        for item in items:
            key = "/".join(item.nested_key) if item.nested_key else item.key
            values[key] = json.loads(item.value_json)
    return values


def logged_config(path: Path) -> dict:
    config = {}
    for record in finished_records(path):
        if record.HasField("config"):
            for item in record.config.update:
                key = "/".join(item.nested_key) if item.nested_key else item.key
                config[key] = json.loads(item.value_json)
    return config
