"""Where the benchmarks' --record puts their result rows: into their own table of docs/benchmarks.md.

Each benchmark names what its rows contain (``markers``); the new rows go after the last table row that contains
one of them, so every table keeps its header and the rows of one benchmark stay together. A benchmark with no row
yet gets its section (``heading``: a title and a table header) at the end of the file.
"""

import os

PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'docs', 'benchmarks.md')


def insert_rows(rows, markers, heading=None, path=PATH):
    """Insert ``rows`` (table lines, each ending in a newline); return the 1-based line number of the first one."""
    with open(path) as handle:
        lines = handle.readlines()
    matching = [index for index, line in enumerate(lines) if line.startswith('|') and any(marker in line for marker in markers)]
    if matching:
        at = matching[-1] + 1
    else:
        if lines and lines[-1].strip():
            lines.append('\n')
        lines.extend(heading or [])
        at = len(lines)
    lines[at:at] = rows
    with open(path, 'w') as handle:
        handle.writelines(lines)
    return at + 1
