"""Participant notebooks from ``solutions/``, and grading a class's submissions.

``release``  the participant and instructor versions of a solution notebook (nbgrader-compatible);
``assemble`` a submission's answers placed into the instructor's notebook;
``sandbox``  where a submission's code runs, and its limits;
``kernel``   executing that notebook cell by cell in a sandboxed kernel;
``export``   what the kernel hands over at each check (data, never verdicts);
``referee``  the process that runs the instructor's checks on what was handed over;
``gradebook`` scores, feedback and the CSV.
"""

# The release helpers by their short names (``grading.generate``), imported on first use: nbformat
# takes a second to import, and ``workbench --help`` builds the grade command's parser from here.
_RELEASE = {"CHECK_TAG", "CODE_BEGIN", "CODE_END", "CODE_STUB", "HIDDEN_BEGIN", "HIDDEN_END", "TEXT_BEGIN",
            "TEXT_END", "TEXT_STUB", "MarkerError", "generate", "instructor_version", "is_check",
            "participant_version", "render", "strip_outputs", "strip_solution"}


def __getattr__(name: str):
    if name in _RELEASE:
        from workbench.grading import release

        return getattr(release, name)
    raise AttributeError(f"module 'workbench.grading' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _RELEASE)
