"""Batch jobs: one async operation over many items, bounded, reported and resumable.

::

    from tahdah_async.batch import Throttle, import_learners, read_learners

    result = await import_learners(
        tahdah, provider_id, experience_id, read_learners("learners.csv"),
        concurrency=Throttle(16), report="import.csv", resume=True,
    )
    print(result.counts)   # {'ok': 480, 'failed': 2, 'skipped': 0, 'cancelled': 0}

:func:`run_batch` and :func:`run_chunked` run any operation; :class:`Throttle` shares a
concurrency limit that backs off when the API answers 429; :class:`ReportWriter` and
:func:`read_report` write and read the reports that reruns resume from (``resume=True``:
from the job's own report, when it exists; :func:`resume_rows` says what a job resumes from).
"""

from ._report import (
    DONE_OUTCOMES,
    ReportRow,
    ReportWriter,
    done_keys,
    read_report,
    resume_rows,
)
from ._runner import (
    AlreadyDone,
    BatchError,
    BatchResult,
    ItemResult,
    Outcome,
    Progress,
    Recorder,
    run_batch,
    run_chunked,
)
from ._throttle import Throttle
from .jobs import (
    CreditChange,
    ImportedLearner,
    Learner,
    LearnerFileError,
    add_credits,
    import_learners,
    read_learners,
)

__all__ = [
    "DONE_OUTCOMES",
    "AlreadyDone",
    "BatchError",
    "BatchResult",
    "CreditChange",
    "ImportedLearner",
    "ItemResult",
    "Learner",
    "LearnerFileError",
    "Outcome",
    "Progress",
    "Recorder",
    "ReportRow",
    "ReportWriter",
    "Throttle",
    "add_credits",
    "done_keys",
    "import_learners",
    "read_learners",
    "read_report",
    "resume_rows",
    "run_batch",
    "run_chunked",
]
