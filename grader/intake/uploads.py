"""A learner's loose files in an export (Moodle without folders, Canvas): the modules among them, else
their one ``.zip``."""

from __future__ import annotations

from pathlib import Path

from grader.intake.grouping import Learner, Upload
from grader.intake.submission import MODULE_FILES, Submission, from_files, from_zip, some_of


def read_uploads(learner: Learner, scratch: Path, modules: dict[str, Upload] | None = None) -> Submission:
    """The submission made of ``learner.files``: ``modules`` (module file name → the upload graded as it;
    by default the uploads named exactly like a module), else the learner's one ``.zip``."""
    source = learner.files[0].path if learner.files else Path(learner.name)
    if modules is None:
        modules = {u.filename: u for u in learner.files if u.filename in MODULE_FILES}
    zips = sorted((u for u in learner.files if u.filename.lower().endswith(".zip")), key=lambda u: u.order)
    if modules:
        submission = from_files(learner.name, source, {m: u.path for m, u in modules.items()}, scratch)
        if zips:
            zipped = some_of(u.filename for u in zips)
            submission.notes.append(f"graded your loose modules; not your {zipped}")
        return submission
    if len(zips) == 1 or (zips and zips[-1].order > zips[-2].order):
        submission = from_zip(zips[-1].path, scratch, learner.name)
        submission.notes.append(f"graded the modules in your {zips[-1].filename}")
        if len(zips) > 1:
            submission.notes.append(
                f"the latest of your {len(zips)} zips; not graded: {some_of(u.filename for u in zips[:-1])}"
            )
        return submission
    if zips:
        problem = f"handed in {len(zips)} zips ({some_of(u.filename for u in zips)}): which one to grade?"
    elif learner.files:
        handed = some_of(u.filename for u in learner.files)
        problem = f"handed in none of {', '.join(MODULE_FILES)} and no .zip (handed in: {handed})"
    else:
        problem = "handed in no files (only online text or a link): nothing to grade"
    return Submission(learner.name, source, problems=[problem])
