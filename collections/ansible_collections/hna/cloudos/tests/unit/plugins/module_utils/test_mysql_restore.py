# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of mysql_restore: choosing the backup, the target, the scripts, the binary logs, the failures."""

from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_backup_store as store
from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_restore as restore
from ansible_collections.hna.cloudos.plugins.module_utils._mysql_restore import RestoreError

UTC = datetime.timezone.utc


def at(text):
    return datetime.datetime.strptime(text, '%Y-%m-%d %H:%M:%S').replace(tzinfo=UTC)


def backup(stamp, gtid='0-1-10', status=store.VERIFIED, method='logical', finished=None, databases=None):
    backup_id = 'testlog-%s-%s' % (stamp, method)
    moment = datetime.datetime.strptime(stamp, store.STAMP_FORMAT).replace(tzinfo=UTC)
    finished = finished or (moment + datetime.timedelta(seconds=30)).strftime(store.TIME_FORMAT)
    manifest = dict(format=1, id=backup_id, file=backup_id + '.sql.zst', method=method, compression='zstd',
                    position=dict(gtid=gtid, binlog_file=None, binlog_pos=None), databases=databases,
                    started=moment.strftime(store.TIME_FORMAT), finished=finished, status='complete',
                    verified='checksum' if status == store.VERIFIED else None)
    return dict(id=backup_id, status=status, method=method, manifest=manifest, position=manifest['position'],
                time=moment, path='/b/%s.sql.zst' % backup_id)


# Newest first, as list_backups gives them.
BACKUPS = [
    backup('20261201T140000Z', gtid='0-1-300', status=store.UNVERIFIED),
    backup('20261201T130000Z', gtid='0-1-200'),
    backup('20261201T120000Z', gtid='0-1-100'),
    backup('20261201T110000Z', gtid=None),
    backup('20261201T100000Z', gtid='0-1-50', method='physical'),
]


# -- Inputs ----------------------------------------------------------------------------------------------------

def test_until_time_is_utc_and_strict():
    assert restore.parse_until_time('2026-12-01 13:05:00') == datetime.datetime(2026, 12, 1, 13, 5, tzinfo=UTC)
    for bad in ('2026-12-01T13:05:00', '2026-12-01 13:05', '13:05:00', '', '2026-13-01 00:00:00'):
        with pytest.raises(RestoreError, match='until_time'):
            restore.parse_until_time(bad)


def test_gtid_positions():
    assert restore.parse_gtid(' 1-2-7,0-1-42 ', 'until_gtid') == '0-1-42,1-2-7'
    with pytest.raises(RestoreError, match='until_gtid'):
        restore.parse_gtid('0-1', 'until_gtid')
    with pytest.raises(RestoreError, match='until_gtid'):
        restore.parse_gtid('', 'until_gtid')
    assert restore.gtid_contains('0-1-42', '0-1-42')
    assert restore.gtid_contains('0-1-42,1-2-5', '0-1-40')
    assert not restore.gtid_contains('0-1-41', '0-1-42')
    assert not restore.gtid_contains('0-1-42', '1-1-1')
    assert restore.gtid_contains('0-1-1', '')


def test_password_files_are_read_for_both_servers(tmp_path):
    path = tmp_path / 'pw'
    path.write_text('s3cr3t pass\n')
    module = FakeModule(dict(login_password=None, login_password_file=str(path), until_time=None, until_gtid=None,
                             data_volume=None, timeout=10,
                             binlog_source=dict(login_user='repl', login_password=None, login_password_file=str(path))))
    task = restore.RestoreTask(module)
    task._inputs()
    assert task.params['login_password'] == 's3cr3t pass'
    assert task.params['binlog_source']['login_password'] == 's3cr3t pass'
    module.params['login_password_file'] = str(tmp_path / 'missing')
    with pytest.raises(Exception, match='login_password_file .*missing cannot be read'):
        restore.RestoreTask(module)._inputs()


# -- Choosing the backup ---------------------------------------------------------------------------------------

def test_latest_is_the_newest_verified_of_the_method():
    assert restore.select_backup(BACKUPS, 'latest', 'logical')['id'] == 'testlog-20261201T130000Z-logical'
    assert restore.select_backup(BACKUPS, 'latest', 'physical')['id'] == 'testlog-20261201T100000Z-physical'
    with pytest.raises(RestoreError, match='no verified logical backup'):
        restore.select_backup([BACKUPS[0]], 'latest', 'logical')


def test_point_in_time_picks_the_newest_backup_finished_before_it():
    # 13:00:00 finished at 13:00:30: not before 13:00:20, so the 12:00 one.
    chosen = restore.select_backup(BACKUPS, 'latest', 'logical', until_time=at('2026-12-01 13:00:20'))
    assert chosen['id'] == 'testlog-20261201T120000Z-logical'
    chosen = restore.select_backup(BACKUPS, 'latest', 'logical', until_time=at('2026-12-01 13:00:30'))
    assert chosen['id'] == 'testlog-20261201T130000Z-logical'
    # The 11:00 backup has no position: never a start for a replay.
    with pytest.raises(RestoreError, match='no verified logical backup with a GTID position taken before until_time'):
        restore.select_backup(BACKUPS, 'latest', 'logical', until_time=at('2026-12-01 11:30:00'))


def test_point_in_time_by_gtid():
    assert restore.select_backup(BACKUPS, 'latest', 'logical', until_gtid='0-1-150')['id'] == 'testlog-20261201T120000Z-logical'
    assert restore.select_backup(BACKUPS, 'latest', 'logical', until_gtid='0-1-200')['id'] == 'testlog-20261201T130000Z-logical'
    with pytest.raises(RestoreError, match='until_gtid 0-1-99'):
        restore.select_backup(BACKUPS, 'latest', 'logical', until_gtid='0-1-99')


def test_named_backup_checks():
    assert restore.select_backup(BACKUPS, 'testlog-20261201T140000Z-logical', 'logical')['status'] == store.UNVERIFIED
    with pytest.raises(RestoreError, match='does not exist'):
        restore.select_backup(BACKUPS, 'testlog-20261101T000000Z-logical', 'logical')
    with pytest.raises(RestoreError, match='is a physical backup, but this restore needs a logical one'):
        restore.select_backup(BACKUPS, 'testlog-20261201T100000Z-physical', 'logical')
    with pytest.raises(RestoreError, match='not from before until_gtid 0-1-150'):
        restore.select_backup(BACKUPS, 'testlog-20261201T130000Z-logical', 'logical', until_gtid='0-1-150')
    with pytest.raises(RestoreError, match='no recorded GTID position'):
        restore.select_backup(BACKUPS, 'testlog-20261201T110000Z-logical', 'logical', until_gtid='0-1-150')
    corrupt = [backup('20261201T150000Z', status=store.CORRUPT), backup('20261201T160000Z', status=store.INCOMPLETE)]
    with pytest.raises(RestoreError, match='marked corrupt'):
        restore.select_backup(corrupt, 'testlog-20261201T150000Z-logical', 'logical')
    with pytest.raises(RestoreError, match='incomplete'):
        restore.select_backup(corrupt, 'testlog-20261201T160000Z-logical', 'logical')


def test_backup_given_as_a_path(tmp_path):
    directory = str(tmp_path / 'testlog')
    params = dict(backup=directory + '/testlog-20261201T130000Z-logical.sql.zst', backup_dir=str(tmp_path))
    assert restore.resolve_location(params) == (directory, 'testlog-20261201T130000Z-logical')
    params['backup'] = directory + '/testlog-20261201T130000Z-logical.json'
    assert restore.resolve_location(params) == (directory, 'testlog-20261201T130000Z-logical')
    params['backup'] = directory + '/notes.txt'
    with pytest.raises(RestoreError, match='neither a backup id nor the path'):
        restore.resolve_location(params)
    params = dict(backup='latest', backup_dir=str(tmp_path), container='testlog-mysql', instance=None)
    assert restore.resolve_location(params) == (os.path.join(str(tmp_path), 'testlog-mysql'), 'latest')
    assert not os.path.exists(os.path.join(str(tmp_path), 'testlog-mysql')), 'a restore creates no directory'


# -- The target ------------------------------------------------------------------------------------------------

def test_plan_of_the_databases():
    one = dict(id='b1', databases=['testlog'])
    assert restore.plan_databases(dict(target='instance'), one) == dict(
        databases=['testlog'], source='testlog', into='testlog', rename=False)
    assert restore.plan_databases(dict(target='database', database='copy'), one) == dict(
        databases=['copy'], source='testlog', into='copy', rename=True)
    assert restore.plan_databases(dict(target='database'), one)['rename'] is False
    everything = dict(id='b2', databases=None)
    assert restore.plan_databases(dict(target='instance'), everything) == dict(
        databases=None, source=None, into=None, rename=False)
    with pytest.raises(RestoreError, match='target: database restores a one-database backup, but backup b2 holds every'):
        restore.plan_databases(dict(target='database', database='x'), everything)
    with pytest.raises(RestoreError, match='the databases a, b'):
        restore.plan_databases(dict(target='database'), dict(id='b3', databases=['a', 'b']))
    with pytest.raises(RestoreError, match='only for target: database'):
        restore.plan_databases(dict(target='instance', database='other'), one)
    with pytest.raises(RestoreError, match='system schema'):
        restore.plan_databases(dict(target='database', database='mysql'), one)
    with pytest.raises(Exception, match='identifier'):
        restore.plan_databases(dict(target='database', database='x' * 65), one)


def test_statements_before_the_import():
    plan = dict(databases=['copy'], source='testlog', into='copy', rename=True)
    assert restore.prepare_statements(plan, ['copy'], True) == [
        ('SET SESSION sql_log_bin = 0', ()), ('DROP DATABASE `copy`', ()), ('CREATE DATABASE `copy`', ())]
    # Under its own name, the stream creates the database itself (with its character set).
    plan = dict(databases=['testlog'], source='testlog', into='testlog', rename=False)
    assert restore.prepare_statements(plan, ['testlog'], True) == [
        ('SET SESSION sql_log_bin = 0', ()), ('DROP DATABASE `testlog`', ())]
    plan = dict(databases=None, source=None, into=None, rename=False)
    assert restore.prepare_statements(plan, ['a%b', 'c`d'], False) == [
        ('DROP DATABASE `a%%b`', ()), ('DROP DATABASE `c``d`', ())]
    sql, params = restore.user_tables_query(None)
    assert 'NOT IN' in sql and 'mysql' in params
    sql, params = restore.user_tables_query(['copy'])
    assert 'IN (%s)' in sql and params == ('copy',)


def test_non_empty_message_names_the_tables():
    message = restore.non_empty_message(dict(databases=None), [('other', 1), ('testlog', 3)], 'backup b')
    assert message == ('the target is not empty: the server holds tables in other (1 table), testlog (3 tables); set force:'
                       ' true to drop these databases and restore backup b')
    message = restore.non_empty_message(dict(databases=['copy']), [('copy', 2)], 'backup b')
    assert 'the target database holds tables: copy (2 tables)' in message and 'this database' in message


# -- Scripts ---------------------------------------------------------------------------------------------------

def test_restore_script_whole_server():
    script = restore.restore_script('/tmp/d', 'zstd')
    assert 'zstd -dc 2>/tmp/d/out/decompress.err | mariadb --defaults-extra-file=/tmp/d/target.cnf --binary-mode' \
        ' 2>/tmp/d/out/import.err' in script
    assert 'sed' not in script and '--database' not in script
    assert 'echo "${PIPESTATUS[*]}" > /tmp/d/out/status' in script
    assert restore.restore_stages() == ['decompress', 'import']


def test_restore_script_one_database_under_another_name():
    script = restore.restore_script('/tmp/d', 'gzip', into='it`s copy', filter_use=True)
    assert script.count('gzip -dc') == 1
    assert "sed -e '/^CREATE DATABASE /d' -e '/^USE `/d'" in script
    assert "'--database=it`s copy'" in script
    assert restore.restore_stages('x', True) == ['decompress', 'filter', 'import']


def test_no_secret_in_scripts_only_in_option_files():
    login = dict(login_user='root', login_password="pa'ss\"word", login_unix_socket='/run/mysqld/mysqld.sock')
    content = restore.target_option_file(login, 'mariadb', log_bin=True)
    assert 'password="pa\'ss\\"word"' in content
    assert content.endswith('[mysql]\ninit-command="SET SESSION sql_log_bin = 0"\n')
    assert '[mysql]' not in restore.target_option_file(login, 'mariadb', log_bin=False)
    command = restore.replay_command('/tmp/d', '0-1-7', 'mysql-bin.000003', until_time=at('2026-12-01 13:05:00'))
    for text in (restore.restore_script('/tmp/d', 'zstd'), restore.replay_script('/tmp/d', command),
                 restore.physical_script('/tmp/d', 'zstd')):
        assert 'pa' + "'ss" not in text and 'password' not in text


def test_replay_command():
    command = restore.replay_command('/tmp/d', '0-1-7', 'mysql-bin.000003', until_time=at('2026-12-01 13:05:00'))
    assert command == ['mariadb-binlog', '--defaults-extra-file=/tmp/d/source.cnf', '--read-from-remote-server',
                       '--to-last-log', '--start-position=0-1-7', '--stop-datetime=2026-12-01 13:05:00', 'mysql-bin.000003']
    command = restore.replay_command('/tmp/d', '0-1-7', 'mysql-bin.000003', until_gtid='0-1-9', source_db='testlog',
                                     into='copy')
    assert command[4:] == ['--start-position=0-1-7', '--stop-position=0-1-9', '--database=testlog',
                           '--rewrite-db=testlog->copy', 'mysql-bin.000003']
    command = restore.replay_command('/tmp/d', '0-1-7', 'f', until_gtid='0-1-9', source_db='testlog', into='testlog')
    assert '--database=testlog' in command and not any(arg.startswith('--rewrite-db') for arg in command)
    script = restore.replay_script('/tmp/d', command)
    assert script.startswith('set -u -o pipefail\n')
    assert 'TZ=UTC mariadb-binlog' in script
    assert '| mariadb --defaults-extra-file=/tmp/d/target.cnf --binary-mode 2>/tmp/d/out/replay.err' in script


def test_physical_script_prepares_only_after_a_good_unpack():
    script = restore.physical_script('/tmp/d', 'zstd')
    assert 'zstd -dc 2>/tmp/d/out/decompress.err | mbstream -x -C /var/lib/mysql' in script
    unpack, prepare, chown = (script.index(text) for text in ('mbstream', 'mariadb-backup --prepare', 'chown -R mysql:mysql'))
    assert unpack < prepare < chown
    assert 'if [ "$(cat /tmp/d/out/status)" = "0 0" ]' in script


# -- Failures --------------------------------------------------------------------------------------------------

STAGES = [('decompress', 'decompress.err'), ('import', 'import.err')]


def test_pipeline_failure_names_the_stage_and_its_last_error_line():
    assert restore.pipeline_failure({'status': '0 0\n'}, STAGES, 'the restore') is None
    results = {'status': '141 1\n', 'import.err': "mariadb: unknown variable 'loose-connect-timeout=30'\n"
               'ERROR 1050 (42S01) at line 25: Table \'hits\' already exists\n'}
    assert restore.pipeline_failure(results, STAGES, 'the restore') == (
        "the restore: the import stage failed (exit 1): ERROR 1050 (42S01) at line 25: Table 'hits' already exists")
    results = {'status': '1 0', 'decompress.err': 'zstd: /*stdin*\\: unknown header\n'}
    assert 'the decompress stage failed (exit 1): zstd' in restore.pipeline_failure(results, STAGES, 'the restore')
    assert 'did not finish' in restore.pipeline_failure({}, STAGES, 'the restore')
    assert 'took longer than timeout' in restore.pipeline_failure({'status': '124 141'}, STAGES, 'the restore')


def test_seconds_of():
    assert restore.seconds_of({'seconds': '100.25 103.5\n'}) == 3.25
    assert restore.seconds_of({}) is None


# -- Binary logs -----------------------------------------------------------------------------------------------

FILES = [('mysql-bin.000001', ''), ('mysql-bin.000002', '0-1-100'), ('mysql-bin.000003', '0-1-250')]


def test_start_file_is_the_newest_that_starts_before_the_position():
    assert restore.start_file(FILES, '0-1-99') == 'mysql-bin.000001'
    assert restore.start_file(FILES, '0-1-100') == 'mysql-bin.000002'
    assert restore.start_file(FILES, '0-1-300') == 'mysql-bin.000003'


def test_check_binlogs():
    facts = dict(log_bin=True, files=FILES, gtid_binlog_pos='0-1-300')
    expected = ('mysql-bin.000002', ['mysql-bin.000002', 'mysql-bin.000003'])
    assert restore.check_binlogs(facts, '0-1-120', '0-1-260', 'src') == expected
    with pytest.raises(RestoreError, match='has not written until_gtid 0-1-301'):
        restore.check_binlogs(facts, '0-1-120', '0-1-301', 'src')
    purged = dict(facts, files=FILES[1:])
    with pytest.raises(RestoreError, match='purged binary logs the replay needs .domain 0: the backup is at 0-1-50'):
        restore.check_binlogs(purged, '0-1-50', None, 'src')
    with pytest.raises(RestoreError, match='no binary log .log_bin is off'):
        restore.check_binlogs(dict(facts, log_bin=False), '0-1-50', None, 'src')


def test_file_chunks_count_what_was_sent(tmp_path):
    path = tmp_path / 'data'
    path.write_bytes(b'x' * 2500)
    chunks = restore.FileChunks(str(path), chunk=1000)
    assert [len(block) for block in chunks] == [1000, 1000, 500]
    assert chunks.sent == 2500


def test_argument_spec_is_fresh_and_secrets_are_no_log():
    spec = restore.restore_argument_spec()
    assert spec['login_password']['no_log'] is True
    assert spec['binlog_source']['options']['login_password']['no_log'] is True
    spec['backup']['default'] = 'changed'
    assert restore.restore_argument_spec()['backup']['default'] == 'latest'


# -- The whole task, with a fake server and the local runner -------------------------------------------------------

ROOT_PW = "r00t'pw\\x"


class Exit(Exception):
    def __init__(self, result, failed):
        super().__init__(result.get('msg'))
        self.result = result
        self.failed = failed


class FakeModule:
    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)

    def fail_json(self, **result):
        raise Exit(result, True)

    def exit_json(self, **result):
        raise Exit(result, False)


class FakeCursor:
    def __init__(self, server):
        self.server = server
        self.rows = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=()):
        self.server.log.append(sql % tuple(args))
        self.rows = self.server.answer(sql, args)
        return len(self.rows)

    def fetchall(self):
        return self.rows


class FakeServer:
    """Just enough of a MariaDB 10.11 target with a binary log."""

    def __init__(self, tables=None):
        self.tables = dict(tables or {})
        self.log = []
        self.closed = 0

    def cursor(self, *args):
        return FakeCursor(self)

    def close(self):
        self.closed += 1

    def answer(self, sql, args):
        if sql.startswith('SELECT VERSION()'):
            return [dict(version='10.11.6-MariaDB-0+deb12u1-log', version_comment='Debian 12')]
        if sql.startswith('SELECT @@GLOBAL.log_bin AS v'):
            return [dict(v=1)]
        if 'FROM information_schema.TABLES' in sql:
            wanted = set(args) if ' IN (' in sql and 'NOT IN' not in sql else None
            return [dict(db=db, n=n) for db, n in sorted(self.tables.items()) if wanted is None or db in wanted]
        if 'FROM information_schema.SCHEMATA' in sql:
            wanted = set(args) if 'NOT IN' not in sql else None
            return [dict(db=db) for db in sorted(self.tables) if wanted is None or db in wanted]
        if sql.startswith('DROP DATABASE'):
            self.tables.pop(sql.split('`')[1], None)
        if sql.startswith('SELECT @@GLOBAL.log_bin AS log_bin'):
            return [dict(log_bin=1, pos='0-1-60')]
        if sql.startswith('SHOW BINARY LOGS'):
            return [dict(Log_name='mysql-bin.000001'), dict(Log_name='mysql-bin.000002'), dict(Log_name='mysql-bin.000003')]
        if sql.startswith('SELECT BINLOG_GTID_POS'):
            return [dict(pos={'mysql-bin.000001': '', 'mysql-bin.000002': '0-1-40', 'mysql-bin.000003': '0-1-50'}[args[0]])]
        return []


def _tools(tmp_path, import_status=0):
    """``zstd`` and ``mariadb`` on PATH: ``zstd -dc`` is ``gzip -dc``; ``mariadb`` keeps what it reads and its arguments."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'zstd').write_text('#!/bin/sh\nexec gzip "$@"\n')
    (bin_dir / 'mariadb').write_text('#!/bin/sh\necho "$@" > "%s/args"\ncat "${1#--defaults-extra-file=}" > "%s/cnf"\n'
                                     'cat > "%s/imported.sql"\n[ %d = 0 ] || echo "ERROR 1064 (42000) at line 3: bad" >&2\n'
                                     'exit %d\n' % (tmp_path, tmp_path, tmp_path, import_status, import_status))
    for tool in ('zstd', 'mariadb'):
        os.chmod(str(bin_dir / tool), 0o755)
    return str(bin_dir)


def _backup_dir(tmp_path, databases=None, content=b'CREATE TABLE hits (id INT);\nINSERT INTO hits VALUES (1);\n'):
    import gzip
    import hashlib
    directory = tmp_path / 'backups' / 'testlog-mysql'
    directory.mkdir(parents=True)
    backup_id = 'testlog-mysql-20261201T130501Z-logical'
    data = gzip.compress(content)
    (directory / (backup_id + '.sql.zst')).write_bytes(data)
    manifest = dict(format=1, id=backup_id, instance='testlog-mysql', file=backup_id + '.sql.zst', method='logical',
                    compression='zstd', size=len(data), sha256=hashlib.sha256(data).hexdigest(), databases=databases,
                    position=dict(gtid='0-1-42', binlog_file=None, binlog_pos=None), started='2026-12-01T13:05:01Z',
                    finished='2026-12-01T13:05:03Z', verified='checksum', verified_at='2026-12-01T13:05:04Z',
                    status='complete')
    store.write_manifest(str(directory), manifest)
    return str(tmp_path / 'backups'), directory, backup_id


def _params(backup_dir, **overrides):
    result = dict(
        login_host='127.0.0.1', login_port=3306, login_user='root', login_password=ROOT_PW, login_unix_socket=None,
        ca_cert=None, client_cert=None, client_key=None, check_hostname=True, connect_timeout=30, login_password_file=None,
        container=None, container_socket='/run/mysqld/mysqld.sock', docker_host='unix:///var/run/docker.sock',
        backup_dir=backup_dir, instance='testlog-mysql', lock_timeout=5, backup='latest', target='instance',
        database=None, force=False, until_time=None, until_gtid=None, binlog_source=None, data_volume=None, timeout=60)
    result.update(overrides)
    return result


def _run(monkeypatch, server, params, check_mode=False):
    monkeypatch.setattr(restore, 'connect', lambda *args, **kwargs: server)
    module = FakeModule(params, check_mode=check_mode, diff=True)
    with pytest.raises(Exit) as info:
        restore.RestoreTask(module).run()
    return info.value


def test_a_one_database_backup_lands_under_another_name(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', _tools(tmp_path) + os.pathsep + os.environ['PATH'])
    backup_dir, _directory, backup_id = _backup_dir(tmp_path, databases=['testlog'],
                                                    content=b'CREATE DATABASE `testlog`;\nUSE `testlog`;\nSELECT 1;\n')
    server = FakeServer(tables={'testlog': 3})
    outcome = _run(monkeypatch, server, _params(backup_dir, target='database', database='copy'))
    assert not outcome.failed, outcome.result
    assert outcome.result['changed'] and outcome.result['target_empty']
    assert outcome.result['restored']['id'] == backup_id and outcome.result['restored']['target'] == 'copy'
    assert (tmp_path / 'imported.sql').read_text() == 'SELECT 1;\n'
    assert '--database=copy' in (tmp_path / 'args').read_text()
    cnf = (tmp_path / 'cnf').read_text()
    assert 'init-command="SET SESSION sql_log_bin = 0"' in cnf and 'password=' in cnf
    assert server.log[-2:] == ['SET SESSION sql_log_bin = 0', 'CREATE DATABASE `copy`']
    assert ROOT_PW not in repr(outcome.result)


def test_a_target_with_tables_is_refused_unless_force(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', _tools(tmp_path) + os.pathsep + os.environ['PATH'])
    backup_dir, _directory, _backup_id = _backup_dir(tmp_path)
    server = FakeServer(tables={'testlog': 3, 'other': 1})
    outcome = _run(monkeypatch, server, _params(backup_dir))
    assert outcome.failed and outcome.result['target_empty'] is False
    assert outcome.result['msg'].startswith('the target is not empty: the server holds tables in other (1 table), testlog')
    assert not any(line.startswith('DROP') for line in server.log)
    outcome = _run(monkeypatch, server, _params(backup_dir, force=True), check_mode=True)
    assert not outcome.failed and outcome.result['changed']
    assert outcome.result['would_restore']['drop'] == ['other', 'testlog']
    assert outcome.result['diff']['before']['tables'] == {'other': 1, 'testlog': 3}
    assert not any(line.startswith('DROP') for line in server.log) and not (tmp_path / 'imported.sql').exists()
    outcome = _run(monkeypatch, server, _params(backup_dir, force=True))
    assert not outcome.failed, outcome.result
    assert outcome.result['restored']['dropped'] == ['other', 'testlog']
    assert 'DROP DATABASE `testlog`' in server.log
    assert (tmp_path / 'imported.sql').read_bytes().startswith(b'CREATE TABLE hits')


def test_a_flipped_byte_refuses_the_restore_and_marks_the_backup(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', _tools(tmp_path) + os.pathsep + os.environ['PATH'])
    backup_dir, directory, backup_id = _backup_dir(tmp_path)
    path = directory / (backup_id + '.sql.zst')
    data = bytearray(path.read_bytes())
    data[12] ^= 1
    path.write_bytes(bytes(data))
    server = FakeServer()
    outcome = _run(monkeypatch, server, _params(backup_dir, backup=backup_id), check_mode=True)
    assert outcome.failed and outcome.result['msg'].startswith('refusing to restore: the sha256 of ')
    assert store.read_manifest(str(directory / (backup_id + '.json')))['status'] == 'complete', 'check mode marks nothing'
    outcome = _run(monkeypatch, server, _params(backup_dir, backup=backup_id))
    assert outcome.failed and outcome.result['msg'].endswith('its manifest now says corrupt')
    assert '\n' not in outcome.result['msg']
    assert server.log == [] and not (tmp_path / 'imported.sql').exists()
    assert store.read_manifest(str(directory / (backup_id + '.json')))['status'] == 'corrupt'


def test_a_failing_import_names_the_stage(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', _tools(tmp_path, import_status=1) + os.pathsep + os.environ['PATH'])
    backup_dir, _directory, backup_id = _backup_dir(tmp_path)
    outcome = _run(monkeypatch, FakeServer(), _params(backup_dir))
    assert outcome.failed
    assert outcome.result['msg'] == ('the restore of backup %s: the import stage failed (exit 1): ERROR 1064 (42000) at line'
                                     ' 3: bad; the target holds a partial restore: fix the cause and run again with force:'
                                     ' true' % backup_id)


def test_point_in_time_replays_the_binary_logs_from_the_backup_position(tmp_path, monkeypatch):
    bin_dir = _tools(tmp_path)
    binlog = os.path.join(bin_dir, 'mariadb-binlog')
    with open(binlog, 'w') as handle:
        handle.write('#!/bin/sh\necho "$@" > "%s/binlog-args"\necho "TZ=$TZ" >> "%s/binlog-args"\n'
                     'printf "#261201 13:05:00 server id 1 GTID 0-1-43 trans\\nINSERT 43;\\n'
                     '#261201 13:05:01 server id 1 GTID 0-1-44 trans\\nINSERT 44;\\n"\n' % (tmp_path, tmp_path))
    os.chmod(binlog, 0o755)
    monkeypatch.setenv('PATH', bin_dir + os.pathsep + os.environ['PATH'])
    backup_dir, _directory, backup_id = _backup_dir(tmp_path, databases=['testlog'])
    server = FakeServer()
    outcome = _run(monkeypatch, server, _params(backup_dir, target='database', database='copy',
                                                until_time='2026-12-01 13:05:10'))
    assert not outcome.failed, outcome.result
    replayed = outcome.result['replayed']
    assert replayed['start_file'] == 'mysql-bin.000002' and replayed['files'] == ['mysql-bin.000002', 'mysql-bin.000003']
    assert replayed['from_gtid'] == '0-1-42' and replayed['last_gtid'] == '0-1-44'
    args = (tmp_path / 'binlog-args').read_text().split('\n')
    assert args[0].endswith('--read-from-remote-server --to-last-log --start-position=0-1-42'
                            ' --stop-datetime=2026-12-01 13:05:10 --database=testlog --rewrite-db=testlog->copy'
                            ' mysql-bin.000002')
    assert args[1] == 'TZ=UTC'
    # The replay went into mariadb after the import (the fake keeps the last stream).
    assert (tmp_path / 'imported.sql').read_text().endswith('INSERT 44;\n')
    assert outcome.result['restored']['id'] == backup_id
    # A point before the backup finished is refused before anything changes.
    server = FakeServer()
    outcome = _run(monkeypatch, server, _params(backup_dir, target='database', database='copy',
                                                until_time='2026-12-01 13:05:02'))
    assert outcome.failed and 'no verified logical backup with a GTID position taken before until_time' in outcome.result['msg']
    assert server.log == []


def test_a_one_database_backup_under_its_own_name_keeps_its_stream(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', _tools(tmp_path) + os.pathsep + os.environ['PATH'])
    stream = b'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `testlog` /*!40100 DEFAULT CHARACTER SET latin1 */;\nUSE `testlog`;\n'
    backup_dir, _directory, _backup_id = _backup_dir(tmp_path, databases=['testlog'], content=stream)
    server = FakeServer(tables={'testlog': 3})
    outcome = _run(monkeypatch, server, _params(backup_dir, force=True))
    assert not outcome.failed, outcome.result
    assert (tmp_path / 'imported.sql').read_bytes() == stream
    assert '--database' not in (tmp_path / 'args').read_text()
    assert server.log[-2:] == ['SET SESSION sql_log_bin = 0', 'DROP DATABASE `testlog`']
