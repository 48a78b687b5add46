"""Participant notebooks from ``solutions/``, and grading a class's submissions.

``release``  the participant and instructor versions of a solution notebook (nbgrader-compatible);
``assemble`` a submission's answers placed into the instructor's notebook;
``sandbox``  where a submission's code runs, and its limits;
``kernel``   executing that notebook cell by cell in a sandboxed kernel;
``export``   what the kernel hands over at each check (data, never verdicts);
``referee``  the process that runs the instructor's checks on what was handed over;
``gradebook`` scores, feedback and the CSV.
"""

from workbench.grading.release import (  # noqa: F401
    CHECK_TAG,
    CODE_BEGIN,
    CODE_END,
    CODE_STUB,
    HIDDEN_BEGIN,
    HIDDEN_END,
    TEXT_BEGIN,
    TEXT_END,
    TEXT_STUB,
    MarkerError,
    generate,
    instructor_version,
    is_check,
    participant_version,
    render,
    strip_outputs,
    strip_solution,
)
