"""The Prometheus text exposition of the registry, and merging registries of several processes."""

from __future__ import annotations

from accepted.metrics import Counter, Gauge, Histogram, Metrics, exposition


def test_counters_and_gauges_render_in_the_text_format() -> None:
    counter = Counter("x_total", "Things.\nCounted \\ here.", ["queue", "status"])
    counter.inc("b", "done")
    counter.inc("a", "done", amount=2)
    counter.inc('we"ird\nname\\', "failed")
    gauge = Gauge("y", "A level.", [])
    gauge.set(1.5)
    assert exposition([counter, gauge]) == (
        "# HELP x_total Things.\\nCounted \\\\ here.\n"
        "# TYPE x_total counter\n"
        'x_total{queue="a",status="done"} 2\n'
        'x_total{queue="b",status="done"} 1\n'
        'x_total{queue="we\\"ird\\nname\\\\",status="failed"} 1\n'
        "# HELP y A level.\n"
        "# TYPE y gauge\n"
        "y 1.5\n"
    )


def test_a_histogram_has_cumulative_buckets_inf_sum_and_count() -> None:
    hist = Histogram("h_seconds", "Times.", ["route"], [0.1, 1])
    for value in (0.05, 0.1, 0.5, 3):
        hist.observe(value, "/jobs")
    assert exposition([hist]).splitlines()[2:] == [
        'h_seconds_bucket{route="/jobs",le="0.1"} 2',  # le: less than or equal
        'h_seconds_bucket{route="/jobs",le="1"} 3',
        'h_seconds_bucket{route="/jobs",le="+Inf"} 4',
        'h_seconds_sum{route="/jobs"} 3.65',
        'h_seconds_count{route="/jobs"} 4',
    ]


def test_registries_of_several_processes_add_up() -> None:
    one, two = Metrics(), Metrics()
    one.enqueued.inc("q")
    two.enqueued.inc("q", amount=2)
    two.request("/jobs", "POST", 202, 0.002)
    one.request("/jobs", "POST", 202, 0.2)
    one.merge(two.snapshot())
    assert one.enqueued.values == {("q",): 3}
    text = exposition(one.all)
    assert 'accepted_http_requests_total{route="/jobs",method="POST",code="202"} 2' in text
    assert 'accepted_http_request_duration_seconds_count{route="/jobs"} 2' in text
    assert 'accepted_http_request_duration_seconds_bucket{route="/jobs",le="0.0025"} 1' in text
