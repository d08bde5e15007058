#!/usr/bin/env python3
"""Backups and restores of hna.cloudos.mysql_backup / mysql_restore against the raw pipelines a DBA would type.

Runs on the local Docker engine: one MariaDB server from cloudos/mariadb:10.11 (plus sysbench, installed from
Debian through the lab's package cache into a small image built on it), filled with sysbench tables of at least
--min-gib of rows. Then, on the same data in the same run, each pair one after the other (--repeat times, medians):

1. logical backup: `mariadb-dump --single-transaction | zstd -T0 > file` in the server's container (timed there)
   vs the module (`method: logical`; its manifest's duration, the pipeline from the first byte to the fsync);
   throughput ratio = raw time / module time, target >= 0.9;
2. physical backup: `mariadb-backup --backup --stream=xbstream | zstd -T0 > file` vs the module
   (`method: physical`); target >= 0.9;
3. restore: `zstd -dc file | mariadb` vs hna.cloudos.mysql_restore of the module's logical backup (its
   `restored.seconds`), both into the emptied database; time ratio = module / raw, target <= 1.1.

The whole ad hoc tasks (Ansible's start-up, the checks, the row counts, the manifest) are printed beside them.
Before every timed run the dirty pages are written to disk (untimed: the raw pipelines do not fsync their file, and
its writeback would land in the next run), and the rounds alternate which side of a backup pair runs first.
Both sides write to the same host directory. Each backup pair also times the raw pipeline streamed out of the
container through `docker exec` into a host file, the transport the module uses (for information: the ratio is
against the pipeline writing its file from inside the container, as the target says). Verification is off for the module's backups here: it re-reads the
file after the backup and would be timed as part of it.

  .venv/bin/python bench/mysql_backup.py [--tables 5] [--table-size 1000000] [--repeat 1] [--only logical] [--record] [--keep] [--prefix NAME]

--only (repeatable) measures the named pairs alone, so that more rounds of one pair fit in the same time; a
restore takes the logical pair with it.

Everything it creates is named after --prefix (default hnabench-backup: container, volume, image, /tmp folder)
and removed at the end but the image (--keep leaves the server and its data for another run).
"""

import argparse
import datetime
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import pymysql

from benchrecord import insert_rows

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_IMAGE = 'cloudos/mariadb:10.11'
PORT = 33961
PREFIX = SERVER = VOLUME = WORK = PASSWORD_FILE = BACKUPS = RAW = None


def set_prefix(prefix):
    """Names of everything the benchmark creates: <prefix>-db, <prefix>-data, /tmp/<prefix>, image <prefix>/..."""
    global PREFIX, SERVER, VOLUME, WORK, PASSWORD_FILE, BACKUPS, RAW  # pylint: disable=global-statement
    PREFIX, SERVER, VOLUME, WORK = prefix, prefix + '-db', prefix + '-data', '/tmp/' + prefix
    PASSWORD_FILE, BACKUPS, RAW = os.path.join(WORK, 'root-password'), os.path.join(WORK, 'backups'), os.path.join(WORK, 'raw')

# The lab's package cache (apt-cacher-ng) on its interconnect network.
APT_NETWORK = 'hnalab-interconnect'
APT_PROXY = 'http://10.231.0.3:3142'
# The Ansible commands of the virtual environment that runs this script.
os.environ['PATH'] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', '')

DOCKERFILE = """\
FROM %s
ARG APT_PROXY
RUN printf 'Acquire::http::Proxy "%%s";\\nAcquire::http::Pipeline-Depth "0";\\n' "$APT_PROXY" > /etc/apt/apt.conf.d/01bench-proxy \\
    && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends sysbench \\
    && rm -rf /var/lib/apt/lists/* /etc/apt/apt.conf.d/01bench-proxy
"""


def say(text):
    print(text, flush=True)


def run(argv, **kwargs):
    kwargs.setdefault('check', True)
    kwargs.setdefault('capture_output', True)
    kwargs.setdefault('text', True)
    try:
        return subprocess.run(argv, **kwargs)
    except subprocess.CalledProcessError as exc:
        raise SystemExit('%s failed: %s' % (' '.join(argv[:4]), (exc.stderr or exc.stdout or '')[-2000:]))


def bench_image():
    """cloudos/mariadb:10.11 plus sysbench, tagged by the base image's ID (rebuilt when the base changes)."""
    found = run(['docker', 'image', 'inspect', '-f', '{{.Id}}', BASE_IMAGE], check=False)
    if found.returncode != 0:
        raise SystemExit('the image %s is not on this engine: build the lab\'s images first'
                         ' (.venv/bin/python lab/lab.py build)' % BASE_IMAGE)
    base_id = found.stdout.strip()
    tag = '%s/mariadb-sysbench:%s' % (PREFIX, hashlib.sha256((base_id + DOCKERFILE).encode()).hexdigest()[:12])
    if run(['docker', 'image', 'inspect', tag], check=False).returncode == 0:
        return tag
    if run(['docker', 'network', 'inspect', APT_NETWORK], check=False).returncode != 0:
        raise SystemExit('the image %s is built once with sysbench from the lab\'s package cache, on the network %s,'
                         ' which does not exist: start the lab first (.venv/bin/python lab/lab.py up), then run this'
                         ' again; the lab can go down once the image is built (--prepare-only builds it and fills the'
                         ' server)' % (tag, APT_NETWORK))
    say('building %s (sysbench from Debian through the lab\'s package cache)' % tag)
    context = tempfile.mkdtemp(prefix=PREFIX + '-')
    try:
        with open(os.path.join(context, 'Dockerfile'), 'w') as handle:
            handle.write(DOCKERFILE % BASE_IMAGE)
        run(['docker', 'build', '-q', '--network', APT_NETWORK, '--build-arg', 'APT_PROXY=' + APT_PROXY, '-t', tag, context])
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return tag


def exec_in(script, timed=False):
    """Run a bash script in the server's container; with timed, return the seconds it measured itself."""
    if timed:
        script = 'start=$(date +%%s.%%N); %s; echo "elapsed $start $(date +%%s.%%N)"' % script
    proc = run(['docker', 'exec', SERVER, 'bash', '-c', 'set -euo pipefail; ' + script])
    if timed:
        _, begin, end = proc.stdout.split()[-3:]
        return float(end) - float(begin)
    return proc.stdout


def password():
    with open(PASSWORD_FILE) as handle:
        return handle.read().strip()


def query(sql, database=None):
    with pymysql.connect(host='127.0.0.1', port=PORT, user='root', password=password(), database=database,
                         autocommit=True, connect_timeout=10) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def start_server(image):
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(BACKUPS, exist_ok=True)
    os.makedirs(RAW, exist_ok=True)
    if not os.path.exists(PASSWORD_FILE):
        old = os.umask(0o077)
        with open(PASSWORD_FILE, 'w') as handle:
            handle.write(hashlib.sha256(os.urandom(16)).hexdigest()[:24] + '\n')
        os.umask(old)
    if run(['docker', 'inspect', SERVER], check=False).returncode != 0:
        run(['docker', 'run', '-d', '--name', SERVER, '-p', '127.0.0.1:%d:3306' % PORT, '-v', VOLUME + ':/var/lib/mysql',
             '-v', '%s:/run/secrets/root:ro' % PASSWORD_FILE, '-v', '%s:%s' % (RAW, RAW), '--memory', '3g',
             '-e', 'MARIADB_ROOT_PASSWORD_FILE=/run/secrets/root', image, 'mariadbd', '--user=mysql',
             '--bind-address=0.0.0.0', '--skip-name-resolve', '--log-bin=mysql-bin', '--server-id=1',
             '--binlog-format=ROW', '--innodb-buffer-pool-size=1G', '--innodb-log-file-size=512M',
             '--max-allowed-packet=256M'])
    deadline = time.monotonic() + 180
    while run(['docker', 'inspect', '-f', '{{.State.Health.Status}}', SERVER]).stdout.strip() != 'healthy':
        if time.monotonic() > deadline:
            raise SystemExit('the server did not become healthy within 180 s')
        time.sleep(2)


def data_size():
    tables = [row[0] for row in query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'sbtest'")]
    if tables:  # the sizes in information_schema are estimates until then
        query('ANALYZE TABLE ' + ', '.join('sbtest.%s' % name for name in tables))
    return int(query("SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
                     "WHERE table_schema = 'sbtest'")[0][0])


def fill(tables, table_size, min_bytes):
    query('CREATE DATABASE IF NOT EXISTS sbtest')
    size = data_size()
    rows = query("SELECT COALESCE(SUM(table_rows), 0) FROM information_schema.tables WHERE table_schema = 'sbtest'")[0][0]
    if size >= min_bytes and int(rows) >= tables * table_size * 0.9:
        return size
    query('DROP DATABASE sbtest')
    query('CREATE DATABASE sbtest')
    say('sysbench prepare: %d tables of %d rows' % (tables, table_size))
    start = time.monotonic()
    exec_in('sysbench oltp_read_write --db-driver=mysql --mysql-socket=/run/mysqld/mysqld.sock --mysql-user=root '
            '--mysql-db=sbtest --tables=%d --table-size=%d --threads=2 prepare > /dev/null' % (tables, table_size))
    say('prepared in %.0f s' % (time.monotonic() - start))
    return data_size()


def module(name, **args):
    """Run a module ad hoc on this machine; return (seconds of the whole task, result)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_CALLBACK_RESULT_FORMAT='json', ANSIBLE_LOAD_CALLBACK_PLUGINS='0')
    start = time.monotonic()
    proc = subprocess.run(['ansible', '-i', 'localhost,', 'localhost', '-c', 'local', '-e',
                           'ansible_python_interpreter=' + sys.executable, '-m', name, '-a', json.dumps(args)],
                          capture_output=True, text=True, cwd=REPO, env=env, check=False)
    elapsed = time.monotonic() - start
    out = proc.stdout
    begin = out.find('=> {')
    if proc.returncode != 0 or begin < 0:
        raise SystemExit('%s failed: %s' % (name, (out[begin + 3:] if begin >= 0 else out + proc.stderr)[-2000:]))
    return elapsed, json.loads(out[begin + 3:])


def login():
    return dict(container=SERVER, login_host='127.0.0.1', login_port=PORT, login_user='root',
                login_password_file=PASSWORD_FILE)


def clear_backups():
    for name in os.listdir(BACKUPS):
        shutil.rmtree(os.path.join(BACKUPS, name), ignore_errors=True)
    for name in os.listdir(RAW):
        os.remove(os.path.join(RAW, name))


def raw_logical():
    return exec_in('mariadb-dump --protocol=socket -uroot --single-transaction --databases sbtest | zstd -T0 -q > %s/raw.sql.zst'
                   % RAW, timed=True)


def raw_physical():
    return exec_in('rm -rf /tmp/bench-xb && mkdir /tmp/bench-xb && mariadb-backup --backup --user=root --stream=xbstream '
                   '--target-dir=/tmp/bench-xb 2>/dev/null | zstd -T0 -q > %s/raw.xb.zst; rm -rf /tmp/bench-xb' % RAW, timed=True)


def streamed(script):
    """A raw pipeline whose output is streamed out of the container through `docker exec` into a host file (the
    transport the module uses: the stream leaves the container through the engine). Timed from the host."""
    path = os.path.join(RAW, 'streamed')
    start = time.monotonic()
    with open(path, 'wb') as handle:
        subprocess.run(['docker', 'exec', SERVER, 'bash', '-c', 'set -o pipefail; ' + script], stdout=handle, check=True)
    elapsed = time.monotonic() - start
    os.remove(path)
    return elapsed


def raw_logical_streamed():
    return streamed('mariadb-dump --protocol=socket -uroot --single-transaction --databases sbtest | zstd -T0 -q')


def raw_physical_streamed():
    return streamed('rm -rf /tmp/bench-xb && mkdir /tmp/bench-xb && mariadb-backup --backup --user=root --stream=xbstream '
                    '--target-dir=/tmp/bench-xb 2>/dev/null | zstd -T0 -q; rc=$?; rm -rf /tmp/bench-xb; exit $rc')


def raw_restore():
    exec_in("mariadb --protocol=socket -uroot -e 'DROP DATABASE sbtest'")
    return exec_in('zstd -dc %s/raw.sql.zst | mariadb --protocol=socket -uroot' % RAW, timed=True)


def module_backup(method):
    task, result = module('hna.cloudos.mysql_backup', method=method, databases=['sbtest'] if method == 'logical' else None,
                          instance='bench-' + method, backup_dir=BACKUPS, verify='false', **login())
    backup = result['backup']
    return backup['duration'], task, backup


def module_restore(backup_id):
    task, result = module('hna.cloudos.mysql_restore', backup=backup_id, instance='bench-logical', backup_dir=BACKUPS,
                          target='database', database='sbtest', force=True, **login())
    return result['restored']['seconds'], task


def settle():
    """Write every dirty page to disk before the next timed run (untimed).

    The raw pipelines leave their file in the page cache (no fsync); the kernel writes it back some 30 s later, in
    the middle of whatever runs then. Without this, each side would pay for the writes of the one before it.
    """
    os.sync()


def backup_pair(method, raw, streamed, raw_file, figures, sizes, module_first=False):
    """One raw backup, the module's backup of the same data and the raw pipeline streamed out; record and print them.

    ``module_first`` runs the module's backup before the raw one (the rounds alternate, so that neither side always
    runs on a server the other has just warmed or tired).
    """
    if module_first:
        settle()
        seconds, task, backup = module_backup(method)
    settle()
    figures['raw_' + method].append(raw())
    if not module_first:
        settle()
        seconds, task, backup = module_backup(method)
    figures['mod_' + method].append(seconds)
    figures['task_' + method].append(task)
    sizes[method] = (os.path.getsize(os.path.join(RAW, raw_file)), backup['size'])
    settle()
    figures['streamed_' + method].append(streamed())
    stages = ', '.join('%s %.2f' % (name, value) for name, value in sorted((backup.get('stages') or {}).items())
                       if value is not None)
    say('%s backup%s: raw %.2f s, module %.2f s (task %.2f s; stages: %s; transport %s), raw streamed out through docker '
        'exec %.2f s; files %d / %d bytes' % (method, ' (module first)' if module_first else '', figures['raw_' + method][-1],
                                              seconds, task, stages or 'none',
                                              backup.get('transport'), figures['streamed_' + method][-1],
                                              sizes[method][0], sizes[method][1]))
    return backup


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tables', type=int, default=5)
    parser.add_argument('--table-size', type=int, default=1_000_000)
    parser.add_argument('--min-gib', type=float, default=1.0)
    parser.add_argument('--repeat', type=int, default=1)
    parser.add_argument('--record', action='store_true', help="insert the result rows into their table in docs/benchmarks.md")
    parser.add_argument('--keep', action='store_true', help='keep the server and its data volume')
    parser.add_argument('--prefix', default='hnabench-backup', help='name prefix of the container, volume and image')
    parser.add_argument('--prepare-only', action='store_true', help='build, start and fill the server, then stop (implies --keep)')
    parser.add_argument('--only', choices=['logical', 'physical', 'restore'], action='append',
                        help='measure only this pair (repeatable; default: all three); a restore needs the logical pair')
    options = parser.parse_args()
    set_prefix(options.prefix)

    image = bench_image()
    start_server(image)
    figures = {key: [] for key in ('raw_logical', 'mod_logical', 'task_logical', 'raw_physical', 'mod_physical',
                                   'task_physical', 'streamed_logical', 'streamed_physical', 'raw_restore', 'mod_restore', 'task_restore')}
    sizes = {}
    try:
        size = fill(options.tables, options.table_size, int(options.min_gib * 2**30))
        if size < options.min_gib * 2**30:
            raise SystemExit('sbtest holds %.2f GiB, less than --min-gib %.2f: give more --tables or --table-size'
                             % (size / 2**30, options.min_gib))
        say('sbtest: %d tables x %d rows, %.2f GiB of rows and indexes' % (options.tables, options.table_size, size / 2**30))
        if options.prepare_only:
            options.keep = True
            return 0
        pairs = set(options.only or ('logical', 'physical', 'restore'))
        if 'restore' in pairs:
            pairs.add('logical')
        for round_ in range(options.repeat):
            clear_backups()
            if 'logical' in pairs:
                logical = backup_pair('logical', raw_logical, raw_logical_streamed, 'raw.sql.zst', figures, sizes,
                                      module_first=round_ % 2 == 1)
            if 'physical' in pairs:
                backup_pair('physical', raw_physical, raw_physical_streamed, 'raw.xb.zst', figures, sizes,
                            module_first=round_ % 2 == 1)
            if 'restore' in pairs:
                settle()
                figures['raw_restore'].append(raw_restore())
                settle()
                seconds, task = module_restore(logical['id'])
                figures['mod_restore'].append(seconds)
                figures['task_restore'].append(task)
                say('restore: raw %.2f s, module %.2f s (task %.2f s)' % (figures['raw_restore'][-1], seconds, task))
        rows = query('SELECT COUNT(*) FROM sbtest.sbtest1')[0][0]
        if rows != options.table_size:
            raise SystemExit('after the restores sbtest.sbtest1 holds %d rows, not %d' % (rows, options.table_size))
    finally:
        if not options.keep:
            run(['docker', 'rm', '-f', SERVER], check=False)
            run(['docker', 'volume', 'rm', '-f', VOLUME], check=False)
            shutil.rmtree(WORK, ignore_errors=True)
    med = {key: statistics.median(values) for key, values in figures.items() if values}
    results = []
    if 'mod_logical' in med:
        results.append(('logical backup', med['raw_logical'], med['mod_logical'], med['raw_logical'] / med['mod_logical'],
                        '>= 0.90', med['raw_logical'] / med['mod_logical'] >= 0.9, med['task_logical'],
                        '`mariadb-dump --single-transaction \\| zstd -T0 > file` (the same streamed out through docker exec '
                        'to a host file: %.2f s)' % med['streamed_logical']))
    if 'mod_physical' in med:
        results.append(('physical backup', med['raw_physical'], med['mod_physical'], med['raw_physical'] / med['mod_physical'],
                        '>= 0.90', med['raw_physical'] / med['mod_physical'] >= 0.9, med['task_physical'],
                        '`mariadb-backup --backup --stream=xbstream \\| zstd -T0 > file` (the same streamed out through '
                        'docker exec to a host file: %.2f s)' % med['streamed_physical']))
    if 'mod_restore' in med:
        results.append(('restore', med['raw_restore'], med['mod_restore'], med['mod_restore'] / med['raw_restore'], '<= 1.10',
                        med['mod_restore'] / med['raw_restore'] <= 1.1, med['task_restore'], '`zstd -dc file \\| mariadb`'))
    say('')
    for name, raw, mod, ratio, target, met, task, dummy in results:
        say('%-16s raw %7.2f s  module %7.2f s  ratio %.3f (target %s) -> %s; whole ansible task %.2f s'
            % (name, raw, mod, ratio, target, 'met' if met else 'MISSED', task))
    say('all runs: %s' % json.dumps({k: [round(v, 2) for v in vs] for k, vs in figures.items()}))
    if options.record:
        today = datetime.date.today().isoformat()
        lines = []
        for name, raw, mod, ratio, target, met, task, baseline in results:
            kind = 'throughput ratio, raw time / module time' if 'backup' in name else 'time ratio, module / raw'
            lines.append(
                '| %s | `hna.cloudos.%s` %s of %.2f GiB of sysbench rows (%d x %d) on the local engine vs raw %s in the '
                'server\'s container (%s; median of %d; whole ansible task %.2f s; load average %.1f) | %.2f s | %.2f s | '
                '%.3f | %s | %s |\n' % (today, 'mysql_restore' if name == 'restore' else 'mysql_backup', name, size / 2**30,
                                        options.tables, options.table_size, baseline, kind, options.repeat, task,
                                        os.getloadavg()[0], raw, mod, ratio, target, 'met' if met else 'MISSED'))
        line = insert_rows(lines, ['`hna.cloudos.mysql_backup`', '`hna.cloudos.mysql_restore`'])
        say('inserted %d rows into docs/benchmarks.md at line %d' % (len(lines), line))
    return 0 if all(r[5] for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
