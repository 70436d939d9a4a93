from __future__ import annotations

import os
import uuid

import pytest

from accepted.service.ids import canonical_id, new_job_id, new_lease


def test_ids_are_unique_version_7_uuids_in_time_order() -> None:
    ids = [new_job_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    millis = [u.int >> 80 for u in parsed]
    assert millis == sorted(millis)


def test_an_id_reads_back_canonical_in_every_spelling_a_uuid_takes() -> None:
    for _ in range(200):
        job_id = new_job_id()
        assert canonical_id(job_id) == job_id == str(uuid.UUID(job_id))
        plain = uuid.UUID(job_id)
        for spelling in (job_id.upper(), plain.hex, f"{{{job_id}}}", f"urn:uuid:{job_id}"):
            assert canonical_id(spelling) == job_id
    for not_one in ("", "bench", job_id[:-1], f"{job_id}\n", f" {job_id}", job_id + "0"):
        with pytest.raises(ValueError):
            canonical_id(not_one)


def test_leases_are_24_hex_digits_and_unique() -> None:
    leases = [new_lease() for _ in range(5000)]
    assert len(set(leases)) == len(leases)
    assert all(len(lease) == 24 and int(lease, 16) >= 0 for lease in leases)


def test_a_forked_process_hands_out_other_ids_and_leases_than_its_parent() -> None:
    new_lease()  # the buffer is filled before the fork, as a parent's would be
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id and lease, to the parent
        try:
            os.write(write, f"{new_job_id()} {new_lease()}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_id, child_lease = pipe.read().split()
    os.waitpid(pid, 0)
    ours = new_job_id()
    assert child_lease != new_lease()
    assert child_id[14:] != ours[14:]  # the random bits (the first 48 are the time)
