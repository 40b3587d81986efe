"""Build ``examples/moodle-export.zip``: the sample class (``examples/class/``) as Moodle's "Download all
submissions" hands it out, so ``python -m grader grade examples/moodle-export.zip`` shows an LMS export.

Moodle 4.1's layout (mod/assign/classes/downloader.php): one folder per participant,
``<full name>_<participant id>_assignsubmission_file/``, holding the files as uploaded; online text in
``..._assignsubmission_onlinetext/onlinetext.html``; no top folder. The learners' files come from
``examples/class/`` (the one copy of them); the zip is rebuilt byte for byte by running this script, and
tests/test_lms_intake.py checks that the committed zip is what it builds.

    python examples/build_moodle_export.py
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLASS = HERE / "class"
TARGET = HERE / "moodle-export.zip"
WHEN = (2026, 11, 28, 9, 30, 0)  # fixed, so the zip's bytes depend only on its content
# sample-class entry -> (Moodle's full name, participant id, folder inside the participant's folder)
PARTICIPANTS = {
    "alice_correct": ("Alice Martin", 1001, ""),
    "bob_partly_wrong.zip": ("Bob Nguyen", 1002, ""),  # handed in a zip: it stays a zip in the folder
    "carol_not_started": ("Carol Díaz", 1003, "lesson13/"),  # uploaded a folder: subfolders are kept
    "dave_crashing": ("Dave OBrien", 1004, ""),  # Moodle drops the apostrophe of O'Brien
    "erin_hangs_on_fully_masked_rows": ("Erin Schäfer", 1005, ""),
    "frank_cheats": ("Frank Li", 1006, ""),
}
ONLINE_TEXT_ONLY = ("Grace Hopper", 1007, "<p>I wrote my answers in the online text box.</p>")


def members() -> list[tuple[str, bytes]]:
    found = []
    for entry, (name, participant, inside) in PARTICIPANTS.items():
        folder = f"{name}_{participant}_assignsubmission_file/{inside}"
        source = CLASS / entry
        if source.is_file():
            found.append((folder + source.name, source.read_bytes()))
            continue
        for path in sorted(source.rglob("*.py")):
            found.append((folder + path.relative_to(source).as_posix(), path.read_bytes()))
    name, participant, text = ONLINE_TEXT_ONLY
    found.append((f"{name}_{participant}_assignsubmission_onlinetext/onlinetext.html", text.encode()))
    return found


def build(target: Path = TARGET) -> Path:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members():
            info = zipfile.ZipInfo(name, date_time=WHEN)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            bundle.writestr(info, data)
    return target


if __name__ == "__main__":
    print(f"wrote {build(Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET)}")
