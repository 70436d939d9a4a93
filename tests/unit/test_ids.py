from __future__ import annotations

import uuid

import pytest

from accepted.service.ids import canonical_id, new_job_id


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
