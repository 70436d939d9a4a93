"""A producer for the `words` queue: enqueues texts, waits for their counts, prints them.

Run it against a local server with examples/worker.py running:

    python examples/producer.py

It exits 0 once every job is final (the empty text fails, on purpose).
Set ACCEPTED_URL to use a server elsewhere.
"""

from __future__ import annotations

import os
import sys

import accepted
from accepted.client import NewJob

URL = os.environ.get("ACCEPTED_URL", "http://127.0.0.1:8000")

TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "to be or not to be that is the question",
    "",
]


def main() -> int:
    with accepted.Client(URL) as client:
        # One request, one transaction: all three jobs are enqueued, or none.
        jobs = client.enqueue_many([NewJob("words", {"text": text}) for text in TEXTS])
        print(f"enqueued {len(jobs)} jobs")
        for job in jobs:
            try:
                final = client.wait(job.id, timeout=60)
            except accepted.WaitTimeout:
                print(f"{job.id}: not finished after 60 s; is examples/worker.py running?")
                return 1
            if final.status is accepted.JobStatus.DONE:
                print(f"{job.id}: done: {final.result['words']} words, "
                      f"most common {final.result['most_common']}")  # fmt: skip
            else:
                print(f"{job.id}: {final.status}: {final.result['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
