# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of mysql_replication and mysql_replication_info: plan, checks of the primary, seed pipeline, waiting, info.

The servers are fakes that answer the statements the modules send, as MariaDB 10.11 and MySQL 8.4 answer
them (column names and values taken from real servers and from the reference manuals).
"""

from __future__ import annotations

import os
import stat
import tarfile
import io

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _mysql
from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_replication as repl
from ansible_collections.hna.cloudos.plugins.module_utils._mysql import MySQLError

ROOT_PW = "r00t'pw\\x"
REPL_PW = 'repl-Secret-42'


def mariadb():
    return _mysql.select_dialect('10.11.6-MariaDB-0+deb12u1-log', 'Debian 12')


def mysql(version='8.4.3'):
    return _mysql.select_dialect(version, 'MySQL Community Server - GPL')


def params(**overrides):
    result = dict(
        login_host='127.0.0.1', login_port=3306, login_user='root', login_password=ROOT_PW, login_unix_socket=None,
        ca_cert=None, client_cert=None, client_key=None, check_hostname=True, connect_timeout=30,
        state='running', primary_host='10.231.0.11', primary_port=3306, primary_user='repl', primary_password=REPL_PW,
        primary_admin_user=None, primary_admin_password=None, primary_connect_retry=None, primary_ssl=None,
        primary_ssl_ca=None, primary_ssl_cert=None, primary_ssl_key=None, primary_ssl_verify_server_cert=None,
        primary_get_public_key=None, seed='auto', reseed=False, seed_container='mysql',
        seed_socket='/run/mysqld/mysqld.sock', seed_timeout=3600, docker_host='unix:///var/run/docker.sock',
        read_only=True, max_lag=5.0, wait_timeout=300,
    )
    result.update(overrides)
    return result


def mariadb_status(**overrides):
    row = {
        'Slave_IO_State': 'Waiting for master to send event', 'Master_Host': '10.231.0.11', 'Master_User': 'repl',
        'Master_Port': 3306, 'Connect_Retry': 60, 'Slave_IO_Running': 'Yes', 'Slave_SQL_Running': 'Yes',
        'Master_SSL_Allowed': 'No', 'Master_SSL_CA_File': '', 'Master_SSL_Cert': '', 'Master_SSL_Key': '',
        'Seconds_Behind_Master': 0, 'Master_SSL_Verify_Server_Cert': 'No', 'Last_IO_Errno': 0, 'Last_IO_Error': '',
        'Last_SQL_Errno': 0, 'Last_SQL_Error': '', 'Using_Gtid': 'Slave_Pos', 'Gtid_IO_Pos': '0-1-100',
        'Gtid_Slave_Pos': '0-1-100',
    }
    row.update(overrides)
    return row


def replica_facts(status=None, gtid=None, read_only=True, user_tables=0, user_schemas=(), dialect=None):
    dialect = dialect or mariadb()
    if gtid is None:
        gtid = (dict(gtid_slave_pos='', gtid_binlog_pos='', gtid_current_pos='', gtid_binlog_state='')
                if dialect.is_mariadb else dict(gtid_executed='', gtid_purged=''))
    return dict(status=_mysql.normalize_replica_status(status), gtid=gtid, read_only=read_only, log_bin='1',
                server_id=2, user_tables=user_tables, user_schemas=list(user_schemas))


def kinds(plan):
    return [statement[0] if kind == 'sql' else kind for kind, statement in plan['steps']]


# -- Plan ----------------------------------------------------------------------------------------------------

def test_empty_mariadb_replica_is_seeded_then_started_from_the_snapshot_position():
    plan = repl.plan_replica(params(), mariadb(), replica_facts(read_only=False))
    assert plan['seed'] and plan['reason'] == 'empty'
    queries = repl.plan_queries(mariadb(), plan['steps'])
    assert queries == [
        'SET SESSION sql_log_bin = 0',
        'RESET MASTER',
        'FLUSH NO_WRITE_TO_BINLOG PRIVILEGES',
        "SET GLOBAL gtid_slave_pos = '<GTID position of the snapshot>'",
        "CHANGE MASTER TO MASTER_HOST = '10.231.0.11', MASTER_PORT = 3306, MASTER_USER = 'repl',"
        " MASTER_PASSWORD = '********', MASTER_USE_GTID = slave_pos",
        'START REPLICA',
        'SET GLOBAL read_only = ON',
    ]
    assert kinds(plan).index('seed') == 2
    assert REPL_PW not in repr(plan['before']) + repr(plan['after'])
    assert plan['before'] == dict(state='absent', settings={}, read_only=False)
    assert plan['after'] == dict(state='running', settings=dict(host='10.231.0.11', port=3306, user='repl'),
                                 read_only=True, seeded=True)


def test_empty_mysql_84_replica_uses_the_mysql_statements():
    dialect = mysql('8.4.3')
    plan = repl.plan_replica(params(), dialect, replica_facts(dialect=dialect))
    queries = repl.plan_queries(dialect, plan['steps'], '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5')
    assert queries == [
        'SET SESSION sql_log_bin = 0',
        'RESET BINARY LOGS AND GTIDS',
        'FLUSH NO_WRITE_TO_BINLOG PRIVILEGES',
        'RESET BINARY LOGS AND GTIDS',
        "SET GLOBAL gtid_purged = '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5'",
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST = '10.231.0.11', SOURCE_PORT = 3306, SOURCE_USER = 'repl',"
        " SOURCE_PASSWORD = '********', SOURCE_AUTO_POSITION = 1",
        'START REPLICA',
    ]


def test_mysql_80_resets_with_reset_master():
    dialect = mysql('8.0.36')
    assert dialect.reset_binary_logs() == ('RESET MASTER', ())
    assert dialect.show_replica_hosts() == ('SHOW REPLICAS', ())
    assert mariadb().show_replica_hosts() == ('SHOW REPLICA HOSTS', ())


def test_replica_in_the_wanted_state_needs_nothing():
    facts = replica_facts(mariadb_status(), dict(gtid_slave_pos='0-1-100', gtid_binlog_pos='0-1-100',
                                                 gtid_current_pos='0-1-100', gtid_binlog_state='0-1-100'), user_tables=3)
    plan = repl.plan_replica(params(), mariadb(), facts)
    assert plan['steps'] == [] and not plan['seed']
    assert plan['before'] == plan['after']


def test_a_changed_port_stops_changes_and_starts_again():
    facts = replica_facts(mariadb_status(), user_tables=3)
    plan = repl.plan_replica(params(primary_port=3307), mariadb(), facts)
    queries = repl.plan_queries(mariadb(), plan['steps'])
    assert queries[0] == 'STOP REPLICA' and queries[-1] == 'START REPLICA'
    assert 'MASTER_PORT = 3307' in queries[1] and "MASTER_PASSWORD = '********'" in queries[1]
    assert plan['before']['settings']['port'] == 3306 and plan['after']['settings']['port'] == 3307


def test_password_is_sent_again_when_the_primary_refuses_the_stored_one():
    facts = replica_facts(mariadb_status(Slave_IO_Running='Connecting', Last_IO_Errno=1045,
                                         Last_IO_Error="Access denied for user 'repl'@'10.231.0.12'"), user_tables=3)
    plan = repl.plan_replica(params(), mariadb(), facts)
    assert [q.split(' ')[0] for q in repl.plan_queries(mariadb(), plan['steps'])] == ['STOP', 'CHANGE', 'START']
    assert 'password' in plan['after'] and REPL_PW not in repr(plan['after'])


def test_stopped_threads_are_started_and_running_ones_stopped():
    stopped = replica_facts(mariadb_status(Slave_IO_Running='No', Slave_SQL_Running='No'), user_tables=1)
    assert repl.plan_queries(mariadb(), repl.plan_replica(params(), mariadb(), stopped)['steps']) == ['START REPLICA']
    assert repl.plan_replica(params(state='stopped'), mariadb(), stopped)['steps'] == []
    running = replica_facts(mariadb_status(), user_tables=1)
    assert repl.plan_queries(mariadb(), repl.plan_replica(params(state='stopped'), mariadb(), running)['steps']) == [
        'STOP REPLICA']


def test_absent_removes_replication_once():
    running = replica_facts(mariadb_status(), user_tables=1)
    plan = repl.plan_replica(params(state='absent', primary_host=None), mariadb(), running)
    assert repl.plan_queries(mariadb(), plan['steps']) == ['STOP REPLICA', 'RESET REPLICA ALL']
    assert plan['after']['state'] == 'absent' and plan['after']['settings'] == {}
    gone = replica_facts(None, user_tables=1)
    assert repl.plan_replica(params(state='absent'), mariadb(), gone)['steps'] == []
    mysql_plan = repl.plan_replica(params(state='absent'), mysql(), replica_facts(mariadb_status(), dialect=mysql()))
    assert repl.plan_queries(mysql(), mysql_plan['steps']) == ['STOP REPLICA', 'RESET REPLICA ALL']


def test_read_only_false_never_turns_it_off_and_true_turns_it_on():
    facts = replica_facts(mariadb_status(), read_only=False, user_tables=1)
    assert repl.plan_queries(mariadb(), repl.plan_replica(params(), mariadb(), facts)['steps']) == [
        'SET GLOBAL read_only = ON']
    assert repl.plan_replica(params(read_only=False), mariadb(), facts)['steps'] == []


def test_reseed_drops_the_user_schemas_with_quoted_names():
    facts = replica_facts(mariadb_status(), user_tables=4, user_schemas=['shop', 'we`ird%name'])
    plan = repl.plan_replica(params(reseed=True), mariadb(), facts)
    queries = repl.plan_queries(mariadb(), plan['steps'])
    assert queries[:6] == ['STOP REPLICA', 'RESET REPLICA ALL', 'SET SESSION sql_log_bin = 0', 'DROP DATABASE `shop`',
                           'DROP DATABASE `we``ird%name`', 'RESET MASTER']
    assert plan['reason'] == 'reseed'


def test_seed_never_or_a_replica_with_tables_or_a_past_is_not_seeded():
    assert not repl.plan_replica(params(seed='never'), mariadb(), replica_facts())['seed']
    assert not repl.plan_replica(params(), mariadb(), replica_facts(user_tables=1))['seed']
    replicated = replica_facts(gtid=dict(gtid_slave_pos='0-1-5', gtid_binlog_pos='', gtid_current_pos='0-1-5',
                                         gtid_binlog_state=''))
    assert not repl.plan_replica(params(), mariadb(), replicated)['seed']
    # Empty schemas (made by a server role for an application) do not prevent the seed.
    assert repl.plan_replica(params(), mariadb(), replica_facts(user_schemas=['app']))['seed']


def test_invalid_settings_are_refused_before_anything():
    with pytest.raises(MySQLError, match='replication password is invalid'):
        repl.plan_replica(params(primary_password='x' * 33), mariadb(), replica_facts())
    with pytest.raises(MySQLError, match='get_public_key is a MySQL setting'):
        repl.plan_replica(params(primary_get_public_key=True), mariadb(), replica_facts())


# -- Checks of the primary -----------------------------------------------------------------------------------

def test_gtid_problem_names_purged_logs_and_the_fix():
    facts = replica_facts(mariadb_status(), dict(gtid_slave_pos='0-1-90', gtid_binlog_pos='0-1-90',
                                                 gtid_current_pos='0-1-90', gtid_binlog_state='0-1-90'))
    primary = dict(oldest_binlog_pos='0-1-95', gtid_binlog_pos='0-1-120', gtid_binlog_state='0-1-120')
    line = repl.gtid_problem(mariadb(), facts, primary, '10.231.0.11:3306')
    assert 'purged' in line and 'reseed: true' in line and '0-1-90' in line and '\n' not in line
    primary['oldest_binlog_pos'] = '0-1-90'
    assert repl.gtid_problem(mariadb(), facts, primary, '10.231.0.11:3306') is None


def test_gtid_problem_finds_a_local_write_even_when_the_primary_moved_past_it():
    facts = replica_facts(mariadb_status(), dict(gtid_slave_pos='0-1-90', gtid_binlog_pos='0-2-91',
                                                 gtid_current_pos='0-2-91', gtid_binlog_state='0-1-90,0-2-91'))
    primary = dict(oldest_binlog_pos='', gtid_binlog_pos='0-1-200', gtid_binlog_state='0-1-200')
    line = repl.gtid_problem(mariadb(), facts, primary, '10.231.0.11:3306')
    assert 'errant GTIDs 0-2-91' in line and 'reseed: true' in line


def test_gtid_problem_mysql_uses_the_sets_computed_on_the_primary():
    facts = replica_facts(dialect=mysql())
    assert 'purged' in repl.gtid_problem(mysql(), facts, dict(missing_for_replica='uuid:1-5'), 'p:3306')
    assert 'errant GTIDs u2:1-3' in repl.gtid_problem(mysql(), facts, dict(missing_for_replica=''), 'p:3306', 'u2:1-3')
    assert repl.gtid_problem(mysql(), facts, dict(missing_for_replica=''), 'p:3306', '') is None


def test_replication_privilege_from_show_grants():
    assert _mysql.has_replication_privilege(["GRANT REPLICATION SLAVE ON *.* TO `repl`@`%` IDENTIFIED BY PASSWORD '*AB'"])
    assert _mysql.has_replication_privilege(['GRANT REPLICATION REPLICA, REPLICATION CLIENT ON *.* TO `r`@`%`'])
    assert _mysql.has_replication_privilege(['GRANT ALL PRIVILEGES ON *.* TO `root`@`%` WITH GRANT OPTION'])
    assert not _mysql.has_replication_privilege(['GRANT USAGE ON *.* TO `r`@`%`',
                                                 'GRANT ALL PRIVILEGES ON `shop`.* TO `r`@`%`'])
    assert not _mysql.has_replication_privilege([b'GRANT SELECT ON *.* TO `r`@`%`'])


def test_purged_and_errant_helpers():
    assert _mysql.mariadb_purged_gtids('', '') == []
    assert _mysql.mariadb_purged_gtids('', '0-1-4') == [(0, None, '0-1-4')]
    assert _mysql.mariadb_purged_gtids('0-1-4,1-1-9', '0-1-4,1-1-10') == [(1, '1-1-9', '1-1-10')]
    assert _mysql.mariadb_gtid_state_errant('0-1-90,0-2-4', '0-1-100,0-2-4') == []
    assert _mysql.mariadb_gtid_state_errant('0-1-90,0-2-5,1-2-1', '0-1-100,0-2-4') == ['0-2-5', '1-2-1']
    with pytest.raises(MySQLError):
        _mysql.mariadb_gtid_state_errant('garbage', '')


def test_describe_error_names_the_primary_options():
    exc = Exception(1045, "Access denied for user 'repl'@'10.0.0.2' (using password: YES)")
    line = _mysql.describe_error(exc, dict(login_host='10.231.0.11', login_port=3306, login_user='repl'),
                                 repl.PRIMARY_REPLICATION_NAMES)
    assert line.startswith('access denied for user repl on the primary at 10.231.0.11:3306 (error 1045')
    assert line.endswith('check primary_user and primary_password')
    exc = Exception(2003, "Can't connect to MySQL server on '10.231.0.11' (timed out)")
    line = _mysql.describe_error(exc, dict(login_host='10.231.0.11', login_port=3306), repl.PRIMARY_ADMIN_NAMES)
    assert 'cannot reach the primary at 10.231.0.11:3306' in line and 'check primary_host, primary_port and' in line


def test_primary_login_defaults_to_the_replica_login():
    login = repl.primary_login(params(), admin=True)
    assert (login['login_user'], login['login_password'], login['login_host']) == ('root', ROOT_PW, '10.231.0.11')
    login = repl.primary_login(params(primary_admin_user='admin'), admin=True)
    assert (login['login_user'], login['login_password']) == ('admin', None)
    assert repl.primary_login(params())['login_password'] == REPL_PW


# -- Seed ------------------------------------------------------------------------------------------------------

MARIADB_TAIL = """USE `shop`;

-- The deferred gtid setting for slave corresponding to the master-data CHANGE-MASTER follows

-- Preferably use GTID to start replication from GTID position:

-- SET GLOBAL gtid_slave_pos='0-1-318';
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;
"""

MYSQL_HEAD = """SET @@SESSION.SQL_LOG_BIN= 0;

--
-- GTID state at the beginning of the backup
--

SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,
7a21b3c4-71ca-11e1-9e33-c80aa9429562:1-2';
"""


def test_gtid_position_of_a_dump():
    assert repl.dump_gtid_position(_mysql.MARIADB, '', MARIADB_TAIL) == '0-1-318'
    assert repl.dump_gtid_position(_mysql.MARIADB, '', "-- SET GLOBAL gtid_slave_pos='';\n") == ''
    assert repl.dump_gtid_position(_mysql.MARIADB, 'no position', 'none here') is None
    assert repl.dump_gtid_position(_mysql.MYSQL, MYSQL_HEAD, '') == (
        '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,7a21b3c4-71ca-11e1-9e33-c80aa9429562:1-2')


def test_seed_script_holds_no_secret_and_fails_on_any_stage():
    script = repl.seed_script(_mysql.MARIADB, (10, 11, 6), '/tmp/hna-seed-x', 600)
    assert 'set -u -o pipefail' in script
    assert 'mariadb-dump --defaults-extra-file=/tmp/hna-seed-x/cnf/primary.cnf --single-transaction --gtid' in script
    assert '--master-data=2' in script and '--ignore-table=mysql.gtid_slave_pos' in script
    assert 'mariadb --defaults-extra-file=/tmp/hna-seed-x/cnf/replica.cnf' in script
    assert ROOT_PW not in script and REPL_PW not in script and 'password' not in script.lower()
    script = repl.seed_script(_mysql.MYSQL, (8, 0, 25), '/d', 600)
    assert 'mysqldump' in script and '--master-data=2' in script and '--set-gtid-purged=ON' in script
    assert '--source-data=2' in repl.seed_script(_mysql.MYSQL, (8, 4, 3), '/d', 600)


def test_seed_option_files_hold_the_passwords():
    files = repl.seed_option_files(params(primary_admin_user='admin', primary_admin_password='adm"pw'), _mysql.MARIADB)
    assert 'user="admin"' in files['primary.cnf'] and 'password="adm\\"pw"' in files['primary.cnf']
    assert 'host="10.231.0.11"' in files['primary.cnf'] and 'protocol=TCP' in files['primary.cnf']
    assert 'socket="/run/mysqld/mysqld.sock"' in files['replica.cnf'] and 'host=' not in files['replica.cnf']
    assert '\nssl' not in files['primary.cnf']
    files = repl.seed_option_files(params(primary_ssl=True, primary_ssl_ca='/etc/mysql/ca.pem'), _mysql.MARIADB)
    assert files['primary.cnf'].endswith('\nssl\n') and 'ssl-ca' not in files['primary.cnf']
    files = repl.seed_option_files(params(primary_ssl=True), _mysql.MYSQL)
    assert files['primary.cnf'].endswith('\nssl-mode=REQUIRED\n')


def test_seed_failure_lines():
    address = '10.231.0.11:3306'
    assert repl.seed_failure(dict(status='0 0 0'), address) is None
    line = repl.seed_failure({'status': '2 0 0', 'dump.err': "Warning: unknown variable 'loose-connect-timeout=30'\n"
                              "mariadb-dump: Got error: 1045: Access denied\n"}, address)
    assert line == 'the dump of the primary 10.231.0.11:3306 failed (exit 2): mariadb-dump: Got error: 1045: Access denied'
    line = repl.seed_failure({'status': '0 0 1', 'import.err': 'ERROR 1064 (42000) at line 3: syntax'}, address)
    assert line.startswith('the import into the replica failed (exit 1): ERROR 1064')
    assert 'seed_timeout' in repl.seed_failure(dict(status='124 0 0'), address)
    assert 'did not finish' in repl.seed_failure({}, address)
    assert 'tee exit 1' in repl.seed_failure(dict(status='0 1 0'), address)


def test_seed_figures():
    figures = repl.seed_figures(dict(head='x' * 10, rest='90\n', seconds='100.5 102.5\n'))
    assert figures == dict(bytes=100, seconds=2.0, bytes_per_second=50)
    assert repl.seed_figures({}) == {}


def test_archive_for_the_container_is_private():
    data = repl._archive('tmp/hna-seed-1', {'primary.cnf': '[client]\npassword="x"\n'})
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = dict((member.name, member) for member in archive.getmembers())
    assert members['tmp/hna-seed-1'].mode == 0o700 and members['tmp/hna-seed-1/out'].isdir()
    assert members['tmp/hna-seed-1/cnf/primary.cnf'].mode == 0o600
    assert members['tmp/hna-seed-1/cnf/primary.cnf'].uid == 0


def _fake_clients(directory, dump_status=0):
    """Stand-ins for mariadb-dump and mariadb: the dump prints a few lines and its position, the import keeps its input."""
    bin_dir = os.path.join(directory, 'bin')
    os.mkdir(bin_dir)
    dump = os.path.join(bin_dir, 'mariadb-dump')
    with open(dump, 'w') as handle:
        handle.write('#!/bin/sh\nfor i in $(seq 1 2000); do echo "INSERT INTO t VALUES ($i);"; done\n'
                     'echo "-- SET GLOBAL gtid_slave_pos=\'0-1-77\';"\n'
                     'echo "dump says: $1" >&2\nexit %d\n' % dump_status)
    load = os.path.join(bin_dir, 'mariadb')
    with open(load, 'w') as handle:
        handle.write('#!/bin/sh\ncat > "%s/imported.sql"\n' % directory)
    os.chmod(dump, 0o755)
    os.chmod(load, 0o755)
    return bin_dir


def test_local_seed_pipeline_end_to_end(tmp_path, monkeypatch):
    bin_dir = _fake_clients(str(tmp_path))
    monkeypatch.setenv('PATH', bin_dir + os.pathsep + os.environ['PATH'])
    runner = repl.LocalRunner()
    directory = runner.directory
    seen = {}
    original_run = runner.run

    def run(script, timeout):
        seen['mode'] = stat.S_IMODE(os.stat(os.path.join(directory, 'cnf', 'primary.cnf')).st_mode)
        seen['script'] = script
        original_run(script, timeout)

    runner.run = run
    position, figures = repl.run_seed(runner, params(), mariadb(), '10.231.0.11:3306')
    assert position == '0-1-77'
    imported = (tmp_path / 'imported.sql').read_text()
    assert imported.startswith('SET SESSION sql_log_bin = 0;\nINSERT INTO t VALUES (1);')
    assert figures['bytes'] == len(imported.encode())
    assert seen['mode'] == 0o600 and ROOT_PW not in seen['script']
    assert not os.path.exists(directory)


def test_local_seed_failure_names_the_stage(tmp_path, monkeypatch):
    bin_dir = _fake_clients(str(tmp_path), dump_status=2)
    monkeypatch.setenv('PATH', bin_dir + os.pathsep + os.environ['PATH'])
    with pytest.raises(repl.ReplicationError) as info:
        repl.run_seed(repl.LocalRunner(), params(), mariadb(), '10.231.0.11:3306')
    message = str(info.value)
    assert message.startswith('the dump of the primary 10.231.0.11:3306 failed (exit 2): dump says: --defaults-extra-file=')
    assert 'reseed: true' in message and ROOT_PW not in message


# -- Fake servers for the whole module ---------------------------------------------------------------------------

class FakeCursor:
    def __init__(self, server):
        self.server = server
        self.rows = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=()):
        self.server.log.append(_mysql.masked(sql, args))
        self.rows = self.server.answer(sql, args)
        return len(self.rows)

    def fetchall(self):
        return self.rows


class FakeConnection:
    def __init__(self, server):
        self.server = server
        self.closed = False

    def cursor(self, *args):
        return FakeCursor(self.server)

    def close(self):
        self.closed = True


class FakeMariaDB:
    """Just enough of MariaDB 10.11 for the modules."""

    def __init__(self, server_id, status=None, gtid='', state=None, read_only=False, tables=0, grants=None, logs=None):
        self.server_id = server_id
        self.status = status
        self.gtid_slave_pos = gtid if status else ''
        self.gtid_binlog_pos = gtid
        self.state = gtid if state is None else state
        self.read_only = read_only
        self.tables = tables
        self.grants = grants or ["GRANT REPLICATION SLAVE ON *.* TO `repl`@`%` IDENTIFIED BY PASSWORD '*AB'"]
        self.logs = logs or [('mysql-bin.000001', '')]
        self.heartbeat = {}
        self.primary = None
        self.log = []
        self.scheduler = 'ON'
        self.tick = None
        # The tick event, its account and grants as a run of the module leaves them on a primary.
        self.event = dict(status='ENABLED', definer='hna_heartbeat@localhost', body=repl.tick_body(), every='1',
                          unit='SECOND')
        self.account = 'CREATE USER `hna_heartbeat`@`localhost` ACCOUNT LOCK'
        self.account_grants = ['GRANT USAGE ON *.* TO `hna_heartbeat`@`localhost`',
                               'GRANT EVENT ON `hna_cloudos`.* TO `hna_heartbeat`@`localhost`',
                               'GRANT SELECT, INSERT, UPDATE ON `hna_cloudos`.`heartbeat` TO `hna_heartbeat`@`localhost`']

    def answer(self, sql, args):  # noqa: C901 - a switch over statements
        if sql.startswith('SELECT VERSION()'):
            return [dict(version='10.11.6-MariaDB-0+deb12u1-log', version_comment='Debian 12')]
        if sql.startswith('SHOW REPLICA STATUS'):
            return [dict(self.status, Gtid_Slave_Pos=self.gtid_slave_pos)] if self.status else []
        if sql.startswith('SELECT @@GLOBAL.gtid_slave_pos'):
            return [dict(gtid_slave_pos=self.gtid_slave_pos, gtid_binlog_pos=self.gtid_binlog_pos,
                         gtid_current_pos=self.gtid_binlog_pos or self.gtid_slave_pos)]
        if sql.startswith('SELECT @@GLOBAL.gtid_binlog_state'):
            return [dict(state=self.state)]
        if sql.startswith('SELECT @@GLOBAL.log_bin'):
            return [dict(log_bin=1, read_only=int(self.read_only), server_id=self.server_id)]
        if sql.startswith('SELECT TABLE_SCHEMA AS name'):
            return [dict(name='shop', tables=self.tables)] if self.tables else []
        if sql.startswith('SELECT SCHEMA_NAME'):
            return [dict(name='shop')] if self.tables else []
        if sql == 'SHOW GRANTS':
            return [{'Grants for repl@%': line} for line in self.grants]
        if sql.startswith('SHOW BINARY LOGS'):
            return [dict(Log_name=name, File_size=4) for name, _pos in self.logs]
        if sql.startswith('SELECT BINLOG_GTID_POS'):
            return [dict(pos=dict(self.logs)[args[0]])]
        if sql.startswith('SELECT COUNT(*) AS n FROM information_schema.TABLES'):
            return [dict(n=1)]
        if sql.startswith('SELECT @@GLOBAL.read_only AS read_only, @@GLOBAL.event_scheduler'):
            return [dict(read_only=int(self.read_only), scheduler=self.scheduler)]
        if sql.startswith('SELECT COUNT(*) AS n FROM mysql.user'):
            return [dict(n=int(self.account is not None))]
        if sql.startswith('SHOW CREATE USER'):
            return [{'CREATE USER for hna_heartbeat@localhost': self.account}]
        if sql.startswith('SHOW GRANTS FOR'):
            return [{'Grants for hna_heartbeat@localhost': line} for line in self.account_grants]
        if sql.startswith('SELECT STATUS AS status, DEFINER'):
            return [dict(self.event)] if self.event else []
        if sql.startswith('SELECT STATUS AS status FROM information_schema.EVENTS'):
            return [dict(status=self.event['status'])] if self.event else []
        if sql.startswith('SELECT TIMESTAMPDIFF(MICROSECOND, ts'):
            return [dict(age=self.tick)] if self.tick is not None else []
        if sql.startswith('REPLACE INTO'):
            self.heartbeat[args[0]] = args[1]
            return []
        if sql.startswith('SELECT token FROM'):
            token = self.primary.heartbeat.get(args[0]) if self.primary else None
            return [dict(token=token)] if token else []
        if sql.startswith('SHOW REPLICA HOSTS'):
            return []
        if sql.startswith('SELECT MAX(ts)'):
            return [dict(ts=None, age=None)]
        if sql == 'START REPLICA':
            self.status.update(Slave_IO_Running='Yes', Slave_SQL_Running='Yes')
        elif sql == 'STOP REPLICA':
            self.status.update(Slave_IO_Running='No', Slave_SQL_Running='No')
        elif sql.startswith('CHANGE MASTER TO'):
            self.status = mariadb_status(Master_Host=args[0], Master_Port=args[1], Master_User=args[2],
                                         Slave_IO_Running='No', Slave_SQL_Running='No')
        elif sql.startswith('SET GLOBAL read_only'):
            self.read_only = True
        elif sql.startswith('ALTER DEFINER'):
            self.event['status'] = 'ENABLED'
        return []


@pytest.fixture
def servers(monkeypatch):
    primary = FakeMariaDB(1, gtid='0-1-100', read_only=False, tables=2)
    replica = FakeMariaDB(2, status=mariadb_status(), gtid='0-1-100', state='0-1-100', read_only=True, tables=2)
    replica.primary = primary

    def fake_connect(login, names=None):
        server = primary if login['login_host'] == '10.231.0.11' else replica
        if login['login_host'] == '10.231.0.99':
            raise MySQLError(_mysql.describe_error(Exception(2003, "Can't connect (timed out)"), login, names))
        if server is primary and login['login_user'] == 'repl' and login['login_password'] != REPL_PW:
            raise MySQLError(_mysql.describe_error(Exception(1045, 'Access denied'), login, names))
        return FakeConnection(server)

    monkeypatch.setattr(repl, 'connect', fake_connect)
    monkeypatch.setattr(repl, 'POLL_INTERVAL', 0)
    monkeypatch.setattr(repl, 'FAST_POLL_INTERVAL', 0)
    return primary, replica


def module_params(**overrides):
    result = dict(login_host='127.0.0.1', login_password=ROOT_PW, primary_host='10.231.0.11', primary_user='repl',
                  primary_password=REPL_PW, seed_container='mysql')
    result.update(overrides)
    return result


def run_module(module_args, module_exits, check=False, diff=False, **overrides):
    args = module_params(**overrides)
    if check:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True
    with module_args(args):
        try:
            repl.run_replication(None)
        except (module_exits[0], module_exits[1]) as exc:
            return exc.result
    raise AssertionError('the module did not exit')


def test_module_rerun_is_unchanged_and_measures_the_lag(servers, module_args, module_exits):
    primary, replica = servers
    result = run_module(module_args, module_exits)
    assert result['changed'] is False and result['queries'] == [] and 'failed' not in result
    assert result['lag'] is not None and result['status']['running'] is True
    assert replica.log.count('START REPLICA') == 0
    assert any(line.startswith('REPLACE INTO `hna_cloudos`.`heartbeat`') for line in primary.log)


def test_module_check_mode_changes_nothing_and_masks_the_password(servers, module_args, module_exits):
    primary, replica = servers
    result = run_module(module_args, module_exits, check=True, diff=True, primary_port=3307, read_only=True)
    assert result['changed'] is True
    assert result['queries'][0] == 'STOP REPLICA' and "MASTER_PASSWORD = '********'" in result['queries'][1]
    assert result['diff']['before']['settings']['port'] == 3306 and result['diff']['after']['settings']['port'] == 3307
    assert not any(line.startswith(('STOP', 'CHANGE', 'START', 'REPLACE', 'SET')) for line in replica.log + primary.log)
    assert REPL_PW not in repr(result)


def test_module_wrong_password_is_one_line_and_changes_nothing(servers, module_args, module_exits):
    primary, replica = servers
    result = run_module(module_args, module_exits, primary_password='wrong', primary_port=3307)
    assert result['failed'] and result['changed'] is False
    assert result['msg'].startswith('access denied for user repl on the primary at 10.231.0.11:3307')
    assert not any(line.startswith(('STOP', 'CHANGE', 'START')) for line in replica.log)


def test_module_unreachable_primary_is_one_line(servers, module_args, module_exits):
    result = run_module(module_args, module_exits, primary_host='10.231.0.99')
    assert result['failed'] and 'cannot reach the primary at 10.231.0.99:3306' in result['msg']


def test_module_missing_privilege_is_one_line(servers, module_args, module_exits):
    servers[0].grants = ['GRANT USAGE ON *.* TO `repl`@`%`']
    result = run_module(module_args, module_exits)
    assert result['failed'] and result['msg'].startswith('primary_user repl lacks the REPLICATION SLAVE privilege')


def test_module_purged_gtids_are_one_line_with_the_fix(servers, module_args, module_exits):
    primary, replica = servers
    replica.status.update(Slave_IO_Running='No', Slave_SQL_Running='No')
    primary.logs = [('mysql-bin.000007', '0-1-150')]
    result = run_module(module_args, module_exits)
    assert result['failed'] and 'purged' in result['msg'] and 'reseed: true' in result['msg']
    assert 'START REPLICA' not in replica.log


def test_module_conflicting_row_fails_with_the_server_error(servers, module_args, module_exits):
    primary, replica = servers
    replica.status.update(Slave_SQL_Running='No', Last_SQL_Errno=1062,
                          Last_SQL_Error="Could not execute Write_rows_v1 event on table shop.t; Duplicate entry '7'")
    original = replica.answer

    def answer(sql, args):
        rows = original(sql, args)
        if sql == 'START REPLICA':
            replica.status.update(Slave_SQL_Running='No')
        return rows

    replica.answer = answer
    result = run_module(module_args, module_exits)
    assert result['failed'] and result['changed'] is True and result['queries'] == ['START REPLICA']
    assert 'SQL error 1062' in result['msg'] and "Duplicate entry '7'" in result['msg']


def test_module_absent_never_contacts_the_primary(servers, module_args, module_exits):
    primary, replica = servers
    result = run_module(module_args, module_exits, state='absent', primary_host=None, primary_user=None,
                        primary_password=None)
    assert result['changed'] is True and result['queries'] == ['STOP REPLICA', 'RESET REPLICA ALL']
    assert primary.log == []


def test_wait_times_out_with_the_lag(servers):
    primary, replica = servers
    replica.primary = None  # the heartbeat never arrives
    clock = iter(range(0, 1000, 1))
    heartbeat = repl.Heartbeat(FakeConnection(primary), FakeConnection(replica), 2)
    with pytest.raises(repl.ReplicationError, match=r'still more than max_lag \(5.0s\) behind .* after wait_timeout \(20s\): the last heartbeat, written'):
        repl.wait_for_replica(FakeConnection(replica), mariadb(), heartbeat, 5.0, 20, clock=lambda: next(clock),
                              sleep=lambda _: None)


def test_info_of_a_replica_and_of_a_primary(servers):
    primary, replica = servers
    info = repl.read_info(FakeConnection(replica))
    assert info['role'] == 'replica' and info['running'] and info['source'] == dict(host='10.231.0.11', port=3306,
                                                                                    user='repl')
    assert info['gtid']['gtid_slave_pos'] == '0-1-100' and info['server_id'] == 2 and info['error'] is None
    info = repl.read_info(FakeConnection(primary))
    assert info['role'] == 'primary' and not info['configured'] and info['io_running'] == 'No'
    assert info['flavour'] == 'mariadb' and info['version'] == '10.11.6'


# -- The heartbeat tick ------------------------------------------------------------------------------------------

TICK_OK = dict(read_only=False, scheduler='ON', table=True, account=True, locked=True,
               grants=dict(repl.TICK_PRIVILEGES),
               event=dict(status='ENABLED', definer='hna_heartbeat@localhost', body=repl.tick_body(), every='1',
                          unit='SECOND'))


def tick_facts(**overrides):
    facts = dict(TICK_OK, event=dict(TICK_OK['event']))
    facts.update(overrides)
    return facts


def tick_queries(facts):
    return [_mysql.masked(*statement) for statement in repl.plan_tick(facts, '10.231.0.11:3306')]


def test_tick_body_checks_read_only_before_it_writes_the_tick_row():
    body = repl.tick_body()
    assert body.startswith('BEGIN IF @@GLOBAL.read_only = 0 THEN INSERT INTO `hna_cloudos`.`heartbeat`')
    assert 'VALUES (0, @@GLOBAL.server_id, UTC_TIMESTAMP(6))' in body and body.endswith('END IF; END')
    assert '%' not in body


def test_tick_on_a_fresh_primary_creates_table_account_grants_and_event():
    queries = tick_queries(dict(read_only=False, scheduler='OFF', table=False, account=False, locked=False, grants={},
                                event=None))
    assert queries[:3] == [
        'SET GLOBAL event_scheduler = ON',
        'CREATE DATABASE IF NOT EXISTS `hna_cloudos`',
        'CREATE TABLE IF NOT EXISTS `hna_cloudos`.`heartbeat` (server_id INT UNSIGNED NOT NULL PRIMARY KEY,'
        ' token CHAR(32) NOT NULL, ts DATETIME(6) NOT NULL) ENGINE=InnoDB',
    ]
    assert queries[3:6] == [
        "CREATE USER 'hna_heartbeat'@'localhost' ACCOUNT LOCK",
        "GRANT EVENT ON `hna_cloudos`.* TO 'hna_heartbeat'@'localhost'",
        "GRANT SELECT, INSERT, UPDATE ON `hna_cloudos`.`heartbeat` TO 'hna_heartbeat'@'localhost'",
    ]
    assert queries[6] == (
        "CREATE DEFINER = 'hna_heartbeat'@'localhost' EVENT `hna_cloudos`.`heartbeat_tick` ON SCHEDULE EVERY 1 SECOND"
        " ON COMPLETION PRESERVE ENABLE COMMENT 'heartbeat of hna.cloudos.mysql_replication' DO " + repl.tick_body())
    assert len(queries) == 7
    assert not any('SUPER' in query or 'READ ONLY ADMIN' in query or 'ALL PRIVILEGES ON' in query for query in queries)


def test_tick_in_place_needs_nothing():
    assert tick_queries(tick_facts()) == []
    # The server may store the body with other line breaks.
    facts = tick_facts()
    facts['event']['body'] = repl.tick_body().replace(' THEN ', '\n  THEN\n  ')
    assert tick_queries(facts) == []


@pytest.mark.parametrize('status', ['SLAVESIDE_DISABLED', 'REPLICA_SIDE_DISABLED', 'DISABLED'])
def test_tick_copy_of_a_former_primary_is_enabled_keeping_its_definer(status):
    facts = tick_facts()
    facts['event']['status'] = status
    assert tick_queries(facts) == [
        "ALTER DEFINER = 'hna_heartbeat'@'localhost' EVENT `hna_cloudos`.`heartbeat_tick` ENABLE"]


def test_tick_with_another_definer_or_body_is_created_again():
    for key, value in (('definer', 'root@localhost'), ('body', 'BEGIN END'), ('every', '5')):
        facts = tick_facts()
        facts['event'][key] = value
        queries = tick_queries(facts)
        assert queries[0] == 'DROP EVENT IF EXISTS `hna_cloudos`.`heartbeat_tick`'
        assert queries[1].startswith("CREATE DEFINER = 'hna_heartbeat'@'localhost' EVENT") and len(queries) == 2


def test_tick_account_is_locked_and_stripped_of_extra_privileges():
    assert tick_queries(tick_facts(locked=False)) == ["ALTER USER 'hna_heartbeat'@'localhost' ACCOUNT LOCK"]
    grants = dict(repl.TICK_PRIVILEGES)
    grants['*.*'] = frozenset(['SUPER'])
    assert tick_queries(tick_facts(grants=grants)) == [
        "REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'hna_heartbeat'@'localhost'",
        "GRANT EVENT ON `hna_cloudos`.* TO 'hna_heartbeat'@'localhost'",
        "GRANT SELECT, INSERT, UPDATE ON `hna_cloudos`.`heartbeat` TO 'hna_heartbeat'@'localhost'",
    ]
    grants = dict(repl.TICK_PRIVILEGES)
    del grants['hna_cloudos.*']
    assert tick_queries(tick_facts(grants=grants))[0] == "GRANT EVENT ON `hna_cloudos`.* TO 'hna_heartbeat'@'localhost'"


def test_tick_with_a_disabled_scheduler_fails_in_one_line():
    with pytest.raises(repl.ReplicationError) as error:
        repl.plan_tick(tick_facts(scheduler='DISABLED'), '10.231.0.11:3306')
    assert str(error.value) == ('the event scheduler of the primary 10.231.0.11:3306 is DISABLED, so its heartbeat cannot'
                                ' tick: start the server with event_scheduler=ON')


def test_read_tick_parses_grants_and_lock(servers):
    primary, replica = servers
    facts = repl.read_tick(FakeConnection(primary))
    assert facts['grants'] == repl.TICK_PRIVILEGES and facts['locked'] and facts['account'] and facts['table']
    assert facts['event']['status'] == 'ENABLED' and facts['scheduler'] == 'ON' and facts['read_only'] is False
    primary.account = None
    assert repl.read_tick(FakeConnection(primary))['account'] is False


def test_module_enables_the_copy_on_a_new_primary_and_writes_nothing_on_the_replica(servers, module_args,
                                                                                    module_exits):
    primary, replica = servers
    primary.event['status'] = 'SLAVESIDE_DISABLED'
    alter = "ALTER DEFINER = 'hna_heartbeat'@'localhost' EVENT `hna_cloudos`.`heartbeat_tick` ENABLE"
    result = run_module(module_args, module_exits, check=True)
    assert result['changed'] is True and result['queries'] == [alter] and alter not in primary.log
    result = run_module(module_args, module_exits)
    assert result['changed'] is True and result['queries'] == [alter] and alter in primary.log
    assert primary.event['status'] == 'ENABLED'
    assert not any(line.startswith(('ALTER', 'CREATE', 'GRANT', 'REVOKE', 'SET', 'DROP')) for line in replica.log)
    result = run_module(module_args, module_exits)
    assert result['changed'] is False and result['queries'] == []


def test_module_leaves_a_read_only_primary_alone(servers, module_args, module_exits, monkeypatch):
    primary, replica = servers
    primary.read_only = True
    primary.event = None
    primary.scheduler = 'OFF'
    warnings = []
    monkeypatch.setattr(repl.AnsibleModule, 'warn', lambda self, text: warnings.append(text))
    result = run_module(module_args, module_exits)
    assert result['changed'] is False and result['queries'] == []
    assert warnings == ['the primary 10.231.0.11:3306 is read-only: its heartbeat event was not checked and the lag was'
                        ' measured by its GTID position; run the task again once it accepts writes']
    assert result['lag'] is not None
    assert not any(line.startswith(('ALTER', 'CREATE', 'GRANT', 'SET', 'REPLACE')) for line in primary.log)


def test_position_heartbeat_waits_for_the_gtid_position_of_the_primary(servers):
    primary, replica = servers
    heartbeat = repl.PositionHeartbeat(FakeConnection(primary), FakeConnection(replica), mariadb())
    primary.gtid_binlog_pos = '0-1-105,1-1-7'
    token = heartbeat.beat()
    assert token == '0-1-105,1-1-7' and not heartbeat.arrived(token)
    replica.gtid_slave_pos = '0-1-105'
    assert not heartbeat.arrived(token)
    replica.gtid_slave_pos = '0-1-106,1-1-7'
    assert heartbeat.arrived(token)
    assert not any(line.startswith(('REPLACE', 'INSERT', 'CREATE')) for line in primary.log)


def test_module_fails_before_any_change_when_the_scheduler_is_disabled(servers, module_args, module_exits):
    primary, replica = servers
    primary.scheduler = 'DISABLED'
    result = run_module(module_args, module_exits, primary_port=3307)
    assert result['failed'] and result['changed'] is False and 'start the server with event_scheduler=ON' in result['msg']
    assert not any(line.startswith(('STOP', 'CHANGE', 'START')) for line in replica.log)


def test_module_warns_about_an_enabled_copy_on_a_writable_replica(servers, module_args, module_exits, monkeypatch):
    primary, replica = servers
    replica.read_only = False
    warnings = []
    monkeypatch.setattr(repl.AnsibleModule, 'warn', lambda self, text: warnings.append(text))
    run_module(module_args, module_exits, read_only=False)
    assert warnings and 'enabled copy of the heartbeat event' in warnings[0] and 'read_only: true' in warnings[0]
    warnings[:] = []
    replica.event['status'] = 'SLAVESIDE_DISABLED'
    run_module(module_args, module_exits, read_only=False)
    assert warnings == []


def test_info_lag_is_the_age_of_the_tick_row_on_a_replica_only(servers):
    primary, replica = servers
    assert repl.read_info(FakeConnection(replica))['lag'] is None
    replica.tick = 1250000
    assert repl.read_info(FakeConnection(replica))['lag'] == 1.25
    replica.tick = -300000  # the replica's clock is behind the primary's
    assert repl.read_info(FakeConnection(replica))['lag'] == 0.0
    primary.tick = 500000
    assert repl.read_info(FakeConnection(primary))['lag'] is None


def test_mysql_new_primary_enables_the_replica_side_disabled_copy(mysql_servers, module_args, module_exits):
    primary, replica = mysql_servers
    primary.event['status'] = 'REPLICA_SIDE_DISABLED'
    result = run_module(module_args, module_exits)
    assert result['queries'] == ["ALTER DEFINER = 'hna_heartbeat'@'localhost' EVENT `hna_cloudos`.`heartbeat_tick` ENABLE"]
    assert result['changed'] is True and primary.event['status'] == 'ENABLED'


def test_mysql_read_only_primary_is_waited_for_with_gtid_subset(mysql_servers, module_args, module_exits):
    primary, replica = mysql_servers
    primary.read_only = True
    result = run_module(module_args, module_exits)
    assert result['changed'] is False and result['lag'] is not None
    assert ('SELECT GTID_SUBSET(%r, @@GLOBAL.gtid_executed) AS done' % (UUID_P + ':1-100')) in replica.log
    assert not any(line.startswith('REPLACE') for line in primary.log)


class FakeDockerAPI:
    def __init__(self, state=None, error=None):
        self.state = state
        self.error = error
        self.calls = []

    def inspect_container(self, name):
        self.calls.append(('inspect_container', name))
        if self.error:
            raise self.error
        return dict(State=self.state)


class FakeDockerClient:
    docker_host = 'unix:///var/run/docker.sock'

    def __init__(self, api):
        self.api = api
        self.closed = False

    def close(self):
        self.closed = True


def run_seeding_module(servers, module_args, module_exits, api, check=False):
    primary, replica = servers
    replica.status = None
    replica.tables = 0
    replica.gtid_slave_pos = replica.gtid_binlog_pos = replica.state = ''
    client = FakeDockerClient(api)
    args = module_params()
    if check:
        args['_ansible_check_mode'] = True
    with module_args(args):
        try:
            repl.run_replication(lambda module, docker_host: client)
        except (module_exits[0], module_exits[1]) as exc:
            return exc.result, client
    raise AssertionError('the module did not exit')


def test_seed_container_that_does_not_run_fails_before_any_change(servers, module_args, module_exits):
    result, client = run_seeding_module(servers, module_args, module_exits, FakeDockerAPI(state=dict(Running=False,
                                                                                                     Status='exited')))
    assert result['failed'] and result['changed'] is False and result['queries'] == []
    assert result['msg'] == ('seed_container mysql on unix:///var/run/docker.sock does not run (status exited): the seed'
                             ' runs inside the container of the replica server')
    assert not any(line.startswith(('RESET', 'SET', 'CHANGE', 'START')) for line in servers[1].log)
    assert client.closed


def test_seed_container_engine_error_is_one_line(servers, module_args, module_exits):
    result, client = run_seeding_module(servers, module_args, module_exits,
                                        FakeDockerAPI(error=RuntimeError('404 Client Error: No such container: mysql')))
    assert result['failed'] and result['msg'].startswith('seed_container mysql on unix:///var/run/docker.sock: could not'
                                                         ' inspect it: 404 Client Error')


def test_seed_in_check_mode_looks_at_the_container_only(servers, module_args, module_exits):
    api = FakeDockerAPI(state=dict(Running=True, Status='running'))
    result, client = run_seeding_module(servers, module_args, module_exits, api, check=True)
    assert result['changed'] is True and result['seed_reason'] == 'empty' and 'failed' not in result
    assert api.calls == [('inspect_container', 'mysql')] and client.closed
    assert "SET GLOBAL gtid_slave_pos = '<GTID position of the snapshot>'" in result['queries']


# -- MySQL 8.4 ---------------------------------------------------------------------------------------------------

UUID_P = '3e11fa47-71ca-11e1-9e33-c80aa9429562'
UUID_R = '7a21b3c4-71ca-11e1-9e33-c80aa9429562'


def mysql_status(**overrides):
    row = {
        'Replica_IO_State': 'Waiting for source to send event', 'Source_Host': '10.231.0.11', 'Source_User': 'repl',
        'Source_Port': 3306, 'Connect_Retry': 60, 'Replica_IO_Running': 'Yes', 'Replica_SQL_Running': 'Yes',
        'Source_SSL_Allowed': 'No', 'Source_SSL_CA_File': '', 'Source_SSL_Cert': '', 'Source_SSL_Key': '',
        'Seconds_Behind_Source': 0, 'Source_SSL_Verify_Server_Cert': 'No', 'Last_IO_Errno': 0, 'Last_IO_Error': '',
        'Last_SQL_Errno': 0, 'Last_SQL_Error': '', 'Retrieved_Gtid_Set': UUID_P + ':1-100',
        'Executed_Gtid_Set': UUID_P + ':1-100', 'Auto_Position': 1, 'Get_Source_public_key': 0,
    }
    row.update(overrides)
    return row


class FakeMySQL(FakeMariaDB):
    """MySQL 8.4: other version, status columns, GTID sets; GTID_SUBTRACT answered from a table of the test."""

    def __init__(self, server_id, executed, purged='', subtract=None, **kwargs):
        super().__init__(server_id, **kwargs)
        self.executed = executed
        self.purged = purged
        self.subtract = subtract or {}

    def answer(self, sql, args):
        if sql.startswith('SELECT VERSION()'):
            return [dict(version='8.4.3', version_comment='MySQL Community Server - GPL')]
        if sql.startswith('SHOW REPLICA STATUS'):
            return [dict(self.status)] if self.status else []
        if sql.startswith('SELECT @@GLOBAL.gtid_executed'):
            return [dict(gtid_executed=self.executed, gtid_purged=self.purged)]
        if sql.startswith('SELECT GTID_SUBTRACT'):
            name = 'errant' if 'AS errant' in sql else 'missing'
            return [{name: self.subtract.get(tuple(args), '')}]
        if sql.startswith('SELECT GTID_SUBSET'):
            return [dict(done=int(args[0] == self.executed))]
        if sql.startswith(('SHOW BINARY LOGS', 'SELECT @@GLOBAL.gtid_binlog_state', 'SELECT BINLOG_GTID_POS')):
            raise AssertionError('MariaDB statement sent to MySQL: %s' % sql)
        if sql.startswith('CHANGE REPLICATION SOURCE TO'):
            self.status = mysql_status(Source_Host=args[0], Source_Port=args[1], Source_User=args[2],
                                       Replica_IO_Running='No', Replica_SQL_Running='No')
            return []
        if sql == 'START REPLICA':
            self.status.update(Replica_IO_Running='Yes', Replica_SQL_Running='Yes')
            return []
        return super().answer(sql, args)


@pytest.fixture
def mysql_servers(monkeypatch):
    primary = FakeMySQL(1, UUID_P + ':1-100', purged=UUID_P + ':1-20', read_only=False, tables=2)
    replica = FakeMySQL(2, UUID_P + ':1-100', status=mysql_status(), read_only=True, tables=2)
    replica.primary = primary
    monkeypatch.setattr(repl, 'connect', lambda login, names=None: FakeConnection(
        primary if login['login_host'] == '10.231.0.11' else replica))
    monkeypatch.setattr(repl, 'POLL_INTERVAL', 0)
    monkeypatch.setattr(repl, 'FAST_POLL_INTERVAL', 0)
    return primary, replica


def test_mysql_rerun_is_unchanged(mysql_servers, module_args, module_exits):
    primary, replica = mysql_servers
    result = run_module(module_args, module_exits)
    assert result['changed'] is False and 'failed' not in result and result['lag'] is not None
    assert result['status']['gtid_executed'] == UUID_P + ':1-100'
    assert ('SELECT GTID_SUBTRACT(%r, %r) AS errant' % (UUID_P + ':1-100', UUID_P + ':1-100')) in primary.log


def test_mysql_new_source_uses_change_replication_source(mysql_servers, module_args, module_exits):
    primary, replica = mysql_servers
    result = run_module(module_args, module_exits, primary_port=3307, primary_get_public_key=True)
    assert result['queries'] == [
        'STOP REPLICA',
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST = '10.231.0.11', SOURCE_PORT = 3307, SOURCE_USER = 'repl',"
        " SOURCE_PASSWORD = '********', GET_SOURCE_PUBLIC_KEY = 1, SOURCE_AUTO_POSITION = 1",
        'START REPLICA',
    ]


def test_mysql_errant_and_purged_gtids(mysql_servers, module_args, module_exits):
    primary, replica = mysql_servers
    replica.executed = UUID_P + ':1-100,' + UUID_R + ':1-3'
    primary.subtract[(replica.executed, primary.executed)] = UUID_R + ':1-3'
    result = run_module(module_args, module_exits)
    assert result['failed'] and ('errant GTIDs %s:1-3' % UUID_R) in result['msg']
    replica.executed = UUID_P + ':1-10'
    primary.subtract[(primary.purged, replica.executed)] = UUID_P + ':11-20'
    result = run_module(module_args, module_exits)
    assert result['failed'] and 'purged' in result['msg'] and UUID_P + ':11-20' in result['msg']
    assert 'reseed: true' in result['msg']


# -- A former primary becomes a replica -----------------------------------------------------------------------

def test_a_former_primary_starts_from_everything_it_holds_not_from_a_stale_slave_pos():
    # bj2 was a replica of hz once (gtid_slave_pos 0-2-1935), then the primary, writing 0-1-5000 itself.
    # Pointed at hz again, it must ask for what follows 0-1-5000: its old slave position is no longer in
    # hz's binary log, and asking for it fails with error 1236 in strict mode.
    facts = replica_facts(read_only=True, user_tables=3, user_schemas=['shop'], gtid=dict(
        gtid_slave_pos='0-2-1935', gtid_binlog_pos='0-1-5000', gtid_current_pos='0-1-5000',
        gtid_binlog_state='0-2-1935,0-1-5000'))
    plan = repl.plan_replica(params(primary_host='10.231.0.21', seed='never'), mariadb(), facts)
    queries = repl.plan_queries(mariadb(), plan['steps'])
    assert queries[0] == "SET GLOBAL gtid_slave_pos = '0-1-5000'"
    assert queries[1].startswith("CHANGE MASTER TO MASTER_HOST = '10.231.0.21'")
    assert queries[2:] == ['START REPLICA']


def test_a_replica_that_only_restarts_its_threads_keeps_its_position():
    facts = replica_facts(status=mariadb_status(Slave_IO_Running='No', Slave_SQL_Running='No'), gtid=dict(
        gtid_slave_pos='0-1-100', gtid_binlog_pos='0-1-100', gtid_current_pos='0-1-100', gtid_binlog_state='0-1-100'))
    assert repl.plan_queries(mariadb(), repl.plan_replica(params(), mariadb(), facts)['steps']) == ['START REPLICA']
