"""bench/benchrecord.py: the rows of a benchmark go into its own table of docs/benchmarks.md."""

from scriptmodule import load

benchrecord = load("benchrecord", "bench/benchrecord.py")

DOC = """# Benchmarks

| date | benchmark | baseline | measured | ratio | target | result |
|---|---|---|---|---|---|---|
| 2026-12-01 | `hna.cloudos.stack` 5 services, first | 1 s | 1 s | 1 | x | met |
| 2026-12-01 | `hna.cloudos.stack` 30 services, first | 1 s | 1 s | 1 | x | met |
| 2026-12-01 | `hna.cloudos.mysql_replication` seeding | 1 s | 1 s | 1 | x | met |

Reading the rows: text.

## Backups

| date | benchmark | baseline | measured | ratio | target | result |
|---|---|---|---|---|---|---|
| 2026-12-01 | `hna.cloudos.mysql_backup` logical | 1 s | 1 s | 1 | x | met |
| 2026-12-01 | `hna.cloudos.mysql_restore` restore | 1 s | 1 s | 1 | x | met |

Closing words.
"""


def test_rows_go_after_the_last_row_of_their_benchmark(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(DOC)
    line = benchrecord.insert_rows(["| new | `hna.cloudos.stack` 30 services, again |\n"], ["`hna.cloudos.stack`"], path=str(path))
    lines = path.read_text().splitlines()
    assert line == 7 and lines[6] == "| new | `hna.cloudos.stack` 30 services, again |"
    assert lines[5].startswith("| 2026-12-01 | `hna.cloudos.stack` 30") and "mysql_replication" in lines[7]


def test_any_of_several_markers_places_the_rows(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(DOC)
    rows = ["| new | `hna.cloudos.mysql_backup` physical |\n", "| new | `hna.cloudos.mysql_restore` again |\n"]
    benchrecord.insert_rows(rows, ["`hna.cloudos.mysql_backup`", "`hna.cloudos.mysql_restore`"], path=str(path))
    text = path.read_text()
    assert text.index("`hna.cloudos.mysql_restore` restore") < text.index("physical") < text.index("Closing words")
    assert text.endswith("Closing words.\n")


def test_a_benchmark_without_rows_gets_its_section_at_the_end(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(DOC)
    heading = ["## Releases\n", "\n", "| date | benchmark |\n", "|---|---|\n"]
    line = benchrecord.insert_rows(["| new | `playbooks/release.yml` |\n"], ["`playbooks/release.yml`"], heading=heading, path=str(path))
    lines = path.read_text().splitlines()
    assert lines[-1] == "| new | `playbooks/release.yml` |" and lines[-2] == "|---|---|" and lines[-5] == "## Releases"
    assert lines[-6] == "" and line == len(lines)
