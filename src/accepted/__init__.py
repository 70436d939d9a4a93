"""accepted: a job-queue server with a plain HTTP interface."""

from __future__ import annotations

from accepted.types import CallbackState, Job, JobStatus

__all__ = ["CallbackState", "Job", "JobStatus", "__version__"]

__version__ = "0.1.0"
