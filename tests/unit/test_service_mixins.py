"""JobService is put together from mixins (service/enqueuing.py, service/taking.py),
each declaring what it uses of the others. A method declared by a stub (`...`)
in one mixin and defined in another would be shadowed by the stub if the stub's
mixin came first: its callers would get None and no error. Every method that
JobService ends up with must be a real one."""

from __future__ import annotations

import inspect

from accepted.service.jobs import JobService


def _stub() -> None: ...


def test_no_method_of_the_job_service_is_a_mixins_stub() -> None:
    stub_code = _stub.__code__.co_code
    stubs = [
        name
        for name, member in inspect.getmembers(JobService, inspect.isfunction)
        if member.__code__.co_code == stub_code
    ]
    assert stubs == []
