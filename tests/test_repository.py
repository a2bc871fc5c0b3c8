"""What a fresh clone needs: nothing of the project reads ../shared, which sits beside the clone on the
developers' machines and in CI but not where users clone the repository (tests/fixtures holds copies)."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A path built to the shared folder: "../shared", parents[...] / "shared", os.path.join(..., "shared", ...).
READS_SHARED = re.compile(r"""\.\./shared|["']shared["']\s*[,/)]|/\s*["']shared["']""")


def project_files():
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in listed if name.endswith((".py", ".sh", ".cfg", ".toml", ".ini")) or
            name in ("Makefile", "Procfile") or name.startswith((".ci/", "scripts/"))]


def test_no_file_of_the_project_reads_the_shared_folder():
    offenders = []
    for path in project_files():
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if READS_SHARED.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "copy what is read into tests/fixtures/ instead:\n" + "\n".join(offenders)


def test_the_check_finds_a_file_that_reads_it():
    assert READS_SHARED.search('FIXTURES = Path(__file__).parents[3] / "shared" / "fixtures"')
    assert READS_SHARED.search('os.path.join(here, "..", "..", "shared", "fixtures")')
    assert READS_SHARED.search("open('../shared/fixtures/x.json')")
    assert not READS_SHARED.search("@shared_task(bind=True)")
