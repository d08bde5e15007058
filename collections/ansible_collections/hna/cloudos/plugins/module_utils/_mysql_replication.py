# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runs of ``hna.cloudos.mysql_replication`` and ``hna.cloudos.mysql_replication_info``.

The replication module works in four steps:

1. read the replica (settings, threads, GTID positions, whether it holds any table) and, unless
   replication is being removed, check the primary: reachable, the replication account logs in and
   holds ``REPLICATION SLAVE``, the binary logs still hold what the replica needs, the replica has no
   transaction of its own (:func:`check_primary`);
2. plan (:func:`plan_replica`, pure): the statements that bring the replica to the wanted state, a
   seed when the replica is empty (or ``reseed``), and the settings before and after for diff mode;
3. unless in check mode, run the plan; a seed streams ``mariadb-dump`` of the primary into ``mariadb``
   on the replica inside the replica's container (:class:`Seeder`), and the replica then starts after
   the GTID position the dump itself recorded;
4. make the primary refresh its heartbeat tick row every second with an event of its scheduler
   (:func:`plan_tick`, run on the primary after the replica's steps, never on a read-only primary), then
   wait until both threads run and a heartbeat row written on the primary shows up on the replica
   within ``max_lag`` seconds (:class:`Heartbeat`).

Why not build on ``community.mysql.mysql_replication``: it runs one imperative ``mode`` per task, has no
check mode, reports a change whenever it is asked to change the primary, and neither checks the primary,
seeds, nor waits; the declarative comparison, the checks and the wait are the point of this module, and
they need the status, GTID and dialect helpers of ``_mysql`` anyway.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import error_text
from ansible_collections.hna.cloudos.plugins.module_utils._mysql_exec import read_archive
from ansible_collections.hna.cloudos.plugins.module_utils._mysql import (
    ER_ACCESS_DENIED,
    MARIADB,
    MYSQL_REQUIRED_TOGETHER,
    MySQLError,
    connect,
    server_error_line,
    detect_role,
    explain_replica_error,
    has_replication_privilege,
    is_configured_replica,
    mariadb_errant_gtids,
    mariadb_gtid_state_errant,
    mariadb_purged_gtids,
    masked,
    mysql_argument_spec,
    mysql_errant_gtids_query,
    normalize_replica_status,
    parse_mariadb_gtid_pos,
    option_file_content,
    query_rows,
    quote_identifier,
    run,
    select_dialect,
    server_address,
    settings_diff,
    current_settings,
    validate_settings,
)

#: Schema and table of the heartbeat rows the module writes on the primary (one row per replica server_id).
HEARTBEAT_SCHEMA = 'hna_cloudos'
HEARTBEAT_TABLE = 'heartbeat'

#: Schemas that belong to the server itself: they never make a replica "not empty".
SYSTEM_SCHEMAS = ('mysql', 'information_schema', 'performance_schema', 'sys')

#: How messages name the primary reached with the replication account and with the admin account.
PRIMARY_REPLICATION_NAMES = dict(role='primary', host='primary_host', port='primary_port', user='primary_user',
                                 password='primary_password', socket=None)
PRIMARY_ADMIN_NAMES = dict(role='primary', host='primary_host', port='primary_port', user='primary_admin_user',
                           password='primary_admin_password', socket=None)

#: Placeholder shown in check mode for the GTID position a seed will find in its dump.
SNAPSHOT_POSITION = '<GTID position of the snapshot>'

#: Seconds between two looks at the replica while waiting; in the first second after a heartbeat, the
#: replica is looked at more often, so that a small lag is measured finely.
POLL_INTERVAL = 0.2
FAST_POLL_INTERVAL = 0.01


class ReplicationError(Exception):
    """A failure of the module, as one line."""


# -- Options ----------------------------------------------------------------------------------------------

def replication_argument_spec():
    """The options of ``mysql_replication`` (a fresh dictionary each call)."""
    return mysql_argument_spec(
        state=dict(type='str', default='running', choices=['running', 'stopped', 'absent']),
        primary_host=dict(type='str'),
        primary_port=dict(type='int', default=3306),
        primary_user=dict(type='str'),
        primary_password=dict(type='str', no_log=True),
        primary_admin_user=dict(type='str'),
        primary_admin_password=dict(type='str', no_log=True),
        primary_connect_retry=dict(type='int'),
        primary_ssl=dict(type='bool'),
        primary_ssl_ca=dict(type='path'),
        primary_ssl_cert=dict(type='path'),
        primary_ssl_key=dict(type='path', no_log=False),
        primary_ssl_verify_server_cert=dict(type='bool'),
        primary_get_public_key=dict(type='bool'),
        seed=dict(type='str', default='auto', choices=['auto', 'never']),
        reseed=dict(type='bool', default=False),
        seed_container=dict(type='str'),
        seed_socket=dict(type='str', default='/run/mysqld/mysqld.sock'),
        seed_timeout=dict(type='int', default=3600),
        docker_host=dict(type='str', default='unix:///var/run/docker.sock'),
        read_only=dict(type='bool', default=True),
        max_lag=dict(type='float', default=5.0),
        wait_timeout=dict(type='int', default=300),
    )


REPLICATION_MODULE_KWARGS = dict(
    supports_check_mode=True,
    required_if=[
        ('state', 'running', ('primary_host', 'primary_user', 'primary_password')),
        ('state', 'stopped', ('primary_host', 'primary_user', 'primary_password')),
    ],
    required_together=MYSQL_REQUIRED_TOGETHER + [['primary_ssl_cert', 'primary_ssl_key']],
)


def info_argument_spec():
    """The options of ``mysql_replication_info`` (a fresh dictionary each call)."""
    return mysql_argument_spec()


INFO_MODULE_KWARGS = dict(supports_check_mode=True, required_together=MYSQL_REQUIRED_TOGETHER)


def wanted_settings(params):
    """The replication settings the task asks for, in the terms of ``_mysql.REPLICATION_SETTINGS``."""
    return dict(
        host=params['primary_host'],
        port=params['primary_port'],
        user=params['primary_user'],
        password=params['primary_password'],
        connect_retry=params.get('primary_connect_retry'),
        ssl=params.get('primary_ssl'),
        ssl_ca=params.get('primary_ssl_ca'),
        ssl_cert=params.get('primary_ssl_cert'),
        ssl_key=params.get('primary_ssl_key'),
        ssl_verify_server_cert=params.get('primary_ssl_verify_server_cert'),
        get_public_key=params.get('primary_get_public_key'),
    )


def primary_login(params, admin=False):
    """Connection options (``login_*``) for the primary, with the replication or the admin account."""
    if admin:
        user = params.get('primary_admin_user') or params.get('login_user') or 'root'
        password = params.get('primary_admin_password')
        if password is None and not params.get('primary_admin_user'):
            password = params.get('login_password')
    else:
        user, password = params['primary_user'], params['primary_password']
    return dict(
        login_host=params['primary_host'],
        login_port=params['primary_port'],
        login_user=user,
        login_password=password,
        ca_cert=params.get('primary_ssl_ca'),
        client_cert=params.get('primary_ssl_cert'),
        client_key=params.get('primary_ssl_key'),
        check_hostname=bool(params.get('primary_ssl_verify_server_cert')),
        connect_timeout=params.get('connect_timeout') or 30,
    )


# -- Reading a server ---------------------------------------------------------------------------------------

def read_dialect(connection):
    """The :class:`_mysql.Dialect` of a connected server."""
    row = query_rows(connection, ('SELECT VERSION() AS version, @@version_comment AS version_comment', ()))[0]
    return select_dialect(row['version'], row['version_comment'])


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return '' if value is None else str(value)


def read_replica(connection, dialect):
    """What the module needs to know about the replica: status, GTID positions, settings, user tables."""
    rows = query_rows(connection, dialect.show_replica_status())
    status = normalize_replica_status(rows[0] if rows else None)
    gtid = dict((key, _text(value)) for key, value in query_rows(connection, dialect.gtid_query())[0].items())
    if dialect.is_mariadb:
        gtid['gtid_binlog_state'] = _text(query_rows(
            connection, ('SELECT @@GLOBAL.gtid_binlog_state AS state', ()))[0]['state'])
    settings = query_rows(connection, dialect.server_settings_query())[0]
    placeholders = ', '.join(['%s'] * len(SYSTEM_SCHEMAS))
    tables = query_rows(connection, (
        'SELECT TABLE_SCHEMA AS name, COUNT(*) AS tables FROM information_schema.TABLES'
        ' WHERE TABLE_SCHEMA NOT IN (%s) GROUP BY TABLE_SCHEMA' % placeholders, SYSTEM_SCHEMAS))
    schemas = query_rows(connection, (
        'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (%s)'
        ' ORDER BY SCHEMA_NAME' % placeholders, SYSTEM_SCHEMAS))
    return dict(
        status=status,
        gtid=gtid,
        read_only=_text(settings['read_only']).lower() in ('1', 'on'),
        log_bin=_text(settings['log_bin']),
        server_id=int(settings['server_id']),
        user_tables=sum(int(row['tables']) for row in tables),
        user_schemas=[_text(row['name']) for row in schemas],
    )


def never_replicated(dialect, replica):
    """Whether the replica never replicated: no source configured and (MariaDB) an empty ``gtid_slave_pos``."""
    if is_configured_replica(replica['status']):
        return False
    if dialect.is_mariadb:
        return not replica['gtid'].get('gtid_slave_pos')
    return True


def is_empty(dialect, replica):
    """An empty replica: it never replicated and its user schemas (if any) hold no table or view."""
    return never_replicated(dialect, replica) and replica['user_tables'] == 0


# -- Checking the primary -----------------------------------------------------------------------------------

def check_replication_account(connection, params):
    """Fail unless the replication account holds ``REPLICATION SLAVE`` on the primary."""
    grants = [list(row.values())[0] for row in query_rows(connection, ('SHOW GRANTS', ()))]
    if not has_replication_privilege(grants):
        raise ReplicationError(
            'primary_user %s lacks the REPLICATION SLAVE privilege (REPLICATION REPLICA in MariaDB) on the primary %s:'
            ' grant it on *.* to that account' % (params['primary_user'], server_address(primary_login(params))))


def read_primary(connection, dialect):
    """GTID facts of the primary: binary log on, its position and state, the position at its oldest binary log."""
    settings = query_rows(connection, dialect.server_settings_query())[0]
    facts = dict(log_bin=_text(settings['log_bin']), server_id=int(settings['server_id']))
    facts.update((key, _text(value)) for key, value in query_rows(connection, dialect.gtid_query())[0].items())
    if dialect.is_mariadb:
        facts['gtid_binlog_state'] = _text(query_rows(
            connection, ('SELECT @@GLOBAL.gtid_binlog_state AS state', ()))[0]['state'])
        logs = query_rows(connection, ('SHOW BINARY LOGS', ())) if facts['log_bin'].lower() in ('1', 'on') else []
        oldest = ''
        if logs:
            first = _text(logs[0]['Log_name'])
            oldest = _text(query_rows(connection, ('SELECT BINLOG_GTID_POS(%s, 4) AS pos', (first,)))[0]['pos'])
        facts['oldest_binlog_pos'] = oldest
    return facts


def gtid_problem(dialect, replica, primary, address, errant_from_primary=None):
    """One line when the primary cannot serve the replica (purged GTIDs, errant transactions), else ``None``.

    MariaDB: what the replica still needs (``gtid_slave_pos``) against the position at the start of the
    primary's oldest binary log; the replica's own transactions (its ``gtid_binlog_state`` and
    ``gtid_binlog_pos``) against the primary's. MySQL: ``errant_from_primary`` is the result of
    ``GTID_SUBTRACT`` computed on the primary, and ``gtid_purged`` of the primary against the
    replica's ``gtid_executed``.
    """
    if dialect.is_mariadb:
        purged = mariadb_purged_gtids(replica['gtid'].get('gtid_slave_pos', ''), primary.get('oldest_binlog_pos', ''))
        if purged:
            domain, have, oldest = purged[0]
            return ('the primary %s has purged binary logs that the replica still needs (domain %d: the replica is at %s,'
                    ' the oldest binary log of the primary starts after %s); set reseed: true to copy the data again'
                    % (address, domain, have or 'nothing', oldest))
        errant = sorted(set(mariadb_gtid_state_errant(replica['gtid'].get('gtid_binlog_state', ''),
                                                      primary.get('gtid_binlog_state', '')))
                        | set(mariadb_errant_gtids(replica['gtid'].get('gtid_binlog_pos', ''),
                                                   primary.get('gtid_binlog_pos', ''))))
    else:
        purged = primary.get('missing_for_replica')
        if purged:
            return ('the primary %s has purged binary logs with GTIDs the replica still needs (%s); set reseed: true to'
                    ' copy the data again' % (address, purged))
        errant = [errant_from_primary] if errant_from_primary else []
    if errant:
        return ('the replica has transactions the primary %s does not have (errant GTIDs %s): it has diverged; set'
                ' reseed: true to replace its data with a copy of the primary, or remove those transactions'
                % (address, ', '.join(errant)))
    return None


# -- Plan ------------------------------------------------------------------------------------------------------

def current_state(status):
    """``absent`` (no source), ``running`` (both threads run) or ``stopped``."""
    if not is_configured_replica(status):
        return 'absent'
    return 'running' if status['running'] else 'stopped'


def _any_thread_running(status):
    return bool(status) and (status['io_running'] in ('Yes', 'Connecting') or status['sql_running'] == 'Yes')


def plan_replica(params, dialect, replica):
    """What to do on the replica: a dict with ``steps``, ``seed`` (bool), ``reason`` and ``before``/``after``.

    Each step is ``('sql', (sql, params))``, ``('seed', None)`` (copy the primary) or ``('position', None)``
    (set the GTID position the seed found). Pure: no server needed.
    """
    state = params['state']
    status = replica['status']
    have = current_state(status)
    steps = []
    before = dict(state=have, settings=current_settings(status), read_only=replica['read_only'])
    after = dict(state=state, settings=dict(before['settings']), read_only=replica['read_only'])
    result = dict(steps=steps, seed=False, reason=None, before=before, after=after)

    if state == 'absent':
        after['settings'] = {}
        if have != 'absent':
            if _any_thread_running(status):
                steps.append(('sql', dialect.stop_replica()))
            steps.append(('sql', dialect.reset_replica_all()))
        return result

    wanted = validate_settings(wanted_settings(params), dialect.flavour)
    shown = dict((key, value) for key, value in wanted.items() if key != 'password' and value is not None)
    if params.get('reseed'):
        result.update(seed=True, reason='reseed')
    elif params.get('seed', 'auto') == 'auto' and is_empty(dialect, replica):
        result.update(seed=True, reason='empty')

    if result['seed']:
        if _any_thread_running(status):
            steps.append(('sql', dialect.stop_replica()))
        if is_configured_replica(status):
            steps.append(('sql', dialect.reset_replica_all()))
        # Nothing the module runs for the seed may enter the replica's own binary log: it would be a
        # transaction of the replica that the primary lacks (an errant GTID).
        steps.append(('sql', ('SET SESSION sql_log_bin = 0', ())))
        if result['reason'] == 'reseed':
            for schema in replica['user_schemas']:
                steps.append(('sql', ('DROP DATABASE %s' % quote_identifier(schema).replace('%', '%%'), ())))
        steps.append(('sql', dialect.reset_binary_logs()))
        steps.append(('seed', None))
        steps.append(('sql', ('FLUSH NO_WRITE_TO_BINLOG PRIVILEGES', ())))
        steps.append(('position', None))
        steps.append(('sql', dialect.change_source(wanted)))
        if state == 'running':
            steps.append(('sql', dialect.start_replica()))
        after['settings'] = dict(current_settings(None), **shown)
        after['seeded'] = True
    else:
        fields = settings_diff(wanted, status)[0]
        refused = bool(status) and status.get('last_io_errno') == ER_ACCESS_DENIED
        if have == 'absent' or fields or refused:
            # The password cannot be compared: it is sent with every change, and again when the primary
            # refuses the one the replica holds while the task's own login to it worked.
            if _any_thread_running(status):
                steps.append(('sql', dialect.stop_replica()))
            steps.extend(('sql', statement) for statement in _resume_position(dialect, replica, have, fields))
            steps.append(('sql', dialect.change_source(wanted)))
            if state == 'running':
                steps.append(('sql', dialect.start_replica()))
            after['settings'] = dict(before['settings'], **shown)
            if refused and not fields:
                after['password'] = 'sent again (the primary refused the one the replica holds)'
        elif state == 'running' and not status['running']:
            steps.append(('sql', dialect.start_replica()))
        elif state == 'stopped' and _any_thread_running(status):
            steps.append(('sql', dialect.stop_replica()))
    if state == 'running' and params.get('read_only', True) and not replica['read_only']:
        steps.append(('sql', ('SET GLOBAL read_only = ON', ())))
        after['read_only'] = True
    return result


def _resume_position(dialect, replica, have, fields):
    """Statements that make a server taking a new source start after everything it holds (MariaDB).

    A former primary (after a switchover or a failover) wrote transactions itself, which are in its
    binary log (``gtid_binlog_pos``) but not in ``gtid_slave_pos``, the position ``MASTER_USE_GTID =
    slave_pos`` asks the source for: an old slave position, from when it last replicated, is no longer in
    the new source's binary log and fails with error 1236 in strict mode. ``gtid_current_pos`` holds,
    per domain, the newer of the two (MariaDB "Global Transaction ID"), so the slave position becomes it.
    Transactions of its own that the new source lacks are refused before (errant GTIDs). MySQL
    auto-positioning sends the whole ``gtid_executed`` and needs nothing.
    """
    if not dialect.is_mariadb or not (have == 'absent' or set(fields) & {'host', 'port'}):
        return []
    current = replica['gtid'].get('gtid_current_pos') or ''
    if not current or current == (replica['gtid'].get('gtid_slave_pos') or ''):
        return []
    return dialect.set_gtid_position(current)


def plan_queries(dialect, steps, position=SNAPSHOT_POSITION):
    """The statements of a plan as the ``queries`` return value shows them (passwords masked)."""
    queries = []
    for kind, statement in steps:
        if kind == 'sql':
            queries.append(masked(*statement))
        elif kind == 'position':
            queries.extend(masked(*item) for item in dialect.set_gtid_position(position))
    return queries


# -- Seeding --------------------------------------------------------------------------------------------------

#: The GTID position a dump records: MariaDB ``mariadb-dump --gtid --master-data=2`` writes it at the end,
#: commented; MySQL ``mysqldump --set-gtid-purged=ON`` sets ``gtid_purged`` near the start.
_MARIADB_DUMP_GTID_RE = re.compile(r"^-- SET GLOBAL gtid_slave_pos='([0-9,\-]*)';", re.MULTILINE)
_MYSQL_DUMP_GTID_RE = re.compile(r"SET @@GLOBAL\.GTID_PURGED=(?:/\*!80000 '\+'\*/ )?'([^']*)';", re.IGNORECASE)

#: Bytes of the start and of the end of the stream the seed keeps to find the position.
_EDGE_BYTES = 65536


def dump_gtid_position(flavour, head, tail):
    """The GTID position recorded in a dump, from its first and last bytes; ``None`` when absent."""
    if flavour == MARIADB:
        found = _MARIADB_DUMP_GTID_RE.findall(tail) or _MARIADB_DUMP_GTID_RE.findall(head)
    else:
        found = _MYSQL_DUMP_GTID_RE.findall(head)
    if not found:
        return None
    return ''.join(found[-1].split())


def seed_commands(flavour, version, directory, timeout):
    """The dump and the import commands of a seed (lists of arguments; the credentials are in option files)."""
    primary = '--defaults-extra-file=%s/cnf/primary.cnf' % directory
    replica = '--defaults-extra-file=%s/cnf/replica.cnf' % directory
    if flavour == MARIADB:
        # MariaDB "mariadb-dump": --gtid with --master-data records gtid_slave_pos; 2 keeps it a comment, so the
        # module sets the position itself after the import. The copy of mysql.gtid_slave_pos of the primary would
        # overwrite the replica's own replication state: it is left out.
        dump = ['mariadb-dump', primary, '--single-transaction', '--gtid', '--master-data=2', '--all-databases',
                '--routines', '--triggers', '--events', '--hex-blob', '--ignore-table=mysql.gtid_slave_pos']
        load = ['mariadb', replica, '--binary-mode']
    else:
        # MySQL "mysqldump": --set-gtid-purged=ON writes SET @@GLOBAL.GTID_PURGED (and turns sql_log_bin off in
        # the stream); --source-data from 8.0.26, --master-data before.
        source_data = '--source-data=2' if version >= (8, 0, 26) else '--master-data=2'
        dump = ['mysqldump', primary, '--single-transaction', '--set-gtid-purged=ON', source_data, '--all-databases',
                '--routines', '--triggers', '--events', '--hex-blob']
        load = ['mysql', replica, '--binary-mode']
    wrap = ['timeout', '--kill-after=30', str(int(timeout))]
    return wrap + dump, wrap + load


def seed_script(flavour, version, directory, timeout):
    """The bash script of a seed: dump of the primary piped into the replica, with its figures and errors.

    Nothing secret in it: the credentials are in the option files of ``directory/cnf``. Results go to
    ``directory/out``: ``status`` (exit codes of the dump, the copy and the import), ``dump.err``,
    ``import.err``, ``head`` and ``tail`` (the edges of the stream, where the dump writes its GTID
    position), ``rest`` (bytes after the head), ``seconds``.
    """
    dump, load = seed_commands(flavour, version, directory, timeout)
    out = shlex.quote(directory + '/out')
    return '\n'.join([
        'set -u -o pipefail',
        'umask 077',
        'start=$(date +%s.%N)',
        "{ echo 'SET SESSION sql_log_bin = 0;'; %s 2>%s/dump.err; } \\" % (' '.join(shlex.quote(arg) for arg in dump), out),
        '  | tee >( { head -c %d > %s/head; wc -c > %s/rest; touch %s/counted; } ) \\' % (_EDGE_BYTES, out, out, out),
        '        >( { tail -c %d > %s/tail; touch %s/tailed; } ) \\' % (_EDGE_BYTES, out, out),
        '  | %s 2>%s/import.err' % (' '.join(shlex.quote(arg) for arg in load), out),
        'echo "${PIPESTATUS[*]}" > %s/status' % out,
        'end=$(date +%s.%N)',
        'for _ in $(seq 300); do [ -e %s/counted ] && [ -e %s/tailed ] && break; sleep 0.1; done' % (out, out),
        'echo "$start $end" > %s/seconds' % out,
    ]) + '\n'


def seed_failure(results, address):
    """One line for a failed seed from its results (exit codes and error output), or ``None`` when it worked."""
    codes = (results.get('status') or '').split()
    if len(codes) != 3:
        return 'the copy of the primary %s did not finish (no exit status); look at the replica server' % address
    dump, copy, load = (int(code) if code.isdigit() else -1 for code in codes)
    if dump == 124 or load == 124:
        return 'the copy of the primary %s took longer than seed_timeout and was stopped' % address
    if dump != 0:
        return 'the dump of the primary %s failed (exit %d): %s' % (address, dump, _last_lines(results.get('dump.err')))
    if load != 0:
        return 'the import into the replica failed (exit %d): %s' % (load, _last_lines(results.get('import.err')))
    if copy != 0:
        return 'the stream between the dump of the primary %s and the replica broke (tee exit %d)' % (address, copy)
    return None


def _last_lines(text, count=3):
    # The warning about the loose-connect-timeout of the option file is noise.
    lines = [line.strip() for line in (text or '').splitlines() if line.strip() and "'loose-" not in line]
    return ' '.join(lines[-count:]) or 'no error output'


def seed_figures(results):
    """Bytes streamed and seconds spent, from the results of a seed."""
    figures = {}
    head = results.get('head') or ''
    rest = (results.get('rest') or '').strip()
    if rest.isdigit():
        figures['bytes'] = len(head.encode('utf-8', 'surrogateescape')) + int(rest)
    times = (results.get('seconds') or '').split()
    if len(times) == 2:
        try:
            figures['seconds'] = round(float(times[1]) - float(times[0]), 3)
        except ValueError:
            pass
    if figures.get('bytes') is not None and figures.get('seconds'):
        figures['bytes_per_second'] = int(figures['bytes'] / figures['seconds'])
    return figures


def _archive(directory, files):
    """A tar archive with ``directory`` (mode 0700) and ``files`` in it (mode 0600), owned by root."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode='w') as archive:
        for name in (directory, directory + '/cnf', directory + '/out'):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o700
            archive.addfile(info)
        for name, content in sorted(files.items()):
            payload = content.encode('utf-8')
            info = tarfile.TarInfo('%s/cnf/%s' % (directory, name))
            info.mode = 0o600
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return data.getvalue()


class ContainerRunner:
    """Runs the seed inside the replica's container through the Docker engine (exec, put_archive, get_archive).

    Every engine error becomes a :class:`ReplicationError` of one line naming the container.
    """

    def __init__(self, client, container, warn=None):
        self.client = client
        self.api = client.api
        self.container = container
        self.warn = warn or (lambda message: None)
        self.directory = '/tmp/hna-seed-%s' % uuid.uuid4().hex

    def _call(self, what, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as exc:  # pylint: disable=broad-except
            # docker.errors.* and requests errors: one line, whatever the SDK raised.
            raise ReplicationError('seed_container %s on %s: could not %s: %s'
                                   % (self.container, self.client.docker_host, what, error_text(exc))) from None

    def check(self):
        """Fail unless the container exists and runs (before anything changes on the replica)."""
        state = self._call('inspect it', self.api.inspect_container, self.container).get('State') or {}
        if not state.get('Running'):
            raise ReplicationError('seed_container %s on %s does not run (status %s): the seed runs inside the container'
                                   ' of the replica server' % (self.container, self.client.docker_host,
                                                               state.get('Status', 'unknown')))

    def put(self, files):
        self._call('copy the option files into it', self.api.put_archive, self.container, '/',
                   _archive(self.directory.lstrip('/'), files))

    def run(self, script, timeout):
        exec_id = self._call('start the seed in it', self.api.exec_create, self.container, ['bash', '-c', script],
                             stdout=False, stderr=False)['Id']
        self._call('start the seed in it', self.api.exec_start, exec_id, detach=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._call('follow the seed', self.api.exec_inspect, exec_id).get('Running'):
                return
            time.sleep(1)

    def results(self):
        stream, _stat = self._call('read the results of the seed', self.api.get_archive, self.container,
                                   self.directory + '/out')
        return read_archive(b''.join(stream))

    def cleanup(self):
        """Remove the option files and the results; never fails the task, warns instead."""
        try:
            exec_id = self.api.exec_create(self.container, ['rm', '-rf', self.directory], stdout=True, stderr=True)['Id']
            self.api.exec_start(exec_id)
            code = self.api.exec_inspect(exec_id).get('ExitCode')
            if code:
                raise RuntimeError('rm exited with %s' % code)
        except Exception as exc:  # pylint: disable=broad-except
            self.warn('could not remove %s from seed_container %s (%s): remove it, it holds option files with passwords'
                      % (self.directory, self.container, error_text(exc)))

    def close(self):
        self.client.close()


class LocalRunner:
    """Runs the seed on the host of the module (``mariadb-dump`` and ``mariadb`` installed there)."""

    def __init__(self, flavour=MARIADB):
        self.directory = tempfile.mkdtemp(prefix='hna-seed-')
        self.tools = ('bash', 'timeout', 'tee') + (('mariadb-dump', 'mariadb') if flavour == MARIADB else ('mysqldump', 'mysql'))

    def check(self):
        missing = [tool for tool in self.tools if not shutil.which(tool)]
        if missing:
            raise ReplicationError('seeding without seed_container runs on this host, which lacks %s: set seed_container'
                                   ' to the container of the replica server' % ', '.join(missing))

    def close(self):
        self.cleanup()

    def put(self, files):
        for sub in ('cnf', 'out'):
            os.mkdir(os.path.join(self.directory, sub), 0o700)
        for name, content in files.items():
            path = os.path.join(self.directory, 'cnf', name)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, 'w', encoding='utf-8') as handle:
                handle.write(content)

    def run(self, script, timeout):
        with open(os.devnull, 'rb') as stdin:
            subprocess.run(['bash', '-c', script], stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=timeout, check=False)

    def results(self):
        result = {}
        out = os.path.join(self.directory, 'out')
        for name in os.listdir(out):
            with open(os.path.join(out, name), encoding='utf-8', errors='replace') as handle:
                result[name] = handle.read()
        return result

    def cleanup(self):
        shutil.rmtree(self.directory, ignore_errors=True)


def seed_option_files(params, flavour):
    """The option files of a seed: the primary (admin account, TCP) and the replica (its socket)."""
    primary = primary_login(params, admin=True)
    # TLS files named by the task are paths on the module's host, not in the container.
    primary = dict((key, value) for key, value in primary.items() if key not in ('ca_cert', 'client_cert', 'client_key'))
    replica = dict(login_user=params.get('login_user') or 'root', login_password=params.get('login_password'),
                   login_unix_socket=params.get('seed_socket') or '/run/mysqld/mysqld.sock')
    primary_file = option_file_content(primary, 'client', flavour)
    if params.get('primary_ssl') or params.get('primary_ssl_ca'):
        # Encrypted like the replica's own connection; the certificate files are not in the container, so the
        # dump cannot check the primary's certificate.
        primary_file += 'ssl\n' if flavour == MARIADB else 'ssl-mode=REQUIRED\n'
    return {
        'primary.cnf': primary_file,
        'replica.cnf': option_file_content(replica, 'client', flavour),
    }


def run_seed(runner, params, dialect, address):
    """Copy the primary into the replica with ``runner``; return ``(gtid_position, figures)``."""
    timeout = params.get('seed_timeout') or 3600
    script = seed_script(dialect.flavour, dialect.version, runner.directory, timeout)
    try:
        runner.put(seed_option_files(params, dialect.flavour))
        runner.run(script, timeout + 60)
        results = runner.results()
    finally:
        runner.cleanup()
    failure = seed_failure(results, address)
    if failure:
        raise ReplicationError(failure + '; the replica holds a partial copy: fix the cause and run again with reseed: true')
    position = dump_gtid_position(dialect.flavour, results.get('head') or '', results.get('tail') or '')
    if position is None:
        raise ReplicationError('the dump of the primary %s recorded no GTID position (is its binary log on?); the replica'
                               ' holds a copy it cannot start from: run again with reseed: true' % address)
    return position, seed_figures(results)


# -- Heartbeat ------------------------------------------------------------------------------------------------

class Heartbeat:
    """Lag measured end to end: a fresh token written on the primary, and the time until the replica has it.

    Row ``(server_id, token, ts)`` of ``hna_cloudos.heartbeat``, keyed by the replica's ``server_id`` so
    that several replicas of one primary never write the same row. The lag is measured on one clock
    (the module's), so it does not depend on the servers' clocks.
    """

    table = '%s.%s' % (quote_identifier(HEARTBEAT_SCHEMA), quote_identifier(HEARTBEAT_TABLE))

    def __init__(self, primary, replica, server_id):
        self.primary = primary
        self.replica = replica
        self.server_id = server_id
        self.ready = False

    def prepare(self):
        rows = query_rows(self.primary, (
            'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s',
            (HEARTBEAT_SCHEMA, HEARTBEAT_TABLE)))
        if not int(rows[0]['n']):
            with self.primary.cursor() as cursor:
                run(cursor, ('CREATE DATABASE IF NOT EXISTS %s' % quote_identifier(HEARTBEAT_SCHEMA), ()))
                run(cursor, ('CREATE TABLE IF NOT EXISTS %s (server_id INT UNSIGNED NOT NULL PRIMARY KEY,'
                             ' token CHAR(32) NOT NULL, ts DATETIME(6) NOT NULL) ENGINE=InnoDB' % self.table, ()))
        self.ready = True

    def beat(self):
        """Write a fresh token on the primary; return it."""
        if not self.ready:
            self.prepare()
        token = uuid.uuid4().hex
        with self.primary.cursor() as cursor:
            run(cursor, ('REPLACE INTO %s (server_id, token, ts) VALUES (%%s, %%s, UTC_TIMESTAMP(6))' % self.table,
                         (self.server_id, token)))
        return token

    def arrived(self, token):
        """Whether the replica has applied the row with ``token``."""
        try:
            rows = query_rows(self.replica, ('SELECT token FROM %s WHERE server_id = %%s' % self.table, (self.server_id,)))
        except Exception as exc:  # pylint: disable=broad-except
            # The schema or the table is not on the replica yet (errors 1049, 1146).
            if getattr(exc, 'args', (None,))[0] in (1049, 1146):
                return False
            raise
        return bool(rows) and _text(rows[0]['token']) == token


class PositionHeartbeat:
    """Lag measured without writing: the time until the replica holds the GTID position the primary has now.

    For a read-only primary (one frozen for a switchover), where a heartbeat row written with the admin
    account would become an errant transaction once another server takes over. Same interface as
    :class:`Heartbeat`: the token is the primary's position.
    """

    def __init__(self, primary, replica, dialect):
        self.primary = primary
        self.replica = replica
        self.dialect = dialect

    def beat(self):
        row = query_rows(self.primary, self.dialect.gtid_query())[0]
        return _text(row['gtid_binlog_pos' if self.dialect.is_mariadb else 'gtid_executed'])

    def arrived(self, token):
        if self.dialect.is_mariadb:
            have = parse_mariadb_gtid_pos(_text(query_rows(self.replica, self.dialect.gtid_query())[0]['gtid_slave_pos']))
            return all(domain in have and have[domain][1] >= seq_no
                       for domain, (_server_id, seq_no) in parse_mariadb_gtid_pos(token).items())
        rows = query_rows(self.replica, ('SELECT GTID_SUBSET(%s, @@GLOBAL.gtid_executed) AS done', (token,)))
        return bool(int(rows[0]['done']))


# -- The heartbeat tick on the primary ---------------------------------------------------------------------

#: The row the tick event refreshes every second; ``server_id`` 0 is never a replica's (MariaDB and MySQL
#: refuse to replicate with it), so the tick never collides with the rows :class:`Heartbeat` writes.
TICK_SERVER_ID = 0
TICK_EVENT = 'heartbeat_tick'
#: The account the event runs as: locked (nobody logs in with it), without SUPER / READ ONLY ADMIN, so that
#: ``read_only = ON`` blocks its writes. It holds what the tick needs and nothing else: SELECT, INSERT and
#: UPDATE on the heartbeat table (``INSERT ... ON DUPLICATE KEY UPDATE`` reads the columns it updates), and
#: EVENT on the heartbeat schema, which the scheduler wants from the definer at each run (without it MariaDB
#: logs "user no longer has EVENT privilege" and skips the run).
TICK_ACCOUNT = ('hna_heartbeat', 'localhost')
TICK_PRIVILEGES = {'*.*': frozenset(['USAGE']),
                   '%s.*' % HEARTBEAT_SCHEMA: frozenset(['EVENT']),
                   '%s.%s' % (HEARTBEAT_SCHEMA, HEARTBEAT_TABLE): frozenset(['SELECT', 'INSERT', 'UPDATE'])}

_GRANT_RE = re.compile(r'^GRANT\s+(.+?)\s+ON\s+(\S+)\s+TO\s', re.IGNORECASE)


def tick_event_name():
    return '%s.%s' % (quote_identifier(HEARTBEAT_SCHEMA), quote_identifier(TICK_EVENT))


def tick_body():
    """The ``DO`` clause of the tick event (as the server stores it in ``information_schema.EVENTS``).

    The first check keeps a read-only server (a primary frozen for a switchover, a replica) free of any
    write without an error in its log; the account's missing privileges are the guard behind it.
    """
    return ('BEGIN IF @@GLOBAL.read_only = 0 THEN INSERT INTO %s (server_id, token, ts)'
            ' VALUES (%d, @@GLOBAL.server_id, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE token = @@GLOBAL.server_id,'
            ' ts = UTC_TIMESTAMP(6); END IF; END' % (Heartbeat.table, TICK_SERVER_ID))


def _definer(user, host):
    return '%s@%s' % (user, host)


def read_tick(connection):
    """What the tick needs on the primary: read_only, event_scheduler, the table, the account, its grants, the event."""
    row = query_rows(connection, ('SELECT @@GLOBAL.read_only AS read_only, @@GLOBAL.event_scheduler AS scheduler', ()))[0]
    facts = dict(read_only=_text(row['read_only']).lower() in ('1', 'on'), scheduler=_text(row['scheduler']).upper(),
                 table=False, account=False, locked=False, grants={}, event=None)
    rows = query_rows(connection, (
        'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s',
        (HEARTBEAT_SCHEMA, HEARTBEAT_TABLE)))
    facts['table'] = bool(int(rows[0]['n']))
    rows = query_rows(connection, ('SELECT COUNT(*) AS n FROM mysql.user WHERE User = %s AND Host = %s', TICK_ACCOUNT))
    if int(rows[0]['n']):
        facts['account'] = True
        text = ' '.join(_text(value) for row in query_rows(connection, ('SHOW CREATE USER %s@%s', TICK_ACCOUNT))
                        for value in row.values())
        facts['locked'] = 'ACCOUNT LOCK' in text.upper()
        grants = {}
        for row in query_rows(connection, ('SHOW GRANTS FOR %s@%s', TICK_ACCOUNT)):
            match = _GRANT_RE.match(_text(list(row.values())[0]))
            if match:
                target = match.group(2).replace('`', '')
                privileges = set(item.strip().upper() for item in match.group(1).split(','))
                grants[target] = frozenset(grants.get(target, frozenset()) | privileges)
        facts['grants'] = grants
    rows = query_rows(connection, (
        'SELECT STATUS AS status, DEFINER AS definer, EVENT_DEFINITION AS body, INTERVAL_VALUE AS every,'
        ' INTERVAL_FIELD AS unit FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s AND EVENT_NAME = %s',
        (HEARTBEAT_SCHEMA, TICK_EVENT)))
    if rows:
        facts['event'] = dict((key, _text(value)) for key, value in rows[0].items())
    return facts


def plan_tick(facts, address):
    """Statements that make the primary tick every second (pure). Fails when the scheduler cannot be turned on.

    Returns ``[]`` when everything is in place, so that a rerun changes nothing.
    """
    steps = []
    if facts['scheduler'] == 'DISABLED':
        raise ReplicationError('the event scheduler of the primary %s is DISABLED, so its heartbeat cannot tick: start'
                               ' the server with event_scheduler=ON' % address)
    if facts['scheduler'] != 'ON':
        steps.append(('SET GLOBAL event_scheduler = ON', ()))
    if not facts['table']:
        steps.append(('CREATE DATABASE IF NOT EXISTS %s' % quote_identifier(HEARTBEAT_SCHEMA), ()))
        steps.append(('CREATE TABLE IF NOT EXISTS %s (server_id INT UNSIGNED NOT NULL PRIMARY KEY,'
                      ' token CHAR(32) NOT NULL, ts DATETIME(6) NOT NULL) ENGINE=InnoDB' % Heartbeat.table, ()))
    if not facts['account']:
        steps.append(('CREATE USER %s@%s ACCOUNT LOCK', TICK_ACCOUNT))
    elif not facts['locked']:
        steps.append(('ALTER USER %s@%s ACCOUNT LOCK', TICK_ACCOUNT))
    grants = facts['grants'] if facts['account'] else {'*.*': frozenset(['USAGE'])}
    if grants != TICK_PRIVILEGES:
        if any(not privileges <= TICK_PRIVILEGES.get(target, frozenset()) for target, privileges in grants.items()):
            steps.append(('REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s', TICK_ACCOUNT))
        steps.append(('GRANT EVENT ON %s.* TO %%s@%%s' % quote_identifier(HEARTBEAT_SCHEMA), TICK_ACCOUNT))
        steps.append(('GRANT SELECT, INSERT, UPDATE ON %s TO %%s@%%s' % Heartbeat.table, TICK_ACCOUNT))
    event = facts['event']
    definer = _definer(*TICK_ACCOUNT)
    if (event is None or ' '.join(event['body'].split()) != tick_body() or event['every'] != '1'
            or event['unit'].upper() != 'SECOND' or event['definer'].replace('`', '').replace("'", '') != definer):
        if event is not None:
            steps.append(('DROP EVENT IF EXISTS %s' % tick_event_name(), ()))
        steps.append(('CREATE DEFINER = %%s@%%s EVENT %s ON SCHEDULE EVERY 1 SECOND ON COMPLETION PRESERVE ENABLE'
                      ' COMMENT %%s DO %s' % (tick_event_name(), tick_body()),
                      TICK_ACCOUNT + ('heartbeat of hna.cloudos.mysql_replication',)))
    elif event['status'].upper() != 'ENABLED':
        # A copy replicated from a former primary (SLAVESIDE_DISABLED, REPLICA_SIDE_DISABLED in MySQL 8.3+):
        # this server is the primary now. The DEFINER clause keeps MySQL from making the caller the definer.
        steps.append(('ALTER DEFINER = %%s@%%s EVENT %s ENABLE' % tick_event_name(), TICK_ACCOUNT))
    return steps


def wait_for_replica(replica, dialect, heartbeat, max_lag, timeout, clock=time.monotonic, sleep=time.sleep):
    """Wait until both threads run and a heartbeat arrives within ``max_lag`` seconds; return ``(lag, status)``.

    Fails with the replica's own error (number and text) as soon as a thread stops on an error, or
    at ``timeout`` with what was seen last.
    """
    deadline = clock() + timeout
    token = sent = None
    lag = None
    status = None
    while True:
        rows = query_rows(replica, dialect.show_replica_status())
        status = normalize_replica_status(rows[0] if rows else None)
        if not status:
            raise ReplicationError('the replica has no replication configured any more (someone removed it meanwhile)')
        stopped_on_error = ((status['sql_running'] == 'No' and status['last_sql_errno'])
                            or (status['io_running'] == 'No' and status['last_io_errno']))
        if stopped_on_error:
            raise ReplicationError(explain_replica_error(status))
        now = clock()
        if status['running']:
            if token is None:
                token, sent = heartbeat.beat(), clock()
            elif heartbeat.arrived(token):
                lag = round(clock() - sent, 3)
                if lag <= max_lag:
                    return lag, status
                token = None
        if now >= deadline:
            break
        sleep(FAST_POLL_INTERVAL if token is not None and now - sent < 1 else POLL_INTERVAL)
    explanation = explain_replica_error(status)
    if explanation:
        raise ReplicationError('replication did not catch up within wait_timeout (%ss): %s' % (timeout, explanation))
    if not status['running']:
        raise ReplicationError('the replication threads do not run after wait_timeout (%ss): IO thread %s, SQL thread %s'
                               % (timeout, status['io_running'], status['sql_running']))
    if token is not None:
        seen = 'the last heartbeat, written %.1fs ago, has not reached it yet' % (clock() - sent)
    else:
        seen = 'the last heartbeat took %ss' % lag
    raise ReplicationError('the replica is still more than max_lag (%ss) behind the primary after wait_timeout (%ss): %s;'
                           ' Seconds_Behind_Master %s; raise wait_timeout or max_lag'
                           % (max_lag, timeout, seen, status.get('seconds_behind')))


def status_summary(status, gtid):
    """The ``status`` return value: threads, errors and GTID positions."""
    summary = dict(gtid)
    if status:
        for key in ('io_running', 'sql_running', 'running', 'io_state', 'seconds_behind', 'last_io_errno', 'last_io_error',
                    'last_sql_errno', 'last_sql_error', 'using_gtid', 'gtid_io_pos', 'retrieved_gtid_set'):
            if key in status:
                summary[key] = status[key]
    else:
        summary.update(io_running='No', sql_running='No', running=False)
    return summary


# -- The replication module -----------------------------------------------------------------------------------

class ReplicationTask:
    """One run of ``mysql_replication``: validate, plan, apply, wait."""

    def __init__(self, module, docker_client_factory=None):
        self.module = module
        self.params = module.params
        self.docker_client_factory = docker_client_factory
        self.result = dict(changed=False, queries=[], seeded=False)
        self.replica = None
        self.primary = None
        self.primary_read_only = False

    def fail(self, msg):
        self.module.fail_json(msg=' '.join(to_native(msg).split()), **self.result)

    def close(self):
        for connection in (self.replica, self.primary):
            if connection is not None:
                try:
                    connection.close()
                except Exception:  # pylint: disable=broad-except
                    pass

    def run(self):
        try:
            self._run()
        except (MySQLError, ReplicationError) as exc:
            self.close()
            self.fail(str(exc))
        except Exception as exc:  # pylint: disable=broad-except
            # A PyMySQL error in the middle of a run: keep its number and text, never a traceback with values.
            self.close()
            line = server_error_line(exc)
            if line:
                self.fail(line)
            raise
        self.close()
        self.module.exit_json(**self.result)

    def _run(self):
        params = self.params
        self.replica = connect(params)
        dialect = read_dialect(self.replica)
        facts = read_replica(self.replica, dialect)
        self.result['role_before'] = detect_role(facts['status'], facts['log_bin'], facts['read_only'])
        address = None
        if params['state'] != 'absent':
            address = server_address(primary_login(params))
            plan = plan_replica(params, dialect, facts)
            self._check_primary(dialect, facts, plan, address)
        else:
            plan = plan_replica(params, dialect, facts)
        steps = plan['steps']
        tick = self._plan_tick(plan, address) if params['state'] == 'running' else []
        self.result['settings'] = plan['after']['settings']
        if self.module._diff:
            self.result['diff'] = dict(before=plan['before'], after=plan['after'])
        if plan['seed']:
            self.result['seed_reason'] = plan['reason']
        runner = None
        if plan['seed']:
            # The container (or the local tools) must be there before anything changes on the replica.
            runner = self._runner(dialect)
            try:
                runner.check()
            except ReplicationError:
                runner.close()
                raise
        if self.module.check_mode:
            if runner is not None:
                runner.close()
            self.result.update(queries=plan_queries(dialect, steps) + [masked(*item) for item in tick],
                               changed=bool(steps or tick),
                               status=status_summary(facts['status'], facts['gtid']))
            return

        executed = []
        self.result['queries'] = executed
        position = None
        for kind, statement in steps:
            self.result['changed'] = True
            if kind == 'sql':
                with self.replica.cursor() as cursor:
                    run(cursor, statement)
                executed.append(masked(*statement))
            elif kind == 'seed':
                try:
                    position, figures = run_seed(runner, params, dialect, address)
                finally:
                    runner.close()
                self.result['seeded'] = True
                self.result['seed'] = figures
                self.result['seed']['gtid_position'] = position
            elif kind == 'position':
                for item in dialect.set_gtid_position(position):
                    with self.replica.cursor() as cursor:
                        run(cursor, item)
                    executed.append(masked(*item))
        if plan['seed']:
            placeholders = ', '.join(['%s'] * len(SYSTEM_SCHEMAS))
            rows = query_rows(self.replica, (
                'SELECT COALESCE(SUM(TABLE_ROWS), 0) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN (%s)'
                % placeholders, SYSTEM_SCHEMAS))
            self.result['seed']['rows_estimate'] = int(rows[0]['n'])

        for statement in tick:
            # On the primary, after the replica's own steps: a seed copies the primary before its event changes.
            self.result['changed'] = True
            with self.primary.cursor() as cursor:
                run(cursor, statement)
            executed.append(masked(*statement))

        if params['state'] == 'running':
            if self.primary_read_only:
                # Nothing may be written on a read-only primary: wait for its GTID position instead.
                heartbeat = PositionHeartbeat(self.primary, self.replica, dialect)
            else:
                heartbeat = Heartbeat(self.primary, self.replica, facts['server_id'])
            started = time.monotonic()
            lag, status = wait_for_replica(self.replica, dialect, heartbeat, params['max_lag'], params['wait_timeout'])
            self.result['lag'] = lag
            self.result['wait_seconds'] = round(time.monotonic() - started, 3)
        else:
            rows = query_rows(self.replica, dialect.show_replica_status())
            status = normalize_replica_status(rows[0] if rows else None)
        gtid = dict((key, _text(value)) for key, value in query_rows(self.replica, dialect.gtid_query())[0].items())
        self.result['status'] = status_summary(status, gtid)
        self.result['settings'] = current_settings(status)

    def _check_primary(self, dialect, facts, plan, address):
        """Validate the primary before anything changes on the replica."""
        params = self.params
        if params['state'] == 'stopped' and not plan['steps']:
            return
        replication = connect(primary_login(params), PRIMARY_REPLICATION_NAMES)
        try:
            check_replication_account(replication, params)
        finally:
            replication.close()
        self.primary = connect(primary_login(params, admin=True), PRIMARY_ADMIN_NAMES)
        primary_dialect = read_dialect(self.primary)
        if primary_dialect.flavour != dialect.flavour:
            raise ReplicationError('the primary %s runs %s and the replica %s: both must be the same flavour'
                                   % (address, primary_dialect.server.text, dialect.server.text))
        primary = read_primary(self.primary, primary_dialect)
        if primary['log_bin'].lower() not in ('1', 'on'):
            raise ReplicationError('the primary %s has no binary log (log_bin is off): turn it on to replicate from it'
                                   % address)
        if primary['server_id'] == facts['server_id']:
            raise ReplicationError('the primary %s and the replica have the same server_id %d: give each server its own'
                                   % (address, facts['server_id']))
        if plan['seed']:
            return
        errant = None
        if not dialect.is_mariadb:
            rows = query_rows(self.primary, mysql_errant_gtids_query(facts['gtid'].get('gtid_executed', ''),
                                                                     primary.get('gtid_executed', '')))
            errant = _text(rows[0]['errant'])
            rows = query_rows(self.primary, ('SELECT GTID_SUBTRACT(%s, %s) AS missing',
                                             (primary.get('gtid_purged', ''), facts['gtid'].get('gtid_executed', ''))))
            primary['missing_for_replica'] = _text(rows[0]['missing'])
        problem = gtid_problem(dialect, facts, primary, address, errant)
        if problem:
            raise ReplicationError(problem)

    def _plan_tick(self, plan, address):
        """Statements that make the primary refresh the tick row every second; none on a read-only primary."""
        facts = read_tick(self.primary)
        self.primary_read_only = facts['read_only']
        if facts['read_only']:
            # A primary frozen for a switchover: any write there now would be an errant transaction.
            self.module.warn('the primary %s is read-only: its heartbeat event was not checked and the lag was measured'
                             ' by its GTID position; run the task again once it accepts writes' % address)
            return []
        try:
            rows = query_rows(self.replica, (
                'SELECT STATUS AS status FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s AND EVENT_NAME = %s',
                (HEARTBEAT_SCHEMA, TICK_EVENT)))
        except Exception:  # pylint: disable=broad-except
            rows = []
        if rows and _text(rows[0]['status']).upper() == 'ENABLED' and not plan['after']['read_only']:
            self.module.warn('the replica holds an enabled copy of the heartbeat event %s and accepts writes, so it would'
                             ' write heartbeats of its own: set read_only: true' % tick_event_name())
        return plan_tick(facts, address)

    def _runner(self, dialect):
        container = self.params.get('seed_container')
        if not container:
            return LocalRunner(dialect.flavour)
        client = self.docker_client_factory(self.module, self.params['docker_host'])
        return ContainerRunner(client, container, self.module.warn)


def run_replication(docker_client_factory):
    """Run ``mysql_replication``; ``docker_client_factory(module, docker_host)`` returns a connected Docker client."""
    module = AnsibleModule(argument_spec=replication_argument_spec(), **REPLICATION_MODULE_KWARGS)
    ReplicationTask(module, docker_client_factory).run()


# -- The info module ------------------------------------------------------------------------------------------

def run_replication_info():
    """Run ``mysql_replication_info``: read only, never changes anything."""
    module = AnsibleModule(argument_spec=info_argument_spec(), **INFO_MODULE_KWARGS)
    connection = None
    try:
        connection = connect(module.params)
        module.exit_json(changed=False, **read_info(connection))
    except MySQLError as exc:
        module.fail_json(msg=str(exc), changed=False)
    finally:
        if connection is not None:
            connection.close()


def read_info(connection):
    """Everything ``mysql_replication_info`` returns, read from one server."""
    dialect = read_dialect(connection)
    rows = query_rows(connection, dialect.show_replica_status())
    status = normalize_replica_status(rows[0] if rows else None)
    gtid = dict((key, _text(value)) for key, value in query_rows(connection, dialect.gtid_query())[0].items())
    settings = query_rows(connection, dialect.server_settings_query())[0]
    read_only = _text(settings['read_only']).lower() in ('1', 'on')
    try:
        hosts = query_rows(connection, dialect.show_replica_hosts())
    except Exception:  # pylint: disable=broad-except
        # Without REPLICATION MASTER ADMIN / REPLICATION SLAVE ADMIN the list is refused: count the dump threads.
        hosts = query_rows(connection, (
            "SELECT HOST AS Host FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%%'", ()))
    replicas = []
    for row in hosts:
        replicas.append(dict((key.lower(), _text(value) if not isinstance(value, int) else value) for key, value in row.items()))
    info = dict(
        role=detect_role(status, settings['log_bin'], settings['read_only'], len(replicas)),
        flavour=dialect.flavour,
        version='.'.join(str(part) for part in dialect.version),
        server_version=dialect.server.text,
        server_id=int(settings['server_id']),
        read_only=read_only,
        log_bin=_text(settings['log_bin']).lower() in ('1', 'on'),
        replicas=replicas,
        replica_count=len(replicas),
        gtid=gtid,
        configured=is_configured_replica(status),
        source={},
        heartbeat_age=None,
        heartbeat_ts=None,
    )
    if status:
        info['source'] = dict(host=status['source_host'], port=status['source_port'], user=status['source_user'])
        info.update(
            io_running=status['io_running'],
            sql_running=status['sql_running'],
            running=status['running'],
            io_state=status['io_state'],
            seconds_behind_master=status['seconds_behind'],
            last_io_errno=status['last_io_errno'],
            last_io_error=status['last_io_error'],
            last_sql_errno=status['last_sql_errno'],
            last_sql_error=status['last_sql_error'],
            using_gtid=status['using_gtid'],
            error=explain_replica_error(status),
        )
        for key in ('gtid_io_pos', 'retrieved_gtid_set'):
            if key in status:
                info['gtid'][key] = status[key]
    else:
        info.update(io_running='No', sql_running='No', running=False, io_state='', seconds_behind_master=None,
                    last_io_errno=0, last_io_error='', last_sql_errno=0, last_sql_error='', using_gtid='no', error=None)
    try:
        rows = query_rows(connection, (
            'SELECT MAX(ts) AS ts, TIMESTAMPDIFF(MICROSECOND, MAX(ts), UTC_TIMESTAMP(6)) AS age FROM %s'
            % Heartbeat.table, ()))
    except Exception:  # pylint: disable=broad-except
        rows = []
    if rows and rows[0]['ts'] is not None:
        info['heartbeat_ts'] = _text(rows[0]['ts'])
        info['heartbeat_age'] = round(int(rows[0]['age']) / 1e6, 3)
    info['lag'] = read_tick_lag(connection) if info['configured'] else None
    return info


def read_tick_lag(connection):
    """Seconds since the primary last refreshed the tick row, by this server's clock; ``None`` without the row.

    The primary refreshes the row every second, so on a replica this is the replication lag plus at most about
    one second. Primary and replica clocks are assumed to agree; a replica clock behind gives 0, not less.
    """
    try:
        rows = query_rows(connection, (
            'SELECT TIMESTAMPDIFF(MICROSECOND, ts, UTC_TIMESTAMP(6)) AS age FROM %s WHERE server_id = %%s'
            % Heartbeat.table, (TICK_SERVER_ID,)))
    except Exception:  # pylint: disable=broad-except
        return None
    if not rows or rows[0]['age'] is None:
        return None
    return max(0.0, round(int(rows[0]['age']) / 1e6, 3))
