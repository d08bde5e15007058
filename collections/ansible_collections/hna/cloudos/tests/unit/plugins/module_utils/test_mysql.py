# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the shared MySQL/MariaDB code: dialects, statements, masking, quoting, status, roles, diff."""

from __future__ import annotations

import os
import socket
import stat

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _mysql
from ansible_collections.hna.cloudos.plugins.module_utils._mysql import MySQLError, Secret

PASSWORD = "s3cr'et\\pa\"ss#word"

MARIADB_VERSIONS = {
    '10.5.23-MariaDB-0+deb11u1': (10, 5, 23),
    '10.6.16-MariaDB-0ubuntu0.22.04.1-log': (10, 6, 16),
    '10.11.6-MariaDB-0+deb12u1-log': (10, 11, 6),
    '11.4.3-MariaDB-ubu2404': (11, 4, 3),
    '5.5.5-10.11.6-MariaDB': (10, 11, 6),
}


def mariadb(version='10.11.6-MariaDB-0+deb12u1-log'):
    return _mysql.select_dialect(version, 'Debian 12')


def mysql(version='8.4.3'):
    return _mysql.select_dialect(version, 'MySQL Community Server - GPL')


# Realistic rows, as PyMySQL's DictCursor returns them (MariaDB 10.11 keeps the Master_/Slave_ names
# for SHOW REPLICA STATUS; MySQL 8.0.22+ renamed them).
MARIADB_STATUS = {
    'Slave_IO_State': 'Waiting for master to send event',
    'Master_Host': '10.20.0.11', 'Master_User': 'repl', 'Master_Port': 3306, 'Connect_Retry': 60,
    'Master_Log_File': 'mysql-bin.000003', 'Read_Master_Log_Pos': 1234,
    'Relay_Log_File': 'mysqld-relay-bin.000002', 'Relay_Log_Pos': 555, 'Relay_Master_Log_File': 'mysql-bin.000003',
    'Slave_IO_Running': 'Yes', 'Slave_SQL_Running': 'Yes',
    'Replicate_Do_DB': '', 'Replicate_Ignore_DB': '', 'Last_Errno': 0, 'Last_Error': '', 'Skip_Counter': 0,
    'Exec_Master_Log_Pos': 1234, 'Relay_Log_Space': 865, 'Until_Condition': 'None',
    'Master_SSL_Allowed': 'No', 'Master_SSL_CA_File': '', 'Master_SSL_CA_Path': '', 'Master_SSL_Cert': '',
    'Master_SSL_Cipher': '', 'Master_SSL_Key': '', 'Seconds_Behind_Master': 0,
    'Master_SSL_Verify_Server_Cert': 'No', 'Last_IO_Errno': 0, 'Last_IO_Error': '', 'Last_SQL_Errno': 0,
    'Last_SQL_Error': '', 'Replicate_Ignore_Server_Ids': '', 'Master_Server_Id': 11,
    'Master_SSL_Crl': '', 'Master_SSL_Crlpath': '', 'Using_Gtid': 'Slave_Pos', 'Gtid_IO_Pos': '0-11-42',
    'Replicate_Do_Domain_Ids': '', 'Replicate_Ignore_Domain_Ids': '', 'Parallel_Mode': 'optimistic',
    'SQL_Delay': 0, 'SQL_Remaining_Delay': None, 'Slave_SQL_Running_State': 'Slave has read all relay log',
    'Slave_DDL_Groups': 2, 'Slave_Non_Transactional_Groups': 0, 'Slave_Transactional_Groups': 40,
    'Gtid_Slave_Pos': '0-11-42',
}

MYSQL_STATUS = {
    'Replica_IO_State': 'Waiting for source to send event',
    'Source_Host': '10.20.0.11', 'Source_User': 'repl', 'Source_Port': 3306, 'Connect_Retry': 60,
    'Source_Log_File': 'binlog.000002', 'Read_Source_Log_Pos': 927, 'Relay_Log_File': 'relay.000002',
    'Relay_Log_Pos': 1145, 'Relay_Source_Log_File': 'binlog.000002',
    'Replica_IO_Running': 'Connecting', 'Replica_SQL_Running': 'Yes',
    'Last_Errno': 0, 'Last_Error': '', 'Skip_Counter': 0, 'Exec_Source_Log_Pos': 927,
    'Source_SSL_Allowed': 'Yes', 'Source_SSL_CA_File': '/etc/mysql/tls/ca.pem', 'Source_SSL_CA_Path': '',
    'Source_SSL_Cert': '', 'Source_SSL_Cipher': '', 'Source_SSL_Key': '', 'Seconds_Behind_Source': None,
    'Source_SSL_Verify_Server_Cert': 'Yes', 'Last_IO_Errno': 2003,
    'Last_IO_Error': "Error connecting to source 'repl@10.20.0.11:3306'. This was attempt 3/86400, with a delay of"
                     " 60 seconds between attempts. Message: Can't connect to MySQL server on '10.20.0.11:3306' (111)",
    'Last_SQL_Errno': 0, 'Last_SQL_Error': '', 'Source_Server_Id': 11,
    'Source_UUID': '3e11fa47-71ca-11e1-9e33-c80aa9429562',
    'Replica_SQL_Running_State': 'Replica has read all relay log; waiting for more updates',
    'Retrieved_Gtid_Set': '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5',
    'Executed_Gtid_Set': '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n'
                         '7a21b3c4-71ca-11e1-9e33-c80aa9429562:1-2',
    'Auto_Position': 1, 'Replicate_Rewrite_DB': '', 'Channel_Name': '', 'Source_TLS_Version': '',
    'Source_public_key_path': '', 'Get_Source_public_key': 0, 'Network_Namespace': '',
}


# -- Dialect selection ----------------------------------------------------------------------------------

@pytest.mark.parametrize('version, expected', sorted(MARIADB_VERSIONS.items()))
def test_mariadb_versions_select_the_mariadb_dialect(version, expected):
    dialect = mariadb(version)
    assert dialect.flavour == 'mariadb' and dialect.version == expected and dialect.replica == 'REPLICA'


def test_mariadb_is_recognised_by_the_version_comment_too():
    assert _mysql.parse_server_version('10.11.6', 'mariadb.org binary distribution').flavour == 'mariadb'


@pytest.mark.parametrize('version, expected', [('8.0.23', (8, 0, 23)), ('8.0.36-0ubuntu0.22.04.1', (8, 0, 36)),
                                               ('8.4.3', (8, 4, 3)), ('9.1.0-commercial', (9, 1, 0))])
def test_mysql_versions_select_the_mysql_dialect(version, expected):
    dialect = mysql(version)
    assert dialect.flavour == 'mysql' and dialect.version == expected and dialect.replica == 'REPLICA'


@pytest.mark.parametrize('version, comment, message', [
    ('8.0.22', 'MySQL Community Server - GPL', 'MySQL 8.0.22 is not supported: replication needs MySQL 8.0.23 or newer'),
    ('5.7.44-log', 'MySQL Community Server (GPL)', 'MySQL 5.7.44 is not supported: replication needs MySQL 8.0.23'),
    ('10.4.32-MariaDB', '', 'MariaDB 10.4.32 is not supported: replication needs MariaDB 10.5.0 or newer'),
])
def test_old_versions_are_refused_naming_version_and_minimum(version, comment, message):
    with pytest.raises(MySQLError, match=message.replace('.', r'\.')):
        _mysql.select_dialect(version, comment)


def test_mariadb_10_5_0_uses_the_slave_keyword():
    dialect = mariadb('10.5.0-MariaDB')
    assert dialect.show_replica_status() == ('SHOW SLAVE STATUS', ())
    assert dialect.start_replica() == ('START SLAVE', ())
    assert dialect.reset_replica_all() == ('RESET SLAVE ALL', ())


def test_an_unreadable_version_is_an_error():
    with pytest.raises(MySQLError, match="cannot read the server version from 'garbage'"):
        _mysql.parse_server_version('garbage')


# -- Statements -----------------------------------------------------------------------------------------

@pytest.mark.parametrize('make', [mariadb, mysql])
def test_thread_statements(make):
    dialect = make()
    assert dialect.show_replica_status() == ('SHOW REPLICA STATUS', ())
    assert dialect.start_replica() == ('START REPLICA', ())
    assert dialect.stop_replica() == ('STOP REPLICA', ())
    assert dialect.reset_replica_all() == ('RESET REPLICA ALL', ())


def test_gtid_queries():
    assert mariadb().gtid_query()[0] == ('SELECT @@GLOBAL.gtid_slave_pos AS gtid_slave_pos, @@GLOBAL.gtid_binlog_pos AS'
                                         ' gtid_binlog_pos, @@GLOBAL.gtid_current_pos AS gtid_current_pos')
    assert mysql().gtid_query()[0] == 'SELECT @@GLOBAL.gtid_executed AS gtid_executed, @@GLOBAL.gtid_purged AS gtid_purged'


def test_set_gtid_position_binds_the_position():
    assert mariadb().set_gtid_position('0-11-42') == [('SET GLOBAL gtid_slave_pos = %s', ('0-11-42',))]
    gtid = '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5'
    assert mysql('8.4.0').set_gtid_position(gtid) == [('RESET BINARY LOGS AND GTIDS', ()),
                                                      ('SET GLOBAL gtid_purged = %s', (gtid,))]
    assert mysql('8.0.36').set_gtid_position(gtid)[0] == ('RESET MASTER', ())


def test_change_master_on_mariadb():
    sql, params = mariadb().change_source(dict(host='10.20.0.11', port=3306, user='repl', password=PASSWORD))
    assert sql == ('CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, MASTER_PASSWORD = %s,'
                   ' MASTER_USE_GTID = slave_pos')
    assert params == ('10.20.0.11', 3306, 'repl', PASSWORD)
    assert isinstance(params[3], Secret)


def test_change_replication_source_on_mysql():
    sql, params = mysql().change_source(dict(host='db1.example.com', port=3307, user='repl', password=PASSWORD,
                                             connect_retry=10, ssl=True, ssl_ca='/tls/ca.pem',
                                             ssl_verify_server_cert=True, get_public_key=False))
    assert sql == ('CHANGE REPLICATION SOURCE TO SOURCE_HOST = %s, SOURCE_PORT = %s, SOURCE_USER = %s,'
                   ' SOURCE_PASSWORD = %s, SOURCE_CONNECT_RETRY = %s, SOURCE_SSL = %s, SOURCE_SSL_CA = %s,'
                   ' SOURCE_SSL_VERIFY_SERVER_CERT = %s, GET_SOURCE_PUBLIC_KEY = %s, SOURCE_AUTO_POSITION = 1')
    assert params == ('db1.example.com', 3307, 'repl', PASSWORD, 10, 1, '/tls/ca.pem', 1, 0)


def test_change_master_tls_options_on_mariadb():
    sql, params = mariadb().change_source(dict(host='fd00::11', ssl=True, ssl_ca='/tls/ca.pem', ssl_cert='/tls/c.pem',
                                               ssl_key='/tls/k.pem', ssl_verify_server_cert=False))
    assert sql == ('CHANGE MASTER TO MASTER_HOST = %s, MASTER_SSL = %s, MASTER_SSL_CA = %s, MASTER_SSL_CERT = %s,'
                   ' MASTER_SSL_KEY = %s, MASTER_SSL_VERIFY_SERVER_CERT = %s, MASTER_USE_GTID = slave_pos')
    assert params == ('fd00::11', 1, '/tls/ca.pem', '/tls/c.pem', '/tls/k.pem', 0)


@pytest.mark.parametrize('settings, message', [
    (dict(port=3306), 'the primary host is required'),
    (dict(host='bad host'), "primary host 'bad host' is neither an IP address nor a valid host name"),
    (dict(host='db1', port=0), 'primary port must be an integer between 1 and 65535, not 0'),
    (dict(host='db1', port='3306'), "primary port must be an integer between 1 and 65535, not '3306'"),
    (dict(host='db1', user=''), 'replication user must be a non-empty string'),
    (dict(host='db1', password='x' * 33), 'replication password is invalid: a replication password has at most 32'),
    (dict(host='db1', connect_retry=0), 'connect_retry must be a number of seconds'),
    (dict(host='db1', ssl='yes'), "ssl must be a boolean, not 'yes'"),
    (dict(host='db1', mode='x'), 'unknown replication settings: mode'),
])
def test_change_source_refuses_bad_values(settings, message):
    with pytest.raises(MySQLError, match=message):
        mysql().change_source(settings)


def test_get_public_key_is_refused_on_mariadb():
    with pytest.raises(MySQLError, match='get_public_key is a MySQL setting'):
        mariadb().change_source(dict(host='db1', get_public_key=True))


def test_a_refused_password_is_not_in_the_message():
    with pytest.raises(MySQLError) as error:
        mysql().change_source(dict(host='db1', password='p' * 40))
    assert 'ppp' not in str(error.value)


# -- Masking --------------------------------------------------------------------------------------------

def test_masked_replaces_the_password_and_renders_the_other_values():
    statement = mariadb().change_source(dict(host='10.20.0.11', port=3306, user="re'pl", password=PASSWORD))
    shown = _mysql.masked(*statement)
    assert shown == ("CHANGE MASTER TO MASTER_HOST = '10.20.0.11', MASTER_PORT = 3306, MASTER_USER = 're\\'pl',"
                     " MASTER_PASSWORD = '********', MASTER_USE_GTID = slave_pos")
    assert 's3cr' not in shown


def test_masked_without_parameters_and_secret_repr():
    assert _mysql.masked('STOP REPLICA', ()) == 'STOP REPLICA'
    assert _mysql.masked("SHOW GRANTS FOR 'repl'@'%%'", ()) == "SHOW GRANTS FOR 'repl'@'%'"
    assert _mysql.masked('SET GLOBAL gtid_slave_pos = %s', ('0-1-2',)) == "SET GLOBAL gtid_slave_pos = '0-1-2'"
    assert repr(Secret(PASSWORD)) == "'********'" and str(Secret(PASSWORD)) == PASSWORD


def test_masked_escapes_like_pymysql():
    import pymysql.converters

    value = "a'b\"c\\d\ne\rf\x00g\x1a"
    assert _mysql.masked('%s', (value,)) == pymysql.converters.escape_str(value)


# -- Quoting and validation -----------------------------------------------------------------------------

def test_quote_identifier():
    assert _mysql.quote_identifier('heartbeat') == '`heartbeat`'
    assert _mysql.format_literal(_mysql.quote_identifier('100%')) == '`100%%`'
    assert _mysql.quote_identifier('hna', 'heart`beat') == '`hna`.`heart``beat`'
    for bad in ('', 'x' * 65, 'a\x00b', 'trailing '):
        with pytest.raises(MySQLError, match='invalid identifier'):
            _mysql.quote_identifier(bad)


@pytest.mark.parametrize('host', ['db1', 'db-1.example.com', '10.20.0.11', 'fd00::11', 'db1.example.com.', 'stack_db_1'])
def test_valid_hosts(host):
    assert _mysql.validate_host(host) == host


@pytest.mark.parametrize('host', ['', 'a b', '-db', 'db-', 'a..b', "db1'", 'db1;DROP', 'x' * 64 + '.com', 'a.' * 127 + 'b', None])
def test_invalid_hosts(host):
    with pytest.raises(MySQLError):
        _mysql.validate_host(host)


def test_ports_and_users():
    assert _mysql.validate_port(65535) == 65535
    for bad in (0, 65536, True, '3306', None):
        with pytest.raises(MySQLError):
            _mysql.validate_port(bad)
    assert _mysql.validate_user('u' * 80, 'mariadb')
    with pytest.raises(MySQLError, match='at most 32 characters'):
        _mysql.validate_user('u' * 33, 'mysql')
    with pytest.raises(MySQLError, match='no control characters'):
        _mysql.validate_user('a\nb')


# -- Connection options and option file -----------------------------------------------------------------

def test_argument_spec_merges_and_hides_the_password():
    spec = _mysql.mysql_argument_spec(state=dict(type='str'))
    assert spec['login_password']['no_log'] is True and spec['state'] == dict(type='str')
    spec['login_host']['default'] = 'changed'
    assert _mysql.MYSQL_CONNECTION_ARGSPEC['login_host']['default'] == 'localhost'


def test_connect_kwargs_plain_and_tls():
    kwargs = _mysql.connect_kwargs(dict(login_host='10.0.0.1', login_port=3307, login_user='admin',
                                        login_password='pässword', connect_timeout=5))
    assert kwargs['host'] == '10.0.0.1' and kwargs['port'] == 3307 and kwargs['user'] == 'admin'
    assert kwargs['password'] == 'pässword'.encode('utf-8') and kwargs['charset'] == 'utf8mb4'
    assert kwargs['local_infile'] is False and 'ssl_ca' not in kwargs and 'unix_socket' not in kwargs
    tls = _mysql.connect_kwargs(dict(ca_cert='/ca.pem', client_cert='/c.pem', client_key='/k.pem', check_hostname=False))
    assert (tls['ssl_ca'], tls['ssl_cert'], tls['ssl_key'], tls['ssl_verify_cert'], tls['ssl_verify_identity']) == \
        ('/ca.pem', '/c.pem', '/k.pem', True, False)
    assert _mysql.connect_kwargs(dict(login_unix_socket='/run/mysqld/mysqld.sock'))['unix_socket'] == '/run/mysqld/mysqld.sock'
    with pytest.raises(MySQLError, match='login_port must be an integer'):
        _mysql.connect_kwargs(dict(login_port=0))


def test_connect_to_a_closed_port_is_one_clear_line():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(MySQLError) as error:
            _mysql.connect(dict(login_host='127.0.0.1', login_port=port, login_password=PASSWORD, connect_timeout=5))
    message = str(error.value)
    assert message.startswith('cannot reach the MySQL server at 127.0.0.1:%d (error 2003' % port)
    assert '\n' not in message and PASSWORD not in message


def test_describe_error_of_wrong_credentials():
    import pymysql.err

    exc = pymysql.err.OperationalError(1045, "Access denied for user 'repl'@'10.0.0.2' (using password: YES)")
    assert _mysql.describe_error(exc, dict(login_host='db1', login_port=3306, login_user='repl')) == (
        "access denied for user repl on the MySQL server at db1:3306 (error 1045: Access denied for user"
        " 'repl'@'10.0.0.2' (using password: YES)): check login_user and login_password")


def test_option_file_values_are_quoted_for_the_option_file_parser():
    assert _mysql.option_file_value('plain') == '"plain"'
    assert _mysql.option_file_value('a"b\\c#d\ne\'f') == '"a\\"b\\\\c#d\\ne\'f"'
    with pytest.raises(MySQLError):
        _mysql.option_file_value('a\x00b')


def _parse_option_value(text):
    """The value the MySQL/MariaDB option file parser (mysys/my_default.c) reads from ``key=text``."""
    value = text.strip()
    if len(value) > 1 and value[0] in '"\'' and value[0] == value[-1]:
        value = value[1:-1]
    escapes = {'n': '\n', 't': '\t', 'r': '\r', 'b': '\b', 's': ' ', '"': '"', "'": "'", '\\': '\\'}
    out, index = [], 0
    while index < len(value):
        char = value[index]
        if char == '\\' and index != len(value) - 1:
            index += 1
            out.append(escapes.get(value[index], '\\' + value[index]))
        else:
            out.append(char)
        index += 1
    return ''.join(out)


@pytest.mark.parametrize('secret', [PASSWORD, ' lead and trail ', 'x\\', '"', "'quoted'", 'tab\there', 'ünï'])
def test_option_file_values_round_trip_through_the_parser_rules(secret):
    assert _parse_option_value(_mysql.option_file_value(secret)) == secret


def test_client_option_file_content_mode_and_removal(tmp_path):
    params = dict(login_host='10.0.0.1', login_port=3307, login_user='backup', login_password=PASSWORD,
                  connect_timeout=7, ca_cert='/tls/ca.pem', check_hostname=True)
    with _mysql.client_option_file(params, directory=str(tmp_path)) as path:
        assert os.path.dirname(path) == str(tmp_path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(path, encoding='utf-8') as handle:
            content = handle.read()
    assert content == ('[client]\nuser="backup"\npassword="s3cr\'et\\\\pa\\"ss#word"\nhost="10.0.0.1"\nport=3307\n'
                       'protocol=TCP\nloose-connect-timeout=7\nssl-ca="/tls/ca.pem"\nssl-verify-server-cert\n')
    assert not os.path.exists(path)


@pytest.mark.parametrize('params, flavour, tls_lines', [
    (dict(ca_cert='/ca.pem'), 'mysql', ['ssl-ca="/ca.pem"', 'ssl-mode=VERIFY_IDENTITY']),
    (dict(ca_cert='/ca.pem', check_hostname=False), 'mysql', ['ssl-ca="/ca.pem"', 'ssl-mode=VERIFY_CA']),
    (dict(client_cert='/c.pem', client_key='/k.pem'), 'mysql', ['ssl-cert="/c.pem"', 'ssl-key="/k.pem"', 'ssl-mode=REQUIRED']),
    (dict(ca_cert='/ca.pem', check_hostname=False), 'mariadb', ['ssl-ca="/ca.pem"']),
    (dict(), 'mysql', []),
])
def test_option_file_tls_options_per_client_flavour(params, flavour, tls_lines):
    lines = _mysql.option_file_content(params, flavour=flavour).splitlines()
    assert lines[:6] == ['[client]', 'user="root"', 'host="localhost"', 'port=3306', 'protocol=TCP', 'loose-connect-timeout=30']
    assert lines[6:] == tls_lines


def test_client_option_file_is_removed_after_an_error(tmp_path):
    with pytest.raises(RuntimeError):
        with _mysql.client_option_file(dict(login_unix_socket='/run/mysqld.sock'), directory=str(tmp_path)) as path:
            with open(path, encoding='utf-8') as handle:
                assert handle.read() == '[client]\nuser="root"\nsocket="/run/mysqld.sock"\nloose-connect-timeout=30\n'
            raise RuntimeError('tool failed')
    assert not os.listdir(tmp_path)


# -- Replica status -------------------------------------------------------------------------------------

def test_mariadb_status_is_normalised():
    status = _mysql.normalize_replica_status(MARIADB_STATUS)
    assert status == dict(
        source_host='10.20.0.11', source_port=3306, source_user='repl', io_running='Yes', sql_running='Yes',
        io_state='Waiting for master to send event', running=True, seconds_behind=0, last_io_errno=0,
        last_io_error='', last_sql_errno=0, last_sql_error='', connect_retry=60, ssl=False, ssl_ca='', ssl_cert='',
        ssl_key='', ssl_verify_server_cert=False, using_gtid='slave_pos', gtid_io_pos='0-11-42',
        gtid_slave_pos='0-11-42')


def test_mysql_status_is_normalised():
    status = _mysql.normalize_replica_status(MYSQL_STATUS)
    assert status['source_host'] == '10.20.0.11' and status['source_port'] == 3306 and status['source_user'] == 'repl'
    assert (status['io_running'], status['sql_running'], status['running']) == ('Connecting', 'Yes', False)
    assert status['seconds_behind'] is None
    assert status['last_io_errno'] == 2003 and status['last_io_error'].startswith("Error connecting to source")
    assert status['ssl'] is True and status['ssl_ca'] == '/etc/mysql/tls/ca.pem' and status['ssl_verify_server_cert']
    assert status['using_gtid'] == 'auto_position' and status['get_public_key'] is False
    assert status['executed_gtid_set'] == ('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,'
                                           '7a21b3c4-71ca-11e1-9e33-c80aa9429562:1-2')


def test_broken_sql_thread_keeps_the_error_number_and_text():
    row = dict(MARIADB_STATUS, Slave_SQL_Running='No', Last_SQL_Errno=1062, Seconds_Behind_Master=None,
               Last_SQL_Error="Could not execute Write_rows_v1 event on table app.t; Duplicate entry '7' for key"
                              " 'PRIMARY', Error_code: 1062")
    status = _mysql.normalize_replica_status(row)
    assert status['sql_running'] == 'No' and status['running'] is False and status['seconds_behind'] is None
    assert status['last_sql_errno'] == 1062 and "Duplicate entry '7'" in status['last_sql_error']


def test_no_status_row_is_no_replica():
    assert _mysql.normalize_replica_status(None) is None
    assert _mysql.normalize_replica_status({}) is None


# -- Roles ----------------------------------------------------------------------------------------------

REPLICA = _mysql.normalize_replica_status(MARIADB_STATUS)
# After RESET REPLICA (without ALL) the row stays with an empty host.
UNCONFIGURED = _mysql.normalize_replica_status(dict(MARIADB_STATUS, Master_Host='', Slave_IO_Running='No',
                                                    Slave_SQL_Running='No'))


@pytest.mark.parametrize('status, log_bin, read_only, replicas, role', [
    (None, 1, 0, 0, 'primary'),
    (None, 'ON', 'ON', 2, 'primary'),
    (REPLICA, 1, 1, 0, 'replica'),
    (REPLICA, 0, 0, 0, 'replica'),
    (REPLICA, 1, 1, 1, 'both'),
    (REPLICA, 1, 0, 0, 'both'),
    (None, 0, 0, 0, 'none'),
    (None, 1, 1, 0, 'none'),
    (UNCONFIGURED, 1, 1, 0, 'none'),
])
def test_role_detection(status, log_bin, read_only, replicas, role):
    assert _mysql.detect_role(status, log_bin, read_only, replicas) == role


# -- Settings diff --------------------------------------------------------------------------------------

def test_diff_of_an_unchanged_replica_is_empty():
    wanted = dict(host='10.20.0.11', port=3306, user='repl', password=PASSWORD, ssl=False)
    assert _mysql.settings_diff(wanted, REPLICA) == ([], {}, {})
    mysql_wanted = dict(host='10.20.0.11', port=3306, user='repl', ssl=True, ssl_ca='/etc/mysql/tls/ca.pem',
                        ssl_verify_server_cert=True, connect_retry=60, get_public_key=False)
    assert _mysql.settings_diff(mysql_wanted, _mysql.normalize_replica_status(MYSQL_STATUS))[0] == []


def test_diff_lists_the_differing_fields():
    wanted = dict(host='10.20.0.12', port=3306, user='repl2', ssl=True, ssl_ca=None)
    fields, before, after = _mysql.settings_diff(wanted, REPLICA)
    assert fields == ['host', 'user', 'ssl']
    assert before == dict(host='10.20.0.11', user='repl', ssl=False)
    assert after == dict(host='10.20.0.12', user='repl2', ssl=True)


def test_diff_host_names_are_case_insensitive():
    status = _mysql.normalize_replica_status(dict(MARIADB_STATUS, Master_Host='DB1.example.com'))
    assert _mysql.settings_diff(dict(host='db1.example.com'), status)[0] == []


def test_diff_of_a_new_replica_lists_every_managed_field():
    fields, before, after = _mysql.settings_diff(dict(host='db1', port=3306, user='repl', password=PASSWORD), None)
    assert fields == ['host', 'port', 'user'] and before == dict(host=None, port=None, user=None)
    assert PASSWORD not in repr(after)
    assert _mysql.settings_diff(dict(host='db1'), UNCONFIGURED)[0] == ['host']


def test_diff_sees_a_replica_without_gtid_auto_position():
    mariadb_pos = _mysql.normalize_replica_status(dict(MARIADB_STATUS, Using_Gtid='No'))
    assert _mysql.settings_diff(dict(host='10.20.0.11'), mariadb_pos) == (
        ['using_gtid'], dict(using_gtid='no'), dict(using_gtid='slave_pos'))
    current_pos = _mysql.normalize_replica_status(dict(MARIADB_STATUS, Using_Gtid='Current_Pos'))
    assert _mysql.settings_diff(dict(host='10.20.0.11'), current_pos)[0] == ['using_gtid']
    mysql_pos = _mysql.normalize_replica_status(dict(MYSQL_STATUS, Auto_Position=0))
    assert _mysql.settings_diff(dict(host='10.20.0.11'), mysql_pos)[1] == dict(using_gtid='no')


# -- Connection helpers ---------------------------------------------------------------------------------

def test_connect_without_pymysql_names_the_missing_library(monkeypatch):
    monkeypatch.setattr(_mysql, 'HAS_PYMYSQL', False)
    with pytest.raises(MySQLError, match='Failed to import the required Python library \\(PyMySQL\\)'):
        _mysql.connect(dict(login_host='127.0.0.1'))


class _FakeCursor:
    def __init__(self, rows):
        self.rows = rows
        self.executed = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params):
        self.executed.append((sql, params))

    def fetchall(self):
        return tuple(self.rows)


class _FakeConnection:
    def __init__(self, rows):
        self.cursor_obj = _FakeCursor(rows)
        self.cursor_class = None

    def cursor(self, cursor_class):
        self.cursor_class = cursor_class
        return self.cursor_obj


def test_query_rows_uses_a_dict_cursor_and_binds_parameters():
    import pymysql.cursors

    connection = _FakeConnection([MARIADB_STATUS])
    assert _mysql.query_rows(connection, mariadb().show_replica_status()) == [MARIADB_STATUS]
    assert connection.cursor_class is pymysql.cursors.DictCursor
    assert connection.cursor_obj.executed == [('SHOW REPLICA STATUS', ())]
    _mysql.query_rows(connection, ('SET GLOBAL gtid_slave_pos = %s', ('0-1-2',)))
    assert connection.cursor_obj.executed[-1] == ('SET GLOBAL gtid_slave_pos = %s', ('0-1-2',))


def test_run_always_formats_so_a_literal_percent_is_doubled():
    import pymysql

    class Recorder(pymysql.cursors.Cursor):
        """A real PyMySQL cursor (real binding) whose queries are recorded instead of sent."""

        queries = []

        def _query(self, q):
            self.queries.append(q)
            return 0

    connection = pymysql.connect(defer_connect=True, charset='utf8mb4')  # never connects
    connection.server_status = 0
    cursor = Recorder(connection)
    table = _mysql.format_literal(_mysql.quote_identifier('t%'))
    _mysql.run(cursor, ('SELECT * FROM %s WHERE a = %%s' % table, ("x'y",)))
    _mysql.run(cursor, ("SHOW GRANTS FOR 'repl'@'%%'", ()))
    assert cursor.queries == ["SELECT * FROM `t%` WHERE a = 'x\\'y'", "SHOW GRANTS FOR 'repl'@'%'"]


# -- Replication errors ---------------------------------------------------------------------------------

def _broken(**columns):
    return _mysql.normalize_replica_status(dict(MARIADB_STATUS, Slave_IO_Running='No', **columns))


def test_a_running_replica_has_no_error():
    assert _mysql.explain_replica_error(REPLICA) is None
    assert _mysql.explain_replica_error(None) is None


@pytest.mark.parametrize('errno, text, expected', [
    (2003, "error connecting to master 'repl@10.20.0.11:3306' - retry-time: 60  maximum-retries: 86400  message: Can't"
           " connect to server on '10.20.0.11' (111 \"Connection refused\")",
     'the replica cannot reach the primary 10.20.0.11:3306 (IO error 2003: error connecting'),
    (1045, "error connecting to master 'repl@10.20.0.11:3306' - retry-time: 60  maximum-retries: 86400  message: Access"
           " denied for user 'repl'@'10.20.0.12' (using password: YES)",
     'the primary 10.20.0.11:3306 refused the replication user repl: wrong user name or password (IO error 1045'),
    (1227, 'Access denied; you need (at least one of) the REPLICATION SLAVE privilege(s) for this operation',
     'the replication user repl lacks the REPLICATION SLAVE privilege on the primary 10.20.0.11:3306 (IO error 1227'),
    (1236, "Got fatal error 1236 from master when reading data from binary log: 'Could not find GTID state requested by"
           " slave in any binlog files. Probably the slave state is too old and required binlog files have been purged.'",
     'the primary 10.20.0.11:3306 no longer has the binary logs with the GTIDs the replica needs (they were purged);'
     ' reseed the replica (reseed: true) (IO error 1236: Got fatal error 1236'),
    (13114, "Got fatal error 1236 from source when reading data from binary log: 'Cannot replicate because the source"
            " purged required binary logs. Replicate the missing transactions from elsewhere, or provision a new replica"
            " from backup.'", 'the primary 10.20.0.11:3306 no longer has the binary logs with the GTIDs the replica needs'),
    (1236, "Got fatal error 1236 from master when reading data from binary log: 'Error: connecting slave requested to"
           " start from GTID 0-12-50, which is not in the master's binlog. Since the master's binlog contains GTIDs with"
           " higher sequence numbers, it probably means that the slave has diverged due to executing extra erroneous"
           " transactions'",
     'the replica has diverged from the primary 10.20.0.11:3306 (it holds transactions the primary does not have:'
     ' errant transactions); reseed the replica (reseed: true)'),
    (1593, 'Fatal error: The slave I/O thread stops because master and slave have equal MariaDB server ids',
     'the replica cannot read from the primary 10.20.0.11:3306 (IO error 1593: Fatal error'),
])
def test_io_errors_are_explained_in_one_line(errno, text, expected):
    message = _mysql.explain_replica_error(_broken(Last_IO_Errno=errno, Last_IO_Error=text))
    assert message.startswith(expected) and '\n' not in message
    assert '(IO error %d: ' % errno in message and text in message


def test_sql_errors_keep_number_and_text():
    status = _mysql.normalize_replica_status(dict(MARIADB_STATUS, Slave_SQL_Running='No', Last_SQL_Errno=1062,
                                                  Last_SQL_Error="Duplicate entry '7' for key 'PRIMARY'"))
    assert _mysql.explain_replica_error(status) == (
        "the replica stopped applying the changes of the primary 10.20.0.11:3306 (SQL error 1062: Duplicate entry '7'"
        " for key 'PRIMARY')")


# -- GTID comparison ------------------------------------------------------------------------------------

def test_parse_mariadb_gtid_pos():
    assert _mysql.parse_mariadb_gtid_pos('0-11-42,1-12-7') == {0: (11, 42), 1: (12, 7)}
    assert _mysql.parse_mariadb_gtid_pos('') == {}
    with pytest.raises(MySQLError, match="invalid MariaDB GTID 'x-1-2'"):
        _mysql.parse_mariadb_gtid_pos('x-1-2')
    with pytest.raises(MySQLError, match='names domain 0 twice'):
        _mysql.parse_mariadb_gtid_pos('0-1-2,0-1-3')


@pytest.mark.parametrize('replica, primary, errant', [
    ('0-11-42', '0-11-42', []),
    ('0-11-40', '0-11-42', []),            # behind: not errant
    ('', '0-11-42', []),                  # empty replica
    ('0-12-43', '0-11-42', ['0-12-43']),  # wrote on the replica
    ('0-12-42', '0-11-42', ['0-12-42']),  # same seq_no, another server
    ('0-11-42,5-12-1', '0-11-42', ['5-12-1']),  # a domain the primary never saw
])
def test_mariadb_errant_gtids(replica, primary, errant):
    assert _mysql.mariadb_errant_gtids(replica, primary) == errant


def test_mysql_errant_gtids_query_binds_both_sets():
    replica = '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n7a21b3c4-71ca-11e1-9e33-c80aa9429562:1-2'
    assert _mysql.mysql_errant_gtids_query(replica, '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9') == (
        'SELECT GTID_SUBTRACT(%s, %s) AS errant',
        ('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,7a21b3c4-71ca-11e1-9e33-c80aa9429562:1-2',
         '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9'))


def test_doc_fragment_documents_exactly_the_connection_options():
    import yaml

    from ansible_collections.hna.cloudos.plugins.doc_fragments.mysql import ModuleDocFragment

    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    assert set(documented) == set(_mysql.MYSQL_CONNECTION_ARGSPEC)
    for name, spec in _mysql.MYSQL_CONNECTION_ARGSPEC.items():
        assert documented[name]['type'] == spec['type'], name
        assert documented[name].get('default') == spec.get('default'), name


def test_server_error_line_keeps_the_number_and_the_text_of_a_server_error():
    assert _mysql.server_error_line(Exception(1290, 'The MariaDB server is running with the --read-only option')) == (
        'MySQL error 1290: The MariaDB server is running with the --read-only option')


def test_server_error_line_is_none_for_other_exceptions():
    assert _mysql.server_error_line(ValueError('not a server error')) is None
    assert _mysql.server_error_line(Exception(1290)) is None
