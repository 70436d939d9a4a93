"""A worker for the `words` queue: counts the words of a text.

Run it against a local server (`accepted serve` in another terminal):

    python examples/worker.py

or, the same through the CLI, from this directory:

    accepted worker --queue words --concurrency 4 worker:count_words

Stop it with Ctrl-C: running jobs get a few seconds to finish, the others go
back to the queue. Set ACCEPTED_URL to use a server elsewhere.
"""

from __future__ import annotations

import logging
import os
from collections import Counter

from accepted.worker import current_job, run_worker

URL = os.environ.get("ACCEPTED_URL", "http://127.0.0.1:8000")


def count_words(text: str, top: int = 3) -> dict[str, object]:
    """Params {"text": ..., "top": ...} arrive as keyword arguments; the return is the result."""
    words = text.lower().split()
    if not words:
        # An exception fails the job; its message and traceback become the result.
        raise ValueError("nothing to count: the text is empty")
    return {
        "words": len(words),
        "most_common": Counter(words).most_common(top),
        "attempt": current_job().attempts,
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    run_worker(count_words, url=URL, queues=["words"], concurrency=4, lease=30, grace=10)
