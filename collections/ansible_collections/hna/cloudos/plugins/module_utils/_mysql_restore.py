# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run of ``hna.cloudos.mysql_restore``: checksum, logical or physical restore, point-in-time replay.

A restore goes through these steps, and nothing on the target changes before the last of them:

1. find the backup (an id, a path, ``latest`` = the newest verified one, or, for a point in time, the
   newest verified backup taken before it, :func:`select_backup`) under the instance lock, and check its
   data file against the size and sha256 of its manifest (a mismatch refuses the restore and marks the
   manifest corrupt);
2. look at the target - a logical restore needs the server running and the target databases without a
   table (:func:`plan_databases`), a physical one needs the server container stopped and its data volume
   empty - and, for a point in time, at the binary logs of ``binlog_source``: on, not purged past the
   backup's position, and reaching the point;
3. unless in check mode, restore: the compressed file goes into the server's container on the stdin of an
   exec (``_mysql_exec``), where ``zstd -dc`` (or ``gzip -dc``) feeds ``mariadb --binary-mode`` (logical) or
   ``mbstream -x`` followed by ``mariadb-backup --prepare`` (physical, in a throw-away container that mounts
   the data volume); every stage's exit code is checked (``PIPESTATUS``);
4. for a point in time, ``mariadb-binlog --read-from-remote-server`` reads the binary logs of the source
   from the GTID position of the backup (exclusive) to ``until_time`` (exclusive, ``--stop-datetime``) or
   ``until_gtid`` (inclusive, ``--stop-position``) and pipes them into ``mariadb`` of the target.

Neither the import nor the replay enters the target's binary log (``sql_log_bin = 0`` on their sessions):
the replayed events carry the GTIDs of the source, and a restore is not a transaction for replicas to copy.

Credentials only travel in option files (mode 0600) put into the container and removed afterwards.
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import time
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_backup_store as store
from ansible_collections.hna.cloudos.plugins.module_utils._mysql_exec import ContainerExec, ExecError, LocalExec, forget_files_trap
from ansible_collections.hna.cloudos.plugins.module_utils._mysql import (
    MARIADB,
    MYSQL_REQUIRED_TOGETHER,
    MySQLError,
    connect,
    server_error_line,
    mariadb_purged_gtids,
    mysql_argument_spec,
    option_file_content,
    parse_mariadb_gtid_pos,
    query_rows,
    quote_identifier,
    read_password_file,
    run,
    server_address,
)
from ansible_collections.hna.cloudos.plugins.module_utils._mysql_replication import SYSTEM_SCHEMAS, read_dialect

DEFAULT_BACKUP_DIR = '/var/backups/hna-cloudos/mysql'
DEFAULT_SOCKET = '/run/mysqld/mysqld.sock'
DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock'
#: Data directory of the server inside its image (the physical restore unpacks the backup there).
DATADIR = '/var/lib/mysql'
#: Format of ``until_time`` (UTC).
UNTIL_TIME_FORMAT = '%Y-%m-%d %H:%M:%S'
#: Seconds the throw-away container of a physical restore may take to start.
HELPER_START_TIMEOUT = 60

_DECOMPRESS = {'zstd': 'zstd -dc', 'gzip': 'gzip -dc'}
_TIME_RE = re.compile(r'^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$')
_LAST_GTID_RE = re.compile(r'^\d+-\d+-\d+$')


class RestoreError(Exception):
    """A failure of the restore, as one line."""


# -- Options ----------------------------------------------------------------------------------------------

def restore_argument_spec():
    """The options of ``mysql_restore`` (a fresh dictionary each call)."""
    return mysql_argument_spec(
        login_password_file=dict(type='path', no_log=False),
        container=dict(type='str'),
        container_socket=dict(type='str', default=DEFAULT_SOCKET),
        docker_host=dict(type='str', default=DEFAULT_DOCKER_HOST),
        backup_dir=dict(type='path', default=DEFAULT_BACKUP_DIR),
        instance=dict(type='str'),
        lock_timeout=dict(type='int', default=600),
        backup=dict(type='str', default='latest'),
        target=dict(type='str', default='instance', choices=['instance', 'database']),
        database=dict(type='str'),
        force=dict(type='bool', default=False),
        until_time=dict(type='str'),
        until_gtid=dict(type='str'),
        binlog_source=dict(type='dict', options=dict(
            container=dict(type='str'),
            login_host=dict(type='str'),
            login_port=dict(type='int', default=3306),
            login_user=dict(type='str'),
            login_password=dict(type='str', no_log=True),
            login_password_file=dict(type='path', no_log=False),
            login_unix_socket=dict(type='path'),
        )),
        data_volume=dict(type='str'),
        timeout=dict(type='int', default=3600),
    )


RESTORE_MODULE_KWARGS = dict(
    supports_check_mode=True,
    mutually_exclusive=[['login_password', 'login_password_file'], ['until_time', 'until_gtid'],
                        ['data_volume', 'until_time'], ['data_volume', 'until_gtid'], ['data_volume', 'database']],
    required_together=MYSQL_REQUIRED_TOGETHER,
    required_by={'data_volume': ('container',)},
)


def parse_until_time(text):
    """``until_time`` (UTC, ``YYYY-MM-DD HH:MM:SS``) as an aware datetime."""
    value = (text or '').strip()
    if not _TIME_RE.match(value):
        raise RestoreError('until_time %r is not a UTC time of the form YYYY-MM-DD HH:MM:SS (for example 2026-12-01 13:05:00)'
                           % (text,))
    try:
        return datetime.datetime.strptime(value, UNTIL_TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise RestoreError('until_time %r is not a valid date and time' % (text,)) from None


def parse_gtid(text, name):
    """A MariaDB GTID position (``0-1-42`` or ``0-1-42,1-2-7``) normalised; fails naming the option."""
    try:
        parsed = parse_mariadb_gtid_pos(text or '')
    except MySQLError as exc:
        raise RestoreError('%s: %s' % (name, exc)) from None
    if not parsed:
        raise RestoreError('%s %r is not a GTID position (DOMAIN-SERVER-SEQUENCE, for example 0-1-42)' % (name, text))
    return format_gtid(parsed)


def format_gtid(parsed):
    return ','.join('%d-%d-%d' % (domain, server_id, seq_no) for domain, (server_id, seq_no) in sorted(parsed.items()))


def gtid_contains(outer, inner):
    """Whether the GTID position ``outer`` includes ``inner``: in every domain of ``inner``, ``outer`` is as far or further.

    With ``gtid_strict_mode`` the sequence numbers of a domain only grow, so this is a comparison per domain.
    An empty ``inner`` is contained in anything.
    """
    have = parse_mariadb_gtid_pos(outer or '')
    for domain, (_server_id, seq_no) in parse_mariadb_gtid_pos(inner or '').items():
        if domain not in have or have[domain][1] < seq_no:
            return False
    return True


# -- Choosing the backup ------------------------------------------------------------------------------------

def _finished(backup):
    manifest = backup.get('manifest') or {}
    return store.parse_time(manifest.get('finished'))


def _describe(backup):
    return '%s (%s)' % (backup['id'], backup['status'])


def select_backup(backups, wanted, method, until_time=None, until_gtid=None):
    """The backup to restore, from a listing (newest first, as ``_mysql_backup_store.list_backups`` gives it).

    ``wanted`` is an id or ``latest``. ``latest`` is the newest verified backup of ``method``; with a point in
    time, the newest verified backup of ``method`` with a recorded GTID position that ended before
    ``until_time`` (its ``finished`` time: the snapshot lies between its start and its end) or whose position
    ``until_gtid`` contains. A named backup must be complete (unverified is accepted: the checksum is
    checked anyway) and, with a point in time, lie before it.
    """
    point = until_time is not None or until_gtid is not None

    def before_point(backup):
        position = (backup.get('position') or {}).get('gtid')
        if not position:
            return False
        if until_time is not None:
            finished = _finished(backup)
            return finished is not None and finished <= until_time
        return gtid_contains(until_gtid, position)

    if wanted in (None, '', 'latest'):
        candidates = [b for b in backups if b['status'] == store.VERIFIED and b.get('method') == method]
        if not candidates:
            others = ', '.join(_describe(b) for b in backups[:5]) or 'none'
            raise RestoreError('backup latest: there is no verified %s backup (backups, newest first: %s); verify one'
                               ' (mysql_backup verify: true) or name it in backup' % (method, others))
        if not point:
            return candidates[0]
        for backup in candidates:
            if before_point(backup):
                return backup
        raise RestoreError('there is no verified %s backup with a GTID position taken before %s (oldest verified: %s,'
                           ' finished %s); a point in time needs a full backup from before it'
                           % (method, _point_text(until_time, until_gtid), candidates[-1]['id'],
                              (candidates[-1].get('manifest') or {}).get('finished')))
    for backup in backups:
        if backup['id'] == wanted:
            break
    else:
        raise RestoreError('backup %s does not exist (%d backups in the directory of the instance); list them with'
                           ' hna.cloudos.mysql_backup_info' % (wanted, len(backups)))
    if backup['status'] == store.CORRUPT:
        raise RestoreError('backup %s is marked corrupt (its data file failed a verification): restore another one'
                           % wanted)
    if backup['status'] == store.INCOMPLETE or not backup.get('manifest'):
        raise RestoreError('backup %s is incomplete (no manifest or no data file): it never finished and cannot be restored'
                           % wanted)
    if backup.get('method') != method:
        raise RestoreError('backup %s is a %s backup, but this restore needs a %s one (%s)'
                           % (wanted, backup.get('method'), method,
                              'data_volume restores physical backups' if method == 'physical'
                              else 'set data_volume to restore a physical backup into a stopped server'))
    if point and not before_point(backup):
        if not (backup.get('position') or {}).get('gtid'):
            raise RestoreError('backup %s has no recorded GTID position (the server had no binary log): it cannot start'
                               ' a point-in-time recovery' % wanted)
        raise RestoreError('backup %s (position %s, finished %s) is not from before %s: name an older backup or use'
                           ' backup: latest' % (wanted, backup['position']['gtid'],
                                                (backup.get('manifest') or {}).get('finished'),
                                                _point_text(until_time, until_gtid)))
    return backup


def _point_text(until_time, until_gtid):
    if until_time is not None:
        return 'until_time %s UTC' % until_time.strftime(UNTIL_TIME_FORMAT)
    return 'until_gtid %s' % until_gtid


def resolve_location(params):
    """``(directory, wanted)``: the instance directory to look in and the backup id (or ``latest``).

    ``backup`` may be a path to a data file or a manifest; its directory is then the instance directory.
    """
    wanted = params.get('backup') or 'latest'
    if '/' in wanted:
        path = os.path.abspath(wanted)
        name = os.path.basename(path)
        if name.endswith(store.MANIFEST_SUFFIX):
            backup_id = name[:-len(store.MANIFEST_SUFFIX)]
        else:
            match = re.match(r'^(?P<id>.+?)\.(sql\.zst|sql\.gz|xb\.zst|xb\.gz)$', name)
            if not match:
                raise RestoreError('backup %s is neither a backup id nor the path of a backup (<id>.json or'
                                   ' <id>.sql.zst, .sql.gz, .xb.zst, .xb.gz)' % wanted)
            backup_id = match.group('id')
        return os.path.dirname(path), backup_id
    instance = params.get('instance') or params.get('container') or 'local'
    try:
        return store.instance_dir(params.get('backup_dir') or DEFAULT_BACKUP_DIR, instance, create=False), wanted
    except store.StoreError as exc:
        raise RestoreError(str(exc)) from None


# -- The target ------------------------------------------------------------------------------------------------

def manifest_databases(manifest):
    """The databases a backup holds: a list, or ``None`` for all of the server's."""
    databases = manifest.get('databases')
    if databases is None:
        return None
    if not isinstance(databases, list) or not all(isinstance(name, str) and name for name in databases):
        raise RestoreError('the manifest of backup %s lists no valid databases (%r)' % (manifest.get('id'), databases))
    return list(databases)


def plan_databases(params, manifest):
    """What a logical restore writes into: a dict with ``databases`` (names on the target, or ``None`` = every
    user schema), ``source`` (the one database of a one-database backup, else ``None``), ``into`` (the
    database it lands in) and ``rename`` (whether ``into`` differs from ``source``).

    ``mysql_backup`` dumps named databases with ``mariadb-dump --databases``, so the stream of a one-database
    backup creates its database itself (with its character set) and selects it with ``USE``. Restored under
    another name, the module creates ``into``, imports with ``mariadb --database=<into>`` and leaves the
    ``USE`` and ``CREATE DATABASE`` lines of the stream out (:func:`restore_script`); nothing else in the
    stream is rewritten.
    """
    databases = manifest_databases(manifest)
    if params.get('target') == 'database':
        if databases is None or len(databases) != 1:
            raise RestoreError('target: database restores a one-database backup, but backup %s holds %s: use'
                               ' target: instance' % (manifest.get('id'), 'every database of its server'
                                                      if databases is None else 'the databases %s' % ', '.join(databases)))
        into = params.get('database') or databases[0]
    else:
        if params.get('database') and (databases is None or len(databases) != 1 or params['database'] != databases[0]):
            raise RestoreError('database is only for target: database (restoring a one-database backup under a name)')
        into = databases[0] if databases is not None and len(databases) == 1 else None
    if into is not None:
        quote_identifier(into)
        if into in SYSTEM_SCHEMAS:
            raise RestoreError('database %s is a system schema: restore into another database' % into)
        return dict(databases=[into], source=databases[0], into=into, rename=into != databases[0])
    return dict(databases=databases, source=None, into=None, rename=False)


def user_tables_query(databases):
    """``(sql, params)`` listing the base tables and views of the target databases (every user schema for ``None``)."""
    if databases is None:
        placeholders = ', '.join(['%s'] * len(SYSTEM_SCHEMAS))
        return ('SELECT TABLE_SCHEMA AS db, COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN (%s)'
                ' GROUP BY TABLE_SCHEMA ORDER BY TABLE_SCHEMA' % placeholders, tuple(SYSTEM_SCHEMAS))
    placeholders = ', '.join(['%s'] * len(databases))
    return ('SELECT TABLE_SCHEMA AS db, COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (%s)'
            ' GROUP BY TABLE_SCHEMA ORDER BY TABLE_SCHEMA' % placeholders, tuple(databases))


def schemas_query(databases):
    """``(sql, params)`` listing the target schemas that exist (every user schema for ``None``)."""
    if databases is None:
        placeholders = ', '.join(['%s'] * len(SYSTEM_SCHEMAS))
        return ('SELECT SCHEMA_NAME AS db FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (%s)'
                ' ORDER BY SCHEMA_NAME' % placeholders, tuple(SYSTEM_SCHEMAS))
    placeholders = ', '.join(['%s'] * len(databases))
    return ('SELECT SCHEMA_NAME AS db FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (%s) ORDER BY SCHEMA_NAME'
            % placeholders, tuple(databases))


def prepare_statements(plan, existing, log_bin):
    """Statements run on the target before the import: drop the existing target schemas, create the database a
    one-database backup is renamed into. ``existing`` are the target schemas that exist (all of them are
    dropped: the caller has checked ``force`` when any holds a table). None of them enters the binary log."""
    statements = []
    if log_bin:
        statements.append(('SET SESSION sql_log_bin = 0', ()))
    for name in existing:
        statements.append(('DROP DATABASE %s' % quote_identifier(name).replace('%', '%%'), ()))
    if plan.get('rename'):
        statements.append(('CREATE DATABASE %s' % quote_identifier(plan['into']).replace('%', '%%'), ()))
    return statements


def non_empty_message(plan, tables, what):
    """One line refusing a target that holds tables, naming them per database."""
    listed = ', '.join('%s (%d table%s)' % (db, n, '' if n == 1 else 's') for db, n in tables)
    if plan['databases'] is None:
        scope = 'the server holds tables in %s' % listed
    else:
        scope = 'the target database%s hold%s tables: %s' % (
            '' if len(plan['databases']) == 1 else 's', 's' if len(plan['databases']) == 1 else '', listed)
    return 'the target is not empty: %s; set force: true to drop %s and restore %s' % (
        scope, 'these databases' if len(tables) > 1 else 'this database', what)


# -- Scripts ---------------------------------------------------------------------------------------------------

def _q(value):
    return shlex.quote(value)


def target_option_file(login, flavour, log_bin):
    """Option file of ``mariadb`` for the import and the replay: the login, and ``sql_log_bin = 0`` on connect.

    ``init-command`` is an option of the command-line client only, so it goes in the ``[mysql]`` group, which
    only that client reads.
    """
    content = option_file_content(login, 'client', flavour)
    if log_bin:
        content += '[mysql]\ninit-command="SET SESSION sql_log_bin = 0"\n'
    return content


def restore_script(directory, compression, into=None, filter_use=False, client='mariadb'):
    """The bash script of a logical restore: the compressed stream on stdin, decompressed and imported.

    Results in ``<directory>/out``: ``status`` (exit codes of every stage), ``*.err`` (their error output),
    ``seconds``. With ``into``, the import runs with ``--database`` and, with ``filter_use``, the ``USE`` and
    ``CREATE DATABASE`` lines of the dump are dropped by ``sed`` so that the stream lands in ``into``.
    """
    out = _q(directory + '/out')
    stages = ['%s 2>%s/decompress.err' % (_DECOMPRESS[compression], out)]
    if into is not None and filter_use:
        stages.append("sed -e '/^CREATE DATABASE /d' -e '/^USE `/d' 2>%s/filter.err" % out)
    load = [client, '--defaults-extra-file=%s' % (directory + '/target.cnf'), '--binary-mode']
    if into is not None:
        load.append('--database=%s' % into)
    stages.append('%s 2>%s/import.err' % (' '.join(_q(arg) for arg in load), out))
    return '\n'.join([
        'set -u -o pipefail',
        'umask 077',
        'mkdir -p %s' % out,
        'start=$(date +%s.%N)',
        ' | '.join(stages),
        'echo "${PIPESTATUS[*]}" > %s/status' % out,
        'echo "$start $(date +%%s.%%N)" > %s/seconds' % out,
    ]) + '\n'


def restore_stages(into=None, filter_use=False):
    """The names of the stages of :func:`restore_script`, in order (for the exit codes of ``status``)."""
    stages = ['decompress']
    if into is not None and filter_use:
        stages.append('filter')
    stages.append('import')
    return stages


def replay_command(directory, start_gtid, start_file, until_time=None, until_gtid=None, source_db=None, into=None):
    """The ``mariadb-binlog`` command of a replay (list of arguments; the login is in ``source.cnf``).

    ``--start-position`` with a GTID position is exclusive (the events after it), ``--stop-position`` with a
    GTID is inclusive, ``--stop-datetime`` stops at the first event at or after that second (so the events of
    that very second are not replayed); it is read in the local time zone of the tool, hence ``TZ=UTC`` in the
    script. A one-database restore replays only that database's events (``--database`` takes the name in the
    binary log), renamed with ``--rewrite-db`` when it lands elsewhere.
    """
    command = ['mariadb-binlog', '--defaults-extra-file=%s' % (directory + '/source.cnf'), '--read-from-remote-server',
               '--to-last-log', '--start-position=%s' % start_gtid]
    if until_time is not None:
        command.append('--stop-datetime=%s' % until_time.strftime(UNTIL_TIME_FORMAT))
    if until_gtid is not None:
        command.append('--stop-position=%s' % until_gtid)
    if source_db is not None:
        # MariaDB's mariadb-binlog filters on the original name, then renames.
        command.append('--database=%s' % source_db)
        if into is not None and into != source_db:
            command.append('--rewrite-db=%s->%s' % (source_db, into))
    command.append(start_file)
    return command


def replay_script(directory, command, client='mariadb'):
    """The bash script of a replay: ``mariadb-binlog`` of the source piped into ``mariadb`` of the target.

    Results in ``<directory>/out``: ``status`` (exit codes of the reader, the copy and the import),
    ``binlog.err``, ``replay.err``, ``last_gtid`` (the last GTID in the stream), ``seconds``.
    """
    out = _q(directory + '/out')
    load = [client, '--defaults-extra-file=%s' % (directory + '/target.cnf'), '--binary-mode']
    return '\n'.join([
        'set -u -o pipefail',
        'umask 077',
        'mkdir -p %s' % out,
        'start=$(date +%s.%N)',
        'TZ=UTC %s 2>%s/binlog.err \\' % (' '.join(_q(arg) for arg in command), out),
        "  | tee >( { grep -a -o -E 'GTID [0-9]+-[0-9]+-[0-9]+' | tail -n 1 | cut -d' ' -f2 > %s/last_gtid;"
        ' touch %s/scanned; } ) \\' % (out, out),
        '  | %s 2>%s/replay.err' % (' '.join(_q(arg) for arg in load), out),
        'echo "${PIPESTATUS[*]}" > %s/status' % out,
        'end=$(date +%s.%N)',
        'for _ in $(seq 300); do [ -e %s/scanned ] && break; sleep 0.1; done' % out,
        'echo "$start $end" > %s/seconds' % out,
    ]) + '\n'


REPLAY_STAGES = ('read the binary logs', 'copy', 'replay')


def physical_check_script():
    """A script that prints the first entries of the data directory (nothing when it is empty)."""
    return 'find %s -mindepth 1 -maxdepth 1 -printf "%%f\\n" | head -n 5\n' % DATADIR


def physical_clear_script():
    return 'set -e\nfind %s -mindepth 1 -delete\n' % DATADIR


def physical_script(directory, compression):
    """The bash script of a physical restore in the throw-away container: unpack, prepare, give it to mysql.

    Results in ``<directory>/out``: ``status`` (decompress and ``mbstream``), ``prepare`` and ``chown`` (exit
    codes, only when the earlier steps worked), their error output, ``seconds``.
    """
    out = _q(directory + '/out')
    return '\n'.join([
        'set -u -o pipefail',
        'umask 077',
        'mkdir -p %s' % out,
        'start=$(date +%s.%N)',
        '%s 2>%s/decompress.err | mbstream -x -C %s 2>%s/extract.err' % (_DECOMPRESS[compression], out, DATADIR, out),
        'echo "${PIPESTATUS[*]}" > %s/status' % out,
        'if [ "$(cat %s/status)" = "0 0" ]; then' % out,
        '  mariadb-backup --prepare --target-dir=%s > %s/prepare.err 2>&1; echo $? > %s/prepare' % (DATADIR, out, out),
        'fi',
        'if [ "$(cat %s/prepare 2>/dev/null)" = "0" ]; then' % out,
        '  chown -R mysql:mysql %s 2>%s/chown.err; echo $? > %s/chown' % (DATADIR, out, out),
        'fi',
        'echo "$start $(date +%%s.%%N)" > %s/seconds' % out,
    ]) + '\n'


def last_error_line(text):
    """The last meaningful line of a tool's error output (the warning about ``loose-`` options is noise)."""
    lines = [line.strip() for line in (text or '').splitlines()
             if line.strip() and "'loose-" not in line and 'Using a password' not in line]
    return lines[-1] if lines else 'no error output'


def pipeline_failure(results, stages, what):
    """One line naming the first failed stage of a pipeline and its last error line, or ``None`` when all exited 0.

    ``results`` are the files of ``out`` (``status`` holds ``${PIPESTATUS[*]}``), ``stages`` maps each exit code
    to ``(name, error file)``.
    """
    codes = (results.get('status') or '').split()
    if len(codes) != len(stages):
        return '%s did not finish (exit codes %r): it was stopped or the container went away' % (what, codes)
    failed = [(stage, code) for stage, code in zip(stages, codes) if code != '0']
    if not failed:
        return None
    # A stage that fails closes its pipe, and the stage before it then dies of SIGPIPE (141): name the real one.
    real = [(stage, code) for stage, code in failed if code != '141'] or failed
    (name, error_file), code = real[0]
    detail = last_error_line(results.get(error_file)) if error_file else ''
    if code == '124':
        return '%s: the %s stage took longer than timeout and was stopped' % (what, name)
    return '%s: the %s stage failed (exit %s): %s' % (what, name, code, detail)


def seconds_of(results):
    times = (results.get('seconds') or '').split()
    if len(times) == 2:
        try:
            return round(float(times[1]) - float(times[0]), 3)
        except ValueError:
            return None
    return None


# -- Binary logs of the source ------------------------------------------------------------------------------

def start_file(files, position):
    """The binary log to start reading at: the newest whose start position (``BINLOG_GTID_POS(file, 4)``) the
    backup's ``position`` contains; every event after ``position`` is in it or in a later one.

    ``files`` is ``[(name, start_position)]`` in the order of ``SHOW BINARY LOGS``.
    """
    chosen = None
    for name, start in files:
        if gtid_contains(position, start):
            chosen = name
    return chosen


def check_binlogs(facts, position, until_gtid, address):
    """Fail when the binary logs of the source cannot bring a backup at ``position`` to the point.

    ``facts``: ``log_bin``, ``files`` (``[(name, start_position)]``), ``gtid_binlog_pos``. Returns the file to
    start at and the files read.
    """
    if not facts['log_bin']:
        raise RestoreError('%s has no binary log (log_bin is off): a point in time cannot be reached'
                           % address)
    files = facts['files']
    if not files:
        raise RestoreError('%s lists no binary log' % address)
    missing = mariadb_purged_gtids(position, files[0][1])
    if missing:
        domain, have, oldest = missing[0]
        raise RestoreError('%s has purged binary logs the replay needs (domain %d: the backup is at %s,'
                           ' the oldest binary log starts after %s): restore a newer backup or keep binary logs longer'
                           % (address, domain, have or 'nothing', oldest))
    first = start_file(files, position)
    if first is None:
        raise RestoreError('%s has no binary log that starts at or before the backup position %s'
                           % (address, position))
    if until_gtid is not None and not gtid_contains(facts['gtid_binlog_pos'], until_gtid):
        raise RestoreError('%s has not written until_gtid %s (its binary log reaches %s)'
                           % (address, until_gtid, facts['gtid_binlog_pos']))
    names = [name for name, _start in files]
    return first, names[names.index(first):]


def read_binlog_facts(connection):
    """``log_bin``, ``files`` (name and GTID position at its start) and ``gtid_binlog_pos`` of a MariaDB server."""
    row = query_rows(connection, ('SELECT @@GLOBAL.log_bin AS log_bin, @@GLOBAL.gtid_binlog_pos AS pos', ()))[0]
    log_bin = _text(row['log_bin']).lower() in ('1', 'on')
    files = []
    if log_bin:
        for entry in query_rows(connection, ('SHOW BINARY LOGS', ())):
            name = _text(entry['Log_name'])
            start = query_rows(connection, ('SELECT BINLOG_GTID_POS(%s, 4) AS pos', (name,)))[0]['pos']
            files.append((name, _text(start)))
    return dict(log_bin=log_bin, files=files, gtid_binlog_pos=_text(row['pos']))


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return '' if value is None else str(value)


# -- Reading the data file ------------------------------------------------------------------------------------

class FileChunks:
    """The chunks of a file, for ``stream_in``; counts the bytes sent."""

    def __init__(self, path, chunk=store.CHUNK):
        self.path = path
        self.chunk = chunk
        self.sent = 0

    def __iter__(self):
        with open(self.path, 'rb') as handle:
            while True:
                block = handle.read(self.chunk)
                if not block:
                    return
                self.sent += len(block)
                yield block


# -- The module ------------------------------------------------------------------------------------------------

class RestoreTask:
    """One run of ``mysql_restore``."""

    def __init__(self, module, docker_client_factory=None):
        self.module = module
        self.params = dict(module.params)
        self.docker_client_factory = docker_client_factory
        self.result = dict(changed=False)
        self.connection = None
        self.client = None
        self.lock = None
        self.warnings = []

    # -- framework ---------------------------------------------------------------------------------------

    def fail(self, msg):
        self.module.fail_json(msg=' '.join(to_native(msg).split()), **self.result)

    def close(self):
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # pylint: disable=broad-except
                pass
            self.connection = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # pylint: disable=broad-except
                pass
            self.client = None

    def run(self):
        try:
            self._run()
        except (RestoreError, MySQLError, store.StoreError, ExecError) as exc:
            self.close()
            self.fail(str(exc))
        except Exception as exc:  # pylint: disable=broad-except
            self.close()
            line = server_error_line(exc)
            if line:
                self.fail(line)
            raise
        self.close()
        self.module.exit_json(**self.result)

    # -- steps -------------------------------------------------------------------------------------------

    def _inputs(self):
        params = self.params
        if params.get('login_password_file'):
            params['login_password'] = read_password_file(params['login_password_file'], 'login_password_file')
        source = params.get('binlog_source')
        if source:
            source = dict(source)
            if source.get('login_password') and source.get('login_password_file'):
                raise RestoreError('binlog_source: login_password and login_password_file are mutually exclusive')
            if source.get('login_password_file'):
                source['login_password'] = read_password_file(source['login_password_file'], 'binlog_source.login_password_file')
            params['binlog_source'] = source
        self.until_time = parse_until_time(params['until_time']) if params.get('until_time') else None
        self.until_gtid = parse_gtid(params['until_gtid'], 'until_gtid') if params.get('until_gtid') else None
        self.point = self.until_time is not None or self.until_gtid is not None
        self.method = 'physical' if params.get('data_volume') else 'logical'
        if params.get('timeout') is not None and params['timeout'] <= 0:
            raise RestoreError('timeout must be a positive number of seconds, not %s' % params['timeout'])
        if self.until_time is not None and self.until_time > datetime.datetime.now(datetime.timezone.utc):
            self.module.warn('until_time %s UTC is in the future: every event of the binary logs up to now is replayed'
                             % self.until_time.strftime(UNTIL_TIME_FORMAT))

    def _run(self):
        self._inputs()
        params = self.params
        directory, wanted = resolve_location(params)
        if not os.path.isdir(directory):
            raise RestoreError('the backup directory %s does not exist: check backup_dir and instance (default: the'
                               ' container name)' % directory)
        if not self.module.check_mode:
            self.lock = store.InstanceLock(directory, 'restore', params['lock_timeout'])
            self.lock.acquire()
        backups = store.list_backups(directory)
        backup = select_backup(backups, wanted, self.method, self.until_time, self.until_gtid)
        manifest = backup['manifest']
        if self.lock is not None:
            self.lock.update(id=backup['id'])
        self.result['backup'] = dict(id=backup['id'], path=backup['path'], method=manifest.get('method'),
                                     compression=manifest.get('compression'), size=manifest.get('size'),
                                     databases=manifest.get('databases'), position=manifest.get('position'),
                                     started=manifest.get('started'), finished=manifest.get('finished'),
                                     status=backup['status'])
        if manifest.get('compression') not in _DECOMPRESS:
            raise RestoreError('backup %s has an unknown compression %r' % (backup['id'], manifest.get('compression')))

        ok, message = store.verify_checksum(directory, manifest)
        if not ok:
            if not self.module.check_mode:
                try:
                    store.mark_corrupt(directory, manifest)
                    message += '; its manifest now says corrupt'
                except (OSError, store.StoreError):
                    pass
            raise RestoreError('refusing to restore: %s' % message)
        self.result['checksum'] = message

        if self.method == 'physical':
            self._physical(directory, backup)
        else:
            self._logical(directory, backup)

    # -- logical ---------------------------------------------------------------------------------------------

    def _logical(self, directory, backup):
        params = self.params
        manifest = backup['manifest']
        plan = plan_databases(params, manifest)
        self.connection = connect(params)
        dialect = read_dialect(self.connection)
        log_bin = _text(query_rows(self.connection, ('SELECT @@GLOBAL.log_bin AS v', ()))[0]['v']).lower() in ('1', 'on')
        tables = [(_text(row['db']), int(row['n'])) for row in query_rows(self.connection, user_tables_query(plan['databases']))]
        existing = [_text(row['db']) for row in query_rows(self.connection, schemas_query(plan['databases']))]
        empty = not tables
        self.result['target_empty'] = empty
        target_name = plan['into'] or ('every user database' if plan['databases'] is None else ', '.join(plan['databases']))
        if not empty and not params['force']:
            raise RestoreError(non_empty_message(plan, tables, 'backup %s' % backup['id']))

        replay = None
        if self.point:
            replay = self._plan_replay(dialect, plan, manifest)

        statements = prepare_statements(plan, existing, log_bin)
        shown = [sql for sql, _params in statements]
        before = dict(target=target_name, server=server_address(params), tables=dict(tables))
        after = dict(target=target_name, server=server_address(params), restored=backup['id'],
                     position=(manifest.get('position') or {}).get('gtid'))
        if replay is not None:
            after['replayed_until'] = self.until_gtid or '%s UTC' % self.until_time.strftime(UNTIL_TIME_FORMAT)
        if self.module._diff:
            self.result['diff'] = dict(before=before, after=after)
        self.result['queries'] = shown
        if self.module.check_mode:
            self.result['changed'] = True
            self.result['would_restore'] = dict(id=backup['id'], target=target_name, drop=list(existing),
                                                bytes=manifest.get('size'))
            if replay is not None:
                self.result['would_replay'] = dict((key, value) for key, value in replay.items() if key != 'login')
            return

        login = self._container_login(params)
        into = plan['into'] if plan['rename'] else None
        filter_use = into is not None
        client = 'mariadb' if dialect.is_mariadb else 'mysql'
        chunks = FileChunks(backup['path'])
        runner = self._exec(params.get('container'))
        try:
            # The option file is in place before anything is dropped.
            runner.put_files({'target.cnf': target_option_file(login, dialect.flavour, log_bin)})
            self.result['changed'] = True
            with self.connection.cursor() as cursor:
                for statement in statements:
                    run(cursor, statement)
            script = forget_files_trap(runner.directory, ['target.cnf']) + '\n' + restore_script(
                runner.directory, manifest['compression'], into, filter_use, client)
            started = time.monotonic()
            try:
                code = runner.stream_in(script, chunks, params['timeout'])
            except ExecError as exc:
                raise RestoreError('the restore of backup %s: %s; the target holds a partial restore: run again with'
                                   ' force: true' % (backup['id'], exc)) from None
            results = runner.read_files()
        finally:
            self._cleanup(runner)
        seconds = round(time.monotonic() - started, 3)
        stages = [(name, '%s.err' % name) for name in restore_stages(into, filter_use)]
        failure = pipeline_failure(results, stages, 'the restore of backup %s' % backup['id'])
        if failure is None and code not in (0, None):
            failure = 'the restore of backup %s: the script in the container exited %s' % (backup['id'], code)
        if failure:
            raise RestoreError(failure + '; the target holds a partial restore: fix the cause and run again with force: true')
        if plan['databases'] is None or 'mysql' in (plan['databases'] or []):
            with self.connection.cursor() as cursor:
                run(cursor, ('FLUSH PRIVILEGES', ()))
        self.result['restored'] = dict(id=backup['id'], target=target_name, dropped=existing, seconds=seconds,
                                       import_seconds=seconds_of(results), bytes=chunks.sent,
                                       bytes_per_second=int(chunks.sent / seconds) if seconds else None,
                                       position=manifest.get('position'))
        if replay is not None:
            self._replay(replay, login, dialect, log_bin)

    def _container_login(self, params):
        """The login of the tools inside the server's container: through its socket; on the host, as the task says."""
        login = dict(login_user=params.get('login_user') or 'root', login_password=params.get('login_password'),
                     connect_timeout=params.get('connect_timeout') or 30)
        if params.get('container'):
            login['login_unix_socket'] = params.get('container_socket') or DEFAULT_SOCKET
        else:
            for key in ('login_host', 'login_port', 'login_unix_socket', 'ca_cert', 'client_cert', 'client_key',
                        'check_hostname'):
                login[key] = params.get(key)
        return login

    def _source(self):
        """``(login for the module, login for mariadb-binlog in the container, address, names for messages)`` of the
        binlog source."""
        params = self.params
        source = params.get('binlog_source') or {}
        same = not source or not any(source.get(key) for key in ('login_host', 'login_unix_socket')) and (
            not source.get('container') or source.get('container') == params.get('container'))
        if same:
            module_login = dict((key, params.get(key)) for key in (
                'login_host', 'login_port', 'login_user', 'login_password', 'login_unix_socket', 'ca_cert', 'client_cert',
                'client_key', 'check_hostname', 'connect_timeout'))
            if source.get('login_user'):
                module_login['login_user'] = source['login_user']
                module_login['login_password'] = source.get('login_password')
            tool_login = self._container_login(dict(params, login_user=module_login['login_user'],
                                                    login_password=module_login['login_password']))
            return module_login, tool_login, 'the target server %s' % server_address(params), None
        module_login = dict(login_host=source.get('login_host') or 'localhost', login_port=source.get('login_port') or 3306,
                            login_user=source.get('login_user') or params.get('login_user') or 'root',
                            login_password=source.get('login_password') if source.get('login_user')
                            else (source.get('login_password') or params.get('login_password')),
                            login_unix_socket=source.get('login_unix_socket'),
                            connect_timeout=params.get('connect_timeout') or 30)
        tool_login = dict(module_login)
        if tool_login.get('login_unix_socket') and params.get('container'):
            raise RestoreError('binlog_source: login_unix_socket is a socket on this host, which the replay inside the'
                               ' container %s cannot use: give login_host and login_port' % params['container'])
        names = dict(role='binlog source', host='binlog_source.login_host', port='binlog_source.login_port',
                     user='binlog_source.login_user', password='binlog_source.login_password',
                     socket='binlog_source.login_unix_socket')
        return module_login, tool_login, 'binlog_source %s' % server_address(module_login), names

    def _plan_replay(self, dialect, plan, manifest):
        if not dialect.is_mariadb:
            raise RestoreError('point-in-time recovery (until_time, until_gtid) is implemented for MariaDB servers; the'
                               ' target runs %s' % dialect.server.text)
        databases = plan['databases']
        if databases is not None and len(databases) > 1:
            raise RestoreError('point-in-time recovery replays either every database or one: backup %s holds %s'
                               % (manifest.get('id'), ', '.join(databases)))
        position = (manifest.get('position') or {}).get('gtid')
        module_login, tool_login, address, names = self._source()
        connection = None
        try:
            connection = connect(module_login, names)
            facts = read_binlog_facts(connection)
        finally:
            if connection is not None:
                connection.close()
        first, files = check_binlogs(facts, position, self.until_gtid, address)
        return dict(source=address, start_gtid=position, start_file=first, files=files,
                    until_time=self.until_time.strftime(UNTIL_TIME_FORMAT) if self.until_time else None,
                    until_gtid=self.until_gtid, source_db=plan['source'], into=plan['into'], login=tool_login)

    def _replay(self, replay, login, dialect, log_bin):
        params = self.params
        runner = self._exec(params.get('container'))
        directory = runner.directory
        command = replay_command(directory, replay['start_gtid'], replay['start_file'], self.until_time, self.until_gtid,
                                 replay['source_db'], replay['into'])
        script = forget_files_trap(directory, ['target.cnf', 'source.cnf']) + '\n' + replay_script(directory, command, 'mariadb')
        started = time.monotonic()
        try:
            runner.put_files({'target.cnf': target_option_file(login, dialect.flavour, log_bin),
                              'source.cnf': option_file_content(replay['login'], 'client', MARIADB)})
            try:
                code = runner.stream_out(script, lambda data: None, params['timeout'])
            except ExecError as exc:
                raise RestoreError('the replay of the binary logs of %s: %s; the target holds backup %s and part of the'
                                   ' replay: run again with force: true' % (replay['source'], exc, self.result['backup']['id'])
                                   ) from None
            results = runner.read_files()
        finally:
            self._cleanup(runner)
        stages = list(zip(REPLAY_STAGES, ('binlog.err', None, 'replay.err')))
        failure = pipeline_failure(results, stages, 'the replay of the binary logs of %s' % replay['source'])
        if failure is None and code not in (0, None):
            failure = 'the replay of the binary logs: the script in the container exited %s' % code
        if failure:
            raise RestoreError(failure + '; the target holds backup %s and part of the replay: run again with force: true'
                               % self.result['backup']['id'])
        last = (results.get('last_gtid') or '').strip()
        self.result['replayed'] = dict(
            source=replay['source'], files=replay['files'], start_file=replay['start_file'], from_gtid=replay['start_gtid'],
            until_time=replay['until_time'], until_gtid=replay['until_gtid'],
            last_gtid=last if _LAST_GTID_RE.match(last) else None,
            seconds=round(time.monotonic() - started, 3))

    # -- physical --------------------------------------------------------------------------------------------

    def _physical(self, directory, backup):
        params = self.params
        manifest = backup['manifest']
        volume = params['data_volume']
        client = self._client()
        from ansible_collections.hna.cloudos.plugins.module_utils._docker_engine import (  # pylint: disable=import-outside-toplevel
            ContainerEngine, ContainerEngineError, SpecError, container_spec)
        engine = ContainerEngine(client)
        server = engine.find(params['container'])
        if server is None:
            raise RestoreError('container %s does not exist on %s: name the (stopped) container of the server whose'
                               ' data_volume is restored' % (params['container'], client.docker_host))
        state = server.get('State') or {}
        if state.get('Running') or state.get('Restarting'):
            raise RestoreError('container %s runs: stop the server before a physical restore into its data volume %s'
                               % (params['container'], volume))
        # The image the server was created from (by ID: a tag may have moved since), so that mariadb-backup
        # prepares the files with the server's own version.
        image = server.get('Image')
        image_name = (server.get('Config') or {}).get('Image') or image
        mounted = [m.get('Name') for m in server.get('Mounts') or [] if m.get('Type') == 'volume']
        if volume not in mounted:
            self.module.warn('container %s does not mount data_volume %s (it mounts %s)'
                             % (params['container'], volume, ', '.join(mounted) or 'no volume'))
        entries = self._volume_entries(client, volume)
        self.result['target_empty'] = None if entries is None else not entries
        if entries and not params['force']:
            raise RestoreError('the target is not empty: data_volume %s holds %s: set force: true to replace its content'
                               ' with backup %s' % (volume, ', '.join(entries), backup['id']))
        if self.module._diff:
            self.result['diff'] = dict(before=dict(data_volume=volume, entries=entries),
                                       after=dict(data_volume=volume, restored=backup['id']))
        if self.module.check_mode:
            self.result['changed'] = True
            self.result['would_restore'] = dict(id=backup['id'], data_volume=volume, image=image_name,
                                                bytes=manifest.get('size'), clear=bool(entries))
            return
        name = '%s-restore-%s' % (params.get('instance') or params['container'], uuid.uuid4().hex[:8])
        try:
            spec = container_spec(name, image, volumes=['%s:%s' % (volume, DATADIR)], entrypoint=['sleep'],
                                  command=['infinity'], networks=[dict(name='none')], healthcheck=dict(disable=True),
                                  user='root')
        except SpecError as exc:
            raise RestoreError('the throw-away container for data_volume %s: %s' % (volume, exc)) from None
        found = entries or []
        self.result['changed'] = True
        started = time.monotonic()
        try:
            engine.apply(engine.plan(spec, state='started', pull='never', check_ports=False), wait='running',
                         timeout=HELPER_START_TIMEOUT, quota=False)
            runner = self._exec(name, client)
            try:
                found = self._list_datadir(runner)
                if found and not params['force']:
                    raise RestoreError('the target is not empty: data_volume %s holds %s: set force: true'
                                       % (volume, ', '.join(found)))
                if found:
                    code = runner.stream_out(physical_clear_script(), lambda data: None, HELPER_START_TIMEOUT * 10)
                    if code:
                        raise RestoreError('could not empty data_volume %s (exit %s)' % (volume, code))
                chunks = FileChunks(backup['path'])
                script = physical_script(runner.directory, manifest['compression'])
                code = runner.stream_in(script, chunks, params['timeout'])
                results = runner.read_files()
            finally:
                self._cleanup(runner)
        except ContainerEngineError as exc:
            raise RestoreError('container %s: %s' % (name, exc)) from None
        finally:
            try:
                engine.remove(name, force=True, volumes=False)
            except Exception as exc:  # pylint: disable=broad-except
                self.module.warn('could not remove the throw-away container %s: %s; remove it' % (name, exc))
        failure = pipeline_failure(results, [('decompress', 'decompress.err'), ('mbstream', 'extract.err')],
                                   'the physical restore of backup %s' % backup['id'])
        if failure is None:
            for step in ('prepare', 'chown'):
                value = (results.get(step) or '').strip()
                if value != '0':
                    failure = ('the physical restore of backup %s: %s failed (exit %s): %s'
                               % (backup['id'], 'mariadb-backup --prepare' if step == 'prepare' else 'chown',
                                  value or 'none', last_error_line(results.get('%s.err' % step))))
                    break
        if failure is None and code not in (0, None):
            failure = 'the physical restore of backup %s: the script exited %s' % (backup['id'], code)
        if failure:
            raise RestoreError(failure + '; data_volume %s holds a partial restore: run again with force: true' % volume)
        seconds = round(time.monotonic() - started, 3)
        self.result['restored'] = dict(id=backup['id'], data_volume=volume, image=image_name, cleared=found,
                                       seconds=seconds, import_seconds=seconds_of(results), bytes=chunks.sent,
                                       bytes_per_second=int(chunks.sent / seconds) if seconds else None,
                                       position=manifest.get('position'))

    def _volume_entries(self, client, volume):
        """The first entries of the volume (``[]`` when empty or missing), read on this host; ``None`` when unreadable."""
        try:
            info = client.api.inspect_volume(volume)
        except Exception as exc:  # pylint: disable=broad-except
            if getattr(getattr(exc, 'response', None), 'status_code', None) == 404:
                return []
            raise RestoreError('data_volume %s: the Docker engine at %s could not inspect it: %s'
                               % (volume, client.docker_host, to_native(exc))) from None
        mountpoint = info.get('Mountpoint')
        try:
            return sorted(os.listdir(mountpoint))[:5]
        except (OSError, TypeError):
            return None

    def _list_datadir(self, runner):
        chunks = []
        # The chunks are views of the reader's buffer, valid only during the call: keep copies.
        code = runner.stream_out(physical_check_script(), lambda data: chunks.append(bytes(data)), HELPER_START_TIMEOUT)
        if code:
            raise RestoreError('could not list data_volume %s in the throw-away container (exit %s)'
                               % (self.params['data_volume'], code))
        return [line for line in b''.join(chunks).decode('utf-8', 'replace').splitlines() if line]

    # -- engine ----------------------------------------------------------------------------------------------

    def _client(self):
        if self.client is None:
            self.client = self.docker_client_factory(self.module, self.params['docker_host'])
        return self.client

    def _exec(self, container, client=None):
        """A runner of scripts in ``container`` (or on this host without one), checked before use."""
        if not container:
            runner = LocalExec(prefix='hna-restore')
            try:
                runner.check(('bash', 'zstd', 'gzip', 'mariadb', 'sed', 'tee'))
            except ExecError:
                runner.cleanup()
                raise
            return runner
        runner = ContainerExec(client or self._client(), container, prefix='hna-restore')
        runner.check()
        return runner

    def _cleanup(self, runner):
        problem = runner.cleanup()
        if problem:
            self.module.warn(problem)


def run_restore(docker_client_factory):
    """Run ``mysql_restore``; ``docker_client_factory(module, docker_host)`` returns a connected Docker client."""
    module = AnsibleModule(argument_spec=restore_argument_spec(), **RESTORE_MODULE_KWARGS)
    RestoreTask(module, docker_client_factory).run()
