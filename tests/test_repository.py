"""What a fresh clone needs: nothing of the project reads the folder of design notes and fixtures that sits
beside the clone on the developers' machines and in CI, but not where users clone the repository
(tests/fixtures holds copies of what the tests read)."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A path built to the folder beside the clone: "<up>/<name>", parents[...] / "<name>", os.path.join(..., "<name>", ...).
# Spelled in pieces, so this file does not itself read as such a path.
NAME, UP = "sha" + "red", ".."
READS_SHARED = re.compile(rf"""\.\./{NAME}|["']{NAME}["']\s*[,/)]|/\s*["']{NAME}["']""")


def project_files():
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in listed if name.endswith((".py", ".sh", ".cfg", ".toml", ".ini")) or
            name in ("Makefile", "Procfile") or name.startswith((".ci/", "scripts/"))]


def test_no_file_of_the_project_reads_the_shared_folder():
    offenders = []
    for path in project_files():
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if READS_SHARED.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "copy what is read into tests/fixtures/ instead:\n" + "\n".join(offenders)


def test_the_check_finds_a_file_that_reads_it():
    assert READS_SHARED.search(f'FIXTURES = Path(__file__).parents[3] / "{NAME}" / "fixtures"')
    assert READS_SHARED.search(f'os.path.join(here, "{UP}", "{UP}", "{NAME}", "fixtures")')
    assert READS_SHARED.search(f"open('{UP}/{NAME}/fixtures/x.json')")
    assert not READS_SHARED.search(f"@{NAME}_task(bind=True)")
