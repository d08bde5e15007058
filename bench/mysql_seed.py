#!/usr/bin/env python3
"""Seeding and catch-up of a MariaDB replica across the lab's two clouds.

Needs the lab with its database servers (`make lab`): the primary on bj2-node1, the replica on
hz-node1. Two figures, each the median of --repeat runs in the same run of this script:

1. Seeding throughput: the seed pipeline of `hna.cloudos.mysql_replication` with `reseed: true`
   (its own `seed.seconds`: the dump streamed into the import inside the replica's container) against
   the baseline a DBA would type, `mariadb-dump --single-transaction --all-databases | mariadb`, run
   in the same container against the primary and timed there too: the same data, the same two
   nodes. Ratio = baseline time / module time (the module's throughput as a fraction of the raw
   pipe's); target at least 0.9. The whole runs are printed too (ssh + docker exec for the pipe; the
   ad hoc Ansible task with its start-up, checks and catch-up wait for the module).
2. Catch-up: the replica is stopped, the primary commits --transactions single-row transactions,
   the replica is started; the time until it has applied them all (MASTER_GTID_WAIT), and the rate.

  .venv/bin/python bench/mysql_seed.py [--rows 1000000] [--repeat 3] [--record]

Load goes only to the lab's own database addresses. The benchmark's database `hnabench` is dropped
at the end (the drop replicates).
"""

import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

import pymysql

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests', 'lab'))
# The Ansible commands of the virtual environment that runs this script.
os.environ['PATH'] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', '')

from conftest import HOSTVARS, run_module  # noqa: E402  pylint: disable=wrong-import-position
from benchrecord import insert_rows  # noqa: E402  pylint: disable=wrong-import-position

PRIMARY, REPLICA = 'bj2-node1', 'hz-node1'
ADDRESS = {h: HOSTVARS[h]['lab_interconnect_address'] for h in (PRIMARY, REPLICA)}
SECRETS = os.path.join(REPO, '.lab', 'secrets')


def secret(name):
    with open(os.path.join(SECRETS, name)) as handle:
        return handle.read().strip()


ROOT_PASSWORD = secret('mysql-root-password')
REPL_PASSWORD = secret('mysql-repl-password')


def query(host, sql, args=None):
    with pymysql.connect(host=ADDRESS[host], user='root', password=ROOT_PASSWORD, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()


def caught_up(timeout=600):
    pos = query(PRIMARY, 'SELECT @@gtid_binlog_pos')[0][0]
    if query(REPLICA, 'SELECT MASTER_GTID_WAIT(%s, %s)', (pos, timeout))[0][0] != 0:
        raise SystemExit('the replica did not catch up within %d s' % timeout)


def fill(rows):
    query(PRIMARY, 'DROP DATABASE IF EXISTS hnabench')
    query(PRIMARY, 'CREATE DATABASE hnabench')
    query(PRIMARY, 'CREATE TABLE hnabench.t (id INT PRIMARY KEY, payload VARCHAR(100), n DOUBLE, at DATETIME)')
    done = 0
    while done < rows:
        batch = min(200_000, rows - done)
        query(PRIMARY, 'INSERT INTO hnabench.t SELECT seq, MD5(seq), seq / 7, NOW() FROM hnabench.seq_%d_to_%d' % (done + 1, done + batch))
        done += batch
    caught_up()
    query(PRIMARY, 'ANALYZE TABLE hnabench.t')  # the sizes in information_schema are estimates until then
    return query(PRIMARY, "SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = 'hnabench'")[0][0]


def seed_with_module():
    args = dict(login_host=ADDRESS[REPLICA], login_password=ROOT_PASSWORD, state='running',
                primary_host=ADDRESS[PRIMARY], primary_user='repl', primary_password=REPL_PASSWORD,
                primary_admin_user='root', primary_admin_password=ROOT_PASSWORD,
                seed_container='mysql', reseed='true', max_lag=5, wait_timeout=900)
    start = time.monotonic()
    rc, result = run_module(REPLICA, 'hna.cloudos.mysql_replication', ' '.join('%s=%s' % kv for kv in args.items()))
    elapsed = time.monotonic() - start
    if rc != 0:
        raise SystemExit('the module failed: %s' % result.get('msg', result))
    return result['seed']['seconds'], elapsed


def seed_with_pipe():
    """The raw pipe in the replica's server container. The primary's password goes in a 0600 option
    file (given on stdin), as the module does; root logs in to the local server over its socket."""
    query(REPLICA, 'STOP SLAVE')
    script = (
        "set -euo pipefail; umask 077; d=$(mktemp -d); trap 'rm -rf $d' EXIT; cat > $d/src.cnf; start=$(date +%%s.%%N); "
        "{ echo 'SET SESSION sql_log_bin=0;'; mariadb-dump --defaults-extra-file=$d/src.cnf -h %s --single-transaction "
        "--all-databases --routines --triggers --events; } | mariadb --protocol=socket -uroot; "
        "echo \"pipeline $start $(date +%%s.%%N)\""
    ) % ADDRESS[PRIMARY]
    start = time.monotonic()
    proc = subprocess.run(
        ['ssh', '-i', os.path.join(REPO, '.lab', 'ssh', 'id_ed25519'), '-o', 'StrictHostKeyChecking=no',
         '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', 'root@%s' % HOSTVARS[REPLICA]['ansible_host'],
         'docker exec -i mysql bash -c %s' % shlex.quote(script)],
        input='[client]\nuser=root\npassword=%s\n' % ROOT_PASSWORD, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit('the raw pipe failed: %s' % proc.stderr[-2000:])
    _, begin, end = proc.stdout.split()[-3:]
    return float(end) - float(begin), elapsed


def catch_up(transactions):
    """Stop the replica, commit `transactions` single-row transactions on the primary (one compound
    statement run by the server, each INSERT its own transaction), start the replica, time its catch-up."""
    query(REPLICA, 'STOP SLAVE')
    query(PRIMARY, 'CREATE TABLE IF NOT EXISTS hnabench.tx (id INT AUTO_INCREMENT PRIMARY KEY, v INT)')
    query(PRIMARY, 'BEGIN NOT ATOMIC FOR i IN 1..%d DO INSERT INTO hnabench.tx (v) VALUES (i); END FOR; END' % transactions)
    start = time.monotonic()
    query(REPLICA, 'START SLAVE')
    caught_up(1800)
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=1_000_000)
    parser.add_argument('--transactions', type=int, default=100_000)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--record', action='store_true', help="insert the result rows into their table in docs/benchmarks.md")
    options = parser.parse_args()

    size = fill(options.rows)
    print('hnabench.t: %d rows, %.1f MiB on the primary' % (options.rows, size / 2**20))
    figures = {'module': [], 'pipe': [], 'module_task': [], 'pipe_command': []}
    try:
        for _ in range(options.repeat):
            pipe, pipe_command = seed_with_pipe()
            module, module_task = seed_with_module()
            figures['pipe'].append(pipe)
            figures['pipe_command'].append(pipe_command)
            figures['module'].append(module)
            figures['module_task'].append(module_task)
            print('pipeline: raw %.2f s, module %.2f s; whole: ssh + docker exec %.2f s, ansible task %.2f s'
                  % (pipe, module, pipe_command, module_task), flush=True)
        catchup = catch_up(options.transactions)
    finally:
        query(REPLICA, 'START SLAVE')
        query(PRIMARY, 'DROP DATABASE IF EXISTS hnabench')
    median = {key: statistics.median(values) for key, values in figures.items()}
    pipe, module = median['pipe'], median['module']
    ratio = pipe / module
    print('\nseeding pipeline (median of %d, timed inside the replica container): raw pipe %.2f s, module %.2f s: '
          'throughput ratio %.3f (target >= 0.90) -> %s' % (options.repeat, pipe, module, ratio, 'met' if ratio >= 0.9 else 'MISSED'))
    print('whole runs: ssh + docker exec of the raw pipe %.2f s; the module\'s ansible task (start-up, checks, seed, '
          'catch-up wait) %.2f s: ratio %.3f' % (median['pipe_command'], median['module_task'],
                                                 median['pipe_command'] / median['module_task']))
    print('catch-up of %d transactions: %.2f s (%.0f transactions/s)' % (options.transactions, catchup, options.transactions / catchup))
    print('all runs: %s' % json.dumps({k: [round(v, 2) for v in vs] for k, vs in figures.items()}))
    if options.record:
        today = datetime.date.today().isoformat()
        rows = [
            '| %s | `hna.cloudos.mysql_replication` seeding of %d rows (%.0f MiB) bj2-node1 to hz-node1, pipeline throughput vs '
            'raw `mariadb-dump --single-transaction \\| mariadb` in the same container (median of %d; whole runs: ssh + docker '
            'exec %.2f s, ansible task %.2f s; load average %.1f) | %.2f s | %.2f s | %.3f | >= 0.90 | %s |\n'
            % (today, options.rows, size / 2**20, options.repeat, median['pipe_command'], median['module_task'],
               os.getloadavg()[0], pipe, module, ratio, 'met' if ratio >= 0.9 else 'MISSED'),
            '| %s | replica catch-up of %d single-row transactions across the interconnect (%.0f transactions/s) | | %.2f s | | none | - |\n'
            % (today, options.transactions, options.transactions / catchup, catchup),
        ]
        line = insert_rows(rows, ['`hna.cloudos.mysql_replication`', 'replica catch-up'])
        print('inserted %d rows into docs/benchmarks.md at line %d' % (len(rows), line))
    return 0 if ratio >= 0.9 else 1


if __name__ == '__main__':
    sys.exit(main())
