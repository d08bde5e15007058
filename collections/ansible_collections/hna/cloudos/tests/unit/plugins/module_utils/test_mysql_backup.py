# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the backup task's pure parts: scripts, failures, positions, counts, options, offsite commands, info."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_backup as backup
from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_backup_store as store
from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_exec as mexec

HEAD = """-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Position to start replication or point-in-time recovery from
--

-- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;
-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000003', MASTER_LOG_POS=24843202;
"""
TAIL = """-- Preferably use GTID to start replication from GTID position:

-- SET GLOBAL gtid_slave_pos='0-1-18';
-- Dump completed on 2026-12-01 13:08:58
"""
XB_LOG = """[00] 2026-12-01 13:12:42 Streaming ./ibdata1
[00] 2026-12-01 13:12:43 mariabackup: MySQL binlog position: filename 'mysql-bin.000001', position '24843202', GTID of the last change '0-1-18'
[00] 2026-12-01 13:12:43 completed OK!
"""


def _params(**overrides):
    params = dict(method='logical', compression='zstd', compression_level=None, threads=0, timeout=3600, lock_timeout=600,
                  databases=None, offsite=None)
    params.update(overrides)
    return params


def test_logical_script_has_every_stage_and_no_secret():
    script = backup.logical_script('/tmp/hna-backup-x', True, ['testlog', 'shop'], 'zstd', 3, 0, 3600)
    assert "HNA_AT_EXIT+=('rm -f -- /tmp/hna-backup-x/client.cnf')" in script
    assert ('timeout --kill-after=30 3600 mariadb-dump --defaults-extra-file=/tmp/hna-backup-x/client.cnf'
            ' --single-transaction --gtid --master-data=2 --routines --triggers --events --hex-blob --databases testlog shop') in script
    # zstd reads the dump directly (no tee: every copy of the stream costs time) and reports the raw size.
    assert '--hex-blob --databases testlog shop 2>/tmp/hna-backup-x/out/dump.err | zstd -vv -T0 -3 -c 2>/tmp/hna-backup-x/out/compress.err' in script
    assert 'hna_status="${PIPESTATUS[0]} 0 ${PIPESTATUS[1]}"' in script and 'echo "$hna_status" > /tmp/hna-backup-x/out/status' in script
    assert 'tee' not in script and 'head -c' not in script and 'tail -c' not in script
    plain = backup.logical_script('/d', False, None, 'gzip', 6, 4, 60)
    assert '--master-data' not in plain and '--all-databases' in plain and '| gzip -6 -c' in plain
    assert '| tee -p >( { wc -c > /d/out/rest; touch /d/out/counted; } ) |' in plain


def test_raw_size_from_the_zstd_report():
    report = ('*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***\n'
              '/*stdin*\\            : 49.57%   (1004477506 B => 497942731 B, /*stdout*\\) \n'
              '/*stdin*\\            : Completed in 8.09 sec  (cpu load : 108%)\n')
    assert backup.raw_size(report) == 1004477506
    assert backup.raw_size('/*stdin*\\            : 49.57%   (1004477506 => 497942731 bytes, /*stdout*\\) \n') == 1004477506
    assert backup.raw_size('/*stdin*\\ : 49.57%   (957.95 MiB =>  474.9 MiB, /*stdout*\\)') is None
    assert backup.raw_size('') is None and backup.raw_size(None) is None


@pytest.mark.parametrize('compression', ['gzip', 'zstd'])
def test_head_script_reads_the_start_of_a_compressed_file(tmp_path, compression):
    """The first bytes of the raw stream from the first MiB of a large compressed dump (the rest never read)."""
    raw = HEAD.encode() + os.urandom(3 * 1024 * 1024).hex().encode()
    packed = subprocess.run([compression, '-c'], input=raw, stdout=subprocess.PIPE, check=True).stdout
    assert len(packed) > backup.HEAD_INPUT_BYTES
    runner = mexec.LocalExec()
    try:
        runner.put_files({})
        assert runner.stream_in(backup.head_script(runner.directory, compression), [packed[:backup.HEAD_INPUT_BYTES]], 60) == 0
        head = runner.read_files()['head']
    finally:
        runner.cleanup()
    assert head.encode() == raw[:backup.EDGE_BYTES]
    assert backup.dump_position(head) == dict(gtid=None, binlog_file='mysql-bin.000003', binlog_pos=24843202)


def test_logical_script_runs_with_stand_in_tools(tmp_path):
    """The script with fake mariadb-dump and a real gzip: stream on stdout, statuses and the raw size in out/."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    dump = bin_dir / 'mariadb-dump'
    (tmp_path / 'head.sql').write_text(HEAD)
    (tmp_path / 'tail.sql').write_text('\n' + TAIL)
    dump.write_text('#!/bin/bash\nif [ "$1" = --version ]; then echo "mariadb-dump  Ver 10.19"; exit 0; fi\n'
                    'cat %s\nhead -c 200000 /dev/zero | tr "\\0" x\ncat %s\n' % (tmp_path / 'head.sql', tmp_path / 'tail.sql'))
    dump.chmod(0o755)
    runner = mexec.LocalExec()
    try:
        runner.put_files({'client.cnf': '[client]\n'})
        script = 'export PATH=%s:$PATH\n' % bin_dir + backup.logical_script(runner.directory, True, None, 'gzip', 1, 0, 60)
        chunks = []
        assert runner.stream_out(script, lambda data: chunks.append(bytes(data)), 60) == 0
        results = runner.read_files()
    finally:
        runner.cleanup()
    assert backup.pipeline_failure('logical', results, 0) is None
    raw = subprocess.run(['gzip', '-dc'], input=b''.join(chunks), stdout=subprocess.PIPE, check=True).stdout
    assert raw.startswith(HEAD.encode()) and raw.endswith(TAIL.encode())
    assert int(results['rest']) == len(raw)
    assert backup.tool_versions(results, 'logical', 'gzip')['mariadb-dump'] == 'mariadb-dump  Ver 10.19'


def test_physical_script():
    script = backup.physical_script('/d', 'zstd', 5, 2, 100)
    assert ('timeout --kill-after=30 100 mariadb-backup --defaults-extra-file=/d/client.cnf --backup --stream=xbstream'
            ' --target-dir=/d/target --parallel=2 2>/d/out/backup.err | zstd -q -T2 -5 -c') in script


def test_pipeline_failure_names_the_stage():
    err = "mariadb-dump: unknown variable 'loose-connect-timeout=30'\nmariadb-dump: Got error: 1045: \"Access denied\"\n"
    assert backup.pipeline_failure('logical', {'status': '2 0 0\n', 'dump.err': err}, 0) == (
        'stage dump: mariadb-dump exited 2: mariadb-dump: Got error: 1045: "Access denied"')
    assert backup.pipeline_failure('logical', {'status': '124 0 0'}, 0) == 'stage dump: stopped after the timeout'
    assert 'stage stream' in backup.pipeline_failure('logical', {'status': '0 141 0'}, 0)
    assert backup.pipeline_failure('logical', {'status': '0 0 1', 'compress.err': 'zstd: error 70 : Write error'}, 0) == (
        'stage compress: the compressor exited 1: zstd: error 70 : Write error')
    assert 'did not finish' in backup.pipeline_failure('logical', {}, 137)
    assert 'mariadb-backup exited 1' in backup.pipeline_failure('physical', {'status': '1 0', 'backup.err': 'error: x'}, 0)
    assert backup.pipeline_failure('physical', {'status': '0 0'}, 0) is None


def test_positions():
    assert backup.dump_position('') == dict(gtid=None, binlog_file=None, binlog_pos=None)
    assert backup.physical_position(XB_LOG) == dict(gtid='0-1-18', binlog_file='mysql-bin.000001', binlog_pos=24843202)
    assert backup.physical_position('no position')['gtid'] is None


def test_post_snapshot_statements():
    before = ["/*!40100 SET @@SQL_MODE='' */", "SHOW STATUS LIKE 'binlog_snapshot_%'",
              'SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ', '/*M!100100 SET WAIT_TIMEOUT=DEFAULT */']
    after = ["SELECT BINLOG_GTID_POS('mysql-bin.000001', '379397763')", 'UNLOCK TABLES', 'SHOW CREATE DATABASE IF NOT EXISTS `x`',
             'SELECT /*!40001 SQL_NO_CACHE */ `id` FROM `hits`', 'SAVEPOINT sp']
    assert not any(backup._POST_SNAPSHOT_RE.match(text) for text in before)
    assert all(backup._POST_SNAPSHOT_RE.match(text) for text in after)


def test_counts_round_trip():
    sql = backup.count_statements({'shop.orders': 3, "we'ird.t`x": 1})
    assert "SELECT 'shop.orders', COUNT(*) FROM `shop`.`orders`;" in sql
    assert "SELECT 'we\\'ird.t`x', COUNT(*) FROM `we'ird`.`t``x`;" in sql
    actual = backup.parse_counts('shop.orders\t3\nwe\'ird.t`x\t2\n')
    assert backup.compare_counts({'shop.orders': 3, "we'ird.t`x": 1}, actual) == [
        "we'ird.t`x: 1 rows in the manifest, 2 after the restore"]


@pytest.mark.parametrize('value, expected', [(False, None), (True, 'checksum'), ('true', 'checksum'), ('restore', 'restore'),
                                             ('no', None), (None, None)])
def test_normalize_verify(value, expected):
    assert backup.normalize_verify(value) == expected


def test_normalize_verify_refuses_others():
    with pytest.raises(backup.BackupError, match='verify must be'):
        backup.normalize_verify('sometimes')


def test_check_options():
    assert backup.check_options(_params()) == 3
    assert backup.check_options(_params(compression='gzip')) == 6
    with pytest.raises(backup.BackupError, match='compression_level 12 is out of range for gzip'):
        backup.check_options(_params(compression='gzip', compression_level=12))
    with pytest.raises(backup.BackupError, match='method: physical'):
        backup.check_options(_params(method='physical', databases=['a']))
    with pytest.raises(backup.BackupError, match='not a database name'):
        backup.check_options(_params(databases=['--all']))
    with pytest.raises(backup.BackupError, match='offsite.path'):
        backup.check_options(_params(offsite=dict(host='h', path='/x;rm -rf /', port=22)))


def test_offsite_commands():
    commands = backup.offsite_commands(dict(host='10.232.0.11', user='backup', path='/srv/backups/', port=2222,
                                            identity_file='/root/.ssh/id'), '/b/x.sql.zst', 'x.sql.zst')
    assert commands['copy'] == ['scp', '-q', '-p', '-P', '2222', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=30', '-i',
                                '/root/.ssh/id', '-o', 'IdentitiesOnly=yes', '/b/x.sql.zst',
                                'backup@10.232.0.11:/srv/backups/.x.sql.zst.partial']
    assert commands['checksum'][-1] == 'sha256sum /srv/backups/.x.sql.zst.partial'
    assert commands['rename'][-1] == 'mv -f /srv/backups/.x.sql.zst.partial /srv/backups/x.sql.zst'
    assert commands['final'] == '/srv/backups/x.sql.zst'


def _write_backup(directory, backup_id, payload, verified=None):
    name = backup_id + '.sql.zst'
    store.write_atomic(os.path.join(directory, name), payload)
    manifest = dict(format=1, id=backup_id, instance='db', file=name, method='logical', compression='zstd', size=len(payload),
                    sha256=hashlib.sha256(payload).hexdigest(), started=backup_id.split('-')[1][:8] and None,
                    verified=verified, verified_at=None, status='complete', position=None)
    store.write_manifest(directory, manifest)
    return manifest


class _Module:
    check_mode = False
    _diff = False

    def __init__(self, params):
        self.params = params
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)


def test_verify_refuses_a_flipped_byte_and_marks_it_corrupt(tmp_path):
    directory = str(tmp_path)
    manifest = _write_backup(directory, 'db-20261201T130501Z-logical', b'0123456789')
    with open(os.path.join(directory, manifest['file']), 'r+b') as handle:
        handle.seek(4)
        handle.write(b'X')
    task = backup.BackupTask(_Module(dict(timeout=60)), None)
    task.result['backup'] = {}
    with pytest.raises(backup.BackupError, match='sha256 .* differs .* is corrupt'):
        task._verify(directory, manifest, 'checksum', None)
    listed = store.list_backups(directory)
    assert listed[0]['status'] == 'corrupt'
    info = backup.read_backup_info(os.path.dirname(directory), os.path.basename(directory))
    assert info['latest_verified'] is None and info['backups'][0]['status'] == 'corrupt'


def test_verify_checksum_marks_verified(tmp_path):
    directory = str(tmp_path)
    manifest = _write_backup(directory, 'db-20261201T130501Z-logical', b'payload')
    task = backup.BackupTask(_Module(dict(timeout=60)), None)
    task.result['backup'] = {}
    updated = task._verify(directory, manifest, 'checksum', None)
    assert updated['verified'] == 'checksum' and task.result['backup']['verified'] == 'checksum'
    assert store.list_backups(directory)[0]['status'] == 'verified'


def test_info_checksum_finds_a_flipped_byte_without_writing(tmp_path):
    directory = str(tmp_path / 'db')
    os.mkdir(directory)
    manifest = _write_backup(directory, 'db-20261201T130501Z-logical', b'payload', verified='checksum')
    _write_backup(directory, 'db-20261201T140501Z-logical', b'other', verified=None)
    path = os.path.join(directory, manifest['file'])
    with open(path, 'r+b') as handle:
        handle.write(b'P')
    before = open(store.manifest_path(directory, manifest['id']), 'rb').read()
    plain = backup.read_backup_info(str(tmp_path))
    assert [entry['status'] for entry in plain['backups']] == ['unverified', 'verified']
    assert plain['latest_verified']['id'] == manifest['id'] and plain['backups'][0]['instance'] == 'db'
    checked = backup.read_backup_info(str(tmp_path), checksum=True)
    assert [entry['status'] for entry in checked['backups']] == ['unverified', 'corrupt']
    assert 'differs' in checked['backups'][1]['checksum'] and checked['latest_verified'] is None
    assert open(store.manifest_path(directory, manifest['id']), 'rb').read() == before


def test_info_of_a_missing_directory(tmp_path):
    assert backup.read_backup_info(str(tmp_path / 'none')) == dict(backups=[], latest_verified=None)


class _Cursor:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, *args):
        self.log.append(sql)


class _Connection:
    def __init__(self, log):
        self.log = log

    def cursor(self):
        return _Cursor(self.log)

    def close(self):
        pass


def _counter(monkeypatch):
    log = []

    def query_rows(connection, statement):
        sql = statement[0]
        log.append(sql)
        if 'PROCESSLIST' in sql:
            return [dict(id=99, command='Query', info='SELECT 1', trx='42')]
        if sql.startswith('SELECT COUNT(*)'):
            return [dict(n=7)]
        raise AssertionError(sql)

    monkeypatch.setattr(backup, 'query_rows', query_rows)
    counter = backup.SnapshotCounter({}, backup.MARIADB, ['db'], ['db'])
    counter.holder = counter.counter = counter.watcher = _Connection(log)
    counter.tables = [('db', 't')]
    counter._held_at = __import__('time').monotonic()
    return counter, log


def test_counts_wait_for_the_end_of_the_dump(monkeypatch):
    counter, log = _counter(monkeypatch)
    counter.start()
    __import__('time').sleep(0.3)
    # the hold is released as soon as the dump's snapshot exists, the counting waits for the dump to end
    assert 'BACKUP STAGE END' in log and not any(sql.startswith('SELECT COUNT') for sql in log)
    assert counter.lock_seconds is not None
    counter.stream_ended(True)
    counter.finish(5)
    assert counter.counts == {'db.t': 7} and counter.detected is True
    assert log[-1] == 'COMMIT'


def test_no_counts_after_a_failed_dump(monkeypatch):
    counter, log = _counter(monkeypatch)
    counter.start()
    counter.stream_ended(False)
    counter.finish(5)
    assert counter.counts is None and not any(sql.startswith('SELECT COUNT') for sql in log)


def test_counts_verdict():
    counts = {'testlog.t': 3}
    assert backup.counts_verdict(counts, None, True, '0-1-5', '0-1-5', False) == (counts, None)
    dropped, reason = backup.counts_verdict(counts, None, True, '0-1-6', '0-1-5', True)
    assert dropped is None and '0-1-6' in reason and '0-1-5' in reason
    assert backup.counts_verdict(counts, None, False, None, None, True) == (counts, None)
    dropped, reason = backup.counts_verdict(counts, None, False, None, None, False)
    assert dropped is None and 'not seen in time' in reason
    # A database without tables: the dump ends before the watcher sees it, and there is nothing to count.
    assert backup.counts_verdict({}, None, False, None, None, False) == ({}, None)
    assert backup.counts_verdict(None, 'Lost connection', False, None, None, True) == (None, 'Lost connection')
