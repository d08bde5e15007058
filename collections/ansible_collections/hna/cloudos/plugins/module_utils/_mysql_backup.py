# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runs of ``hna.cloudos.mysql_backup`` and ``hna.cloudos.mysql_backup_info``.

A backup run, on the host of the database server:

1. read the server (flavour, version, binary log, schemas) with the task's login, and find the
   instance directory (``_mysql_backup_store``);
2. in check mode, say what would be taken and what retention would delete, and stop;
3. take the instance lock, remove partial files of a killed run, pick the id;
4. run the pipeline inside the server's container (``_mysql_exec``): ``mariadb-dump`` (logical) or
   ``mariadb-backup --stream=xbstream`` (physical) into ``zstd``/``gzip``; the compressed stream
   comes out of the container and is hashed while it is written to the partial file, which is
   renamed into place only when every stage exited 0; then the manifest is written;
5. verify it (checksum, or a restore into a throw-away container), apply retention, copy it offsite.

Row counts of a logical backup are those of the dump's snapshot: commits are held (MariaDB
``BACKUP STAGE BLOCK_COMMIT``, MySQL ``FLUSH TABLES WITH READ LOCK``) while a second session opens
its consistent snapshot and reads the position and the dump opens its own; the hold ends as soon as
the dump's snapshot exists, and the second session counts the rows while the dump runs. When the
server has a binary log, the position the dump itself recorded must equal the one read under the
hold, or the counts are dropped.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import mmap
import os
import queue
import re
import shlex
import socket
import subprocess
import threading
import time
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hna.cloudos.plugins.module_utils import _mysql_backup_store as store
from ansible_collections.hna.cloudos.plugins.module_utils._mysql import (
    MARIADB,
    MYSQL_REQUIRED_TOGETHER,
    MySQLError,
    connect,
    server_error_line,
    mysql_argument_spec,
    option_file_content,
    parse_server_version,
    query_rows,
    quote_identifier,
    read_password_file,
)
from ansible_collections.hna.cloudos.plugins.module_utils._mysql_exec import (
    FIFO_CHUNK,
    ContainerExec,
    ExecError,
    LocalExec,
    forget_files_trap,
    stale_directories_cleanup,
)

DEFAULT_BACKUP_DIR = '/var/backups/hna-cloudos/mysql'
DEFAULT_SOCKET = '/run/mysqld/mysqld.sock'
#: Schemas of the server itself: never counted, never checked after a restore.
SYSTEM_SCHEMAS = ('mysql', 'information_schema', 'performance_schema', 'sys')
DEFAULT_LEVELS = {'zstd': 3, 'gzip': 6}
LEVEL_RANGES = {'zstd': (1, 19), 'gzip': (1, 9)}
#: Bytes of the start of a dump kept to read the binary log position it recorded.
EDGE_BYTES = 65536
#: Bytes of the start of a compressed dump given to :func:`head_script` (enough for ``EDGE_BYTES`` of raw
#: stream: a zstd block holds at most 128 KiB; a gzip stream decompresses from any length).
HEAD_INPUT_BYTES = 1024 * 1024
#: Bytes of a backup written through the page cache between two requests to the kernel to start writing them out.
WRITEBACK_BYTES = 64 * 1024 * 1024
#: Bytes of a backup the reader hands to the writing thread at a time (a multiple of :data:`DIRECT_ALIGNMENT`).
WRITE_BLOCK = 8 * 1024 * 1024
#: Room a block keeps for one more read after it reached :data:`WRITE_BLOCK` (the FIFO reader's chunk).
READ_ROOM = FIFO_CHUNK
#: Blocks of the stream writer: one filling, the others waiting for or in the writing thread.
WRITE_BUFFERS = 3
#: Alignment of the offsets, lengths and memory of direct I/O (the largest logical block size of disks in use).
DIRECT_ALIGNMENT = 4096
#: Longest time commits are held while waiting for the dump's snapshot.
MAX_HOLD_SECONDS = 30
WATCH_INTERVAL = 0.005
#: Seconds a throw-away server gets to start.
VERIFY_START_TIMEOUT = 180

_BINLOG_RE = re.compile(r"^-- CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+);", re.MULTILINE)
_XB_POSITION_RE = re.compile(
    r"MySQL binlog position: filename '([^']*)', position '(\d+)'(?:, GTID of the last change '([0-9,\-]*)')?")
#: Statements mariadb-dump only sends once its snapshot exists (``START TRANSACTION WITH CONSISTENT SNAPSHOT``
#: returned): seen in its session, they end the hold. Its statements before the snapshot (``SET ...``, ``SHOW STATUS
#: LIKE 'binlog_snapshot_%'``, which it also sends after) are not in this list.
_POST_SNAPSHOT_RE = re.compile(
    r"^\s*(SELECT BINLOG_GTID_POS\(|UNLOCK TABLES|set optimizer_switch='semijoin=off'|"
    r"SELECT LOGFILE_GROUP_NAME, FILE_NAME, TOTAL_EXTENTS|SELECT DISTINCT TABLESPACE_NAME, FILE_NAME|"
    r"SHOW CREATE DATABASE IF NOT EXISTS|SAVEPOINT sp|ROLLBACK TO SAVEPOINT sp|SELECT /\*!40001 SQL_NO_CACHE \*/|"
    r"SELECT engine, table_type FROM INFORMATION_SCHEMA\.TABLES WHERE table_schema = DATABASE\(\))", re.IGNORECASE)
#: The last line of ``zstd -vv``: ``/*stdin*\\ : 49.57%   (1004477506 B => 497942731 B, /*stdout*\\)`` (zstd 1.5);
#: before 1.5 ``(1004477506 => 497942731 bytes, /*stdout*\\)``.
_ZSTD_SIZES_RE = re.compile(r'\(\s*(\d+)(?: B)? => \s*\d+(?: B| bytes),')
_START_SNAPSHOT_RE = re.compile(r'^\s*START TRANSACTION /\*!40100 WITH CONSISTENT SNAPSHOT \*/', re.IGNORECASE)


class BackupError(Exception):
    """A failure of the backup module, as one line."""


# -- Options ------------------------------------------------------------------------------------------------

def _common_options():
    return dict(
        login_password_file=dict(type='path', no_log=False),
        container=dict(type='str'),
        container_socket=dict(type='str', default=DEFAULT_SOCKET),
        docker_host=dict(type='str', default='unix:///var/run/docker.sock'),
        backup_dir=dict(type='path', default=DEFAULT_BACKUP_DIR),
        instance=dict(type='str'),
        lock_timeout=dict(type='int', default=600),
    )


def backup_argument_spec():
    """The options of ``mysql_backup`` (a fresh dictionary each call)."""
    spec = _common_options()
    spec.update(
        method=dict(type='str', default='logical', choices=['logical', 'physical']),
        databases=dict(type='list', elements='str'),
        compression=dict(type='str', default='zstd', choices=['zstd', 'gzip']),
        compression_level=dict(type='int'),
        threads=dict(type='int', default=0),
        verify=dict(type='raw', default=False),
        verify_image=dict(type='str'),
        keep_last=dict(type='int'),
        keep_daily=dict(type='int'),
        keep_weekly=dict(type='int'),
        keep_monthly=dict(type='int'),
        offsite=dict(type='dict', options=dict(
            host=dict(type='str', required=True),
            user=dict(type='str'),
            path=dict(type='str', required=True),
            port=dict(type='int', default=22),
            identity_file=dict(type='path'),
        )),
        timeout=dict(type='int', default=21600),
    )
    return mysql_argument_spec(**spec)


BACKUP_MODULE_KWARGS = dict(
    supports_check_mode=True,
    required_together=MYSQL_REQUIRED_TOGETHER,
    mutually_exclusive=[['login_password', 'login_password_file']],
)


def info_argument_spec():
    """The options of ``mysql_backup_info`` (a fresh dictionary each call)."""
    return dict(
        backup_dir=dict(type='path', default=DEFAULT_BACKUP_DIR),
        instance=dict(type='str'),
        checksum=dict(type='bool', default=False),
    )


def normalize_verify(value):
    """``None`` (no verification), ``checksum`` or ``restore`` from the ``verify`` option."""
    if isinstance(value, bool):
        return 'checksum' if value else None
    text = to_native(value if value is not None else 'false').strip().lower()
    if text in ('false', 'no', 'off', '0', 'none', ''):
        return None
    if text in ('true', 'yes', 'on', '1', 'checksum'):
        return 'checksum'
    if text == 'restore':
        return 'restore'
    raise BackupError('verify must be false, true (the checksum) or restore, not %r' % (value,))


def check_options(params):
    """Check the options that AnsibleModule cannot; return the level of compression to use."""
    compression = params['compression']
    level = params.get('compression_level')
    low, high = LEVEL_RANGES[compression]
    if level is None:
        level = DEFAULT_LEVELS[compression]
    elif not low <= level <= high:
        raise BackupError('compression_level %d is out of range for %s: use %d to %d' % (level, compression, low, high))
    if params.get('threads') is not None and params['threads'] < 0:
        raise BackupError('threads must be 0 (all cores) or more, not %d' % params['threads'])
    if params['timeout'] is not None and params['timeout'] <= 0:
        raise BackupError('timeout must be a positive number of seconds, not %d' % params['timeout'])
    if params['lock_timeout'] < 0:
        raise BackupError('lock_timeout must be 0 or more seconds, not %d' % params['lock_timeout'])
    for name in params.get('databases') or []:
        if not name or name.startswith('-') or '\x00' in name or len(name) > 64:
            raise BackupError('databases: %r is not a database name' % (name,))
    if params['method'] == 'physical' and params.get('databases'):
        raise BackupError('databases cannot be used with method: physical, which copies the whole server; use method: logical')
    offsite = params.get('offsite')
    if offsite:
        if not re.match(r'^[A-Za-z0-9_./~-]+$', offsite['path']):
            raise BackupError('offsite.path %r may only hold letters, digits and . _ / ~ -' % offsite['path'])
        if offsite['host'].startswith('-') or (offsite.get('user') or '').startswith('-'):
            raise BackupError('offsite.host and offsite.user cannot start with a hyphen')
    return level


def login_params(params):
    """The connection options of the task, with ``login_password_file`` read into ``login_password``."""
    login = dict(params)
    if params.get('login_password_file'):
        login['login_password'] = read_password_file(params['login_password_file'])
    return login


def instance_name(params):
    return params.get('instance') or params.get('container') or 'local'


# -- Scripts ------------------------------------------------------------------------------------------------

def compressor(compression, level, threads, sizes=False):
    """The compression command (a list of arguments).

    With ``sizes``, zstd reports the exact sizes it read and wrote on its standard error (see :func:`raw_size`)
    instead of being quiet; gzip has no such report.
    """
    if compression == 'zstd':
        return ['zstd', '-vv' if sizes else '-q', '-T%d' % (threads or 0), '-%d' % level, '-c']
    return ['gzip', '-%d' % level, '-c']


def raw_size(compress_err):
    """The bytes zstd read (the size of the uncompressed stream) from its ``-vv`` report, or ``None``."""
    found = _ZSTD_SIZES_RE.findall(compress_err or '')
    return int(found[-1]) if found else None


def decompressor(compression):
    return ['zstd', '-q', '-dc'] if compression == 'zstd' else ['gzip', '-dc']


def _command(args):
    return ' '.join(shlex.quote(arg) for arg in args)


def dump_command(directory, log_bin, databases, timeout):
    """The ``mariadb-dump`` command of a logical backup (credentials in the option file of ``directory``)."""
    args = ['timeout', '--kill-after=30', str(int(timeout)), 'mariadb-dump',
            '--defaults-extra-file=%s/client.cnf' % directory,
            '--single-transaction', '--gtid']
    if log_bin:
        args.append('--master-data=2')
    args += ['--routines', '--triggers', '--events', '--hex-blob']
    if databases:
        args += ['--databases'] + list(databases)
    else:
        args.append('--all-databases')
    return args


def logical_script(directory, log_bin, databases, compression, level, threads, timeout):
    """The bash script of a logical backup; the compressed stream is its standard output.

    Results in ``out``: ``status`` (exit codes of the dump, the byte count and the compressor), ``dump.err``,
    ``compress.err``, ``rest`` (gzip only: the bytes of the raw stream), ``tools`` (versions), ``seconds``.

    zstd reads the dump directly and reports the size of the raw stream itself (see :func:`raw_size`); every
    other process on the way would copy the whole stream once more (about 5 % of the pipeline's time each on
    two cores). gzip cannot report it, so a ``tee`` gives the stream to ``wc`` too; with zstd the middle status
    is always 0. The position the dump recorded is read from the start of the file afterwards
    (:func:`head_script`).
    """
    out = shlex.quote(directory + '/out')
    compress = compressor(compression, level, threads, sizes=True)
    lines = [
        forget_files_trap(directory, ['client.cnf']),
        stale_directories_cleanup('hna-backup'),
        'start=$(date +%s.%N)',
    ]
    dump = '%s 2>%s/dump.err' % (_command(dump_command(directory, log_bin, databases, timeout)), out)
    if compression == 'zstd':
        pipeline, status, wait = dump, '${PIPESTATUS[0]} 0 ${PIPESTATUS[1]}', []
    else:
        pipeline = '%s | tee -p >( { wc -c > %s/rest; touch %s/counted; } )' % (dump, out, out)
        # The count is written by the reader of the tee; wait for it when the pipeline worked.
        status, wait = '${PIPESTATUS[*]}', [
            '[ "$hna_status" = "0 0 0" ] && for _ in $(seq 300); do [ -e %s/counted ] && break; sleep 0.1; done' % out]
    lines += ['%s | %s 2>%s/compress.err' % (pipeline, _command(compress), out),
              'hna_status="%s"' % status,
              'echo "$hna_status" > %s/status' % out,
              'end=$(date +%s.%N)'] + wait
    lines.append('echo "$start $end" > %s/seconds' % out)
    # The versions of the tools once the backup is taken: the module waits for the pipeline only.
    lines.append('{ mariadb-dump --version; %s --version | head -n 1; } > %s/tools 2>&1' % (compress[0], out))
    return '\n'.join(lines)


def head_script(directory, compression):
    """The bash script that writes the first :data:`EDGE_BYTES` of the raw stream to ``out/head``.

    Its standard input is the start of the compressed file (:data:`HEAD_INPUT_BYTES` at most): the
    decompressor stops with an error at the end of that input, or when ``head`` has enough; both are fine,
    and ``cat`` reads what it left.
    """
    out = shlex.quote(directory + '/out')
    # The rest of the input is read too: an exec whose process ends before its input does keeps the sender waiting.
    return '%s 2>/dev/null | head -c %d > %s/head\ncat > /dev/null\ntrue' % (_command(decompressor(compression)), EDGE_BYTES, out)


def physical_script(directory, compression, level, threads, timeout):
    """The bash script of a physical backup (``mariadb-backup --stream=xbstream``); the stream is its output.

    Results in ``out``: ``status`` (exit codes of mariadb-backup and the compressor), ``backup.err``
    (mariadb-backup's log, with the binary log position), ``compress.err``, ``tools``, ``seconds``.
    """
    out = shlex.quote(directory + '/out')
    target = shlex.quote(directory + '/target')
    compress = compressor(compression, level, threads)
    backup = ['timeout', '--kill-after=30', str(int(timeout)), 'mariadb-backup',
              '--defaults-extra-file=%s/client.cnf' % directory, '--backup', '--stream=xbstream',
              '--target-dir=%s/target' % directory]
    if threads:
        backup.append('--parallel=%d' % threads)
    return '\n'.join([
        forget_files_trap(directory, ['client.cnf']),
        stale_directories_cleanup('hna-backup'),
        'mkdir -p %s' % target,
        'start=$(date +%s.%N)',
        '%s 2>%s/backup.err | %s 2>%s/compress.err' % (_command(backup), out, _command(compress), out),
        'echo "${PIPESTATUS[*]}" > %s/status' % out,
        'end=$(date +%s.%N)',
        'echo "$start $end" > %s/seconds' % out,
        '{ mariadb-backup --version 2>&1 | head -n 1; %s --version | head -n 1; } > %s/tools 2>&1' % (compress[0], out),
    ])


def last_error(text, count=2):
    """The last meaningful lines of an error output, on one line (the warning about loose- options is noise)."""
    lines = [line.strip() for line in (text or '').splitlines()
             if line.strip() and "'loose-" not in line and 'Deprecated program name' not in line]
    errors = [line for line in lines if 'error' in line.lower() or 'failed' in line.lower()]
    chosen = (errors or lines)[-count:]
    return ' '.join(chosen) or 'no error output'


def pipeline_failure(method, results, exit_code):
    """One line naming the failed stage of a backup pipeline, or ``None`` when every stage exited 0."""
    codes = (results.get('status') or '').split()
    expected = 3 if method == 'logical' else 2
    if len(codes) != expected:
        return 'the pipeline did not finish (exit %s, no status of its stages): %s' % (
            exit_code, last_error(results.get('stderr') or results.get('dump.err') or results.get('backup.err')))
    values = [int(code) if code.isdigit() else -1 for code in codes]
    first = 'dump' if method == 'logical' else 'backup'
    error_file = 'dump.err' if method == 'logical' else 'backup.err'
    if values[0] == 124 or values[0] == 137:
        return 'stage %s: stopped after the timeout' % first
    if values[0] != 0:
        return 'stage %s: %s exited %d: %s' % (
            first, 'mariadb-dump' if method == 'logical' else 'mariadb-backup', values[0], last_error(results.get(error_file)))
    if method == 'logical' and values[1] != 0:
        return 'stage stream: tee exited %d (the stream between the dump and the compressor broke)' % values[1]
    if values[-1] != 0:
        return 'stage compress: the compressor exited %d: %s' % (values[-1], last_error(results.get('compress.err')))
    if exit_code not in (0, None):
        return 'the pipeline exited %s: %s' % (exit_code, last_error(results.get('stderr')))
    return None


def dump_position(head):
    """``position`` of a manifest from the head of a MariaDB dump: its binary log file and offset.

    The GTID is not there (mariadb-dump writes it near the end): :meth:`BackupTask._dump_position` asks the server.
    """
    match = _BINLOG_RE.search(head or '')
    return dict(gtid=None, binlog_file=match.group(1) if match else None,
                binlog_pos=int(match.group(2)) if match else None)


def physical_position(log):
    """``position`` of a manifest from the log of ``mariadb-backup --backup``."""
    matches = _XB_POSITION_RE.findall(log or '')
    if not matches:
        return dict(gtid=None, binlog_file=None, binlog_pos=None)
    binlog_file, binlog_pos, gtid = matches[-1]
    return dict(gtid=gtid or None, binlog_file=binlog_file or None, binlog_pos=int(binlog_pos))


def _seconds(results):
    times = (results.get('seconds') or '').split()
    if len(times) == 2:
        with contextlib.suppress(ValueError):
            return round(float(times[1]) - float(times[0]), 3)
    return None


def tool_versions(results, method, compression):
    lines = [line.strip() for line in (results.get('tools') or '').splitlines() if line.strip()]
    first = 'mariadb-dump' if method == 'logical' else 'mariadb-backup'
    return {first: lines[0] if lines else None, compression: lines[1] if len(lines) > 1 else None}


def count_statements(tables):
    """SQL that prints ``schema.table<TAB>count`` for each table (to count rows after a restore)."""
    lines = []
    for name in sorted(tables):
        schema, table = name.split('.', 1)
        literal = name.replace('\\', '\\\\').replace("'", "\\'")
        lines.append("SELECT '%s', COUNT(*) FROM %s;" % (literal, quote_identifier(schema, table)))
    return '\n'.join(lines) + '\n'


def parse_counts(text):
    counts = {}
    for line in (text or '').splitlines():
        name, sep, value = line.rpartition('\t')
        if sep and value.strip().isdigit():
            counts[name] = int(value)
    return counts


def compare_counts(expected, actual):
    """Differences between the manifest's row counts and those of a restore: a list of lines."""
    problems = []
    for name in sorted(expected):
        if actual.get(name) != expected[name]:
            problems.append('%s: %s rows in the manifest, %s after the restore' % (name, expected[name], actual.get(name)))
    return problems


def counts_verdict(counts, problem, log_bin, dump_gtid, counted_gtid, detected):
    """``(counts, reason)``: the row counts of the counting snapshot if they are the dump's, else ``None`` and why.

    With a binary log, the GTID positions of the two snapshots must be equal. Without one, the hold must have lasted
    until the dump's snapshot was seen; a dump of no table at all (an empty database ends before the watcher sees
    it) has nothing to count, and its empty counts are right whatever the snapshot.
    """
    if counts is None:
        return None, problem
    if log_bin:
        if dump_gtid != counted_gtid:
            return None, 'the dump recorded GTID position %s, the counting snapshot %s' % (dump_gtid, counted_gtid)
    elif not detected and counts:
        return None, 'the dump\'s snapshot was not seen in time (no binary log to check the position)'
    return counts, None


# -- Row counts at the snapshot -----------------------------------------------------------------------------

class SnapshotCounter:
    """Holds commits until the dump's snapshot exists, and counts the rows of that snapshot in a second session.

    ``prepare()`` (before the dump starts) holds commits and opens the counting session's snapshot;
    ``start()`` starts the watcher thread; ``finish()`` (after the dump) waits for it and returns the
    figures. Any failure of the counting only drops the counts (with a warning), never the backup.
    """

    def __init__(self, login, flavour, databases, schemas):
        self.login = login
        self.flavour = flavour
        self.databases = databases
        self.schemas = schemas
        self.holder = None
        self.counter = None
        self.watcher = None
        self.position = None
        self.tables = []
        self.counts = None
        self.problem = None
        self.detected = None
        self.lock_seconds = None
        self.stop = threading.Event()
        self.dump_ended = threading.Event()
        self.skip = False
        self._held_at = None
        self._known = set()
        self._starting = set()
        self._thread = None

    def prepare(self):
        self.holder = connect(self.login)
        self.counter = connect(self.login)
        self.watcher = connect(self.login)
        schemas = self.databases or [name for name in self.schemas if name not in SYSTEM_SCHEMAS]
        if schemas:
            placeholders = ', '.join(['%s'] * len(schemas))
            rows = query_rows(self.watcher, (
                "SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'"
                ' AND TABLE_SCHEMA IN (%s) ORDER BY TABLE_SCHEMA, TABLE_NAME' % placeholders, tuple(schemas)))
            self.tables = [(_text(row['s']), _text(row['t'])) for row in rows]
        self._known = set(int(row['id']) for row in query_rows(
            self.watcher, ('SELECT ID AS id FROM information_schema.PROCESSLIST', ())))
        with self.holder.cursor() as cursor:
            cursor.execute('SET SESSION lock_wait_timeout = 60')
            if self.flavour == MARIADB:
                cursor.execute('BACKUP STAGE START')
                cursor.execute('BACKUP STAGE BLOCK_COMMIT')
            else:
                cursor.execute('FLUSH TABLES WITH READ LOCK')
        self._held_at = time.monotonic()
        with self.counter.cursor() as cursor:
            cursor.execute('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')
            cursor.execute('START TRANSACTION WITH CONSISTENT SNAPSHOT')
        if self.flavour == MARIADB:
            row = query_rows(self.counter, ('SELECT @@GLOBAL.gtid_binlog_pos AS gtid', ()))[0]
            gtid = _text(row['gtid']) or None
        else:
            row = query_rows(self.counter, ('SELECT @@GLOBAL.gtid_executed AS gtid', ()))[0]
            gtid = ''.join(_text(row['gtid']).split()) or None
        try:
            status = query_rows(self.counter, ('SHOW MASTER STATUS', ()))
        except Exception:  # pylint: disable=broad-except
            status = []
        self.position = dict(gtid=gtid, binlog_file=_text(status[0]['File']) if status else None,
                             binlog_pos=int(status[0]['Position']) if status else None)

    def start(self):
        self._thread = threading.Thread(target=self._watch, name='hna-backup-snapshot')
        self._thread.daemon = True
        self._thread.start()

    def _dump_has_snapshot(self):
        user = self.login.get('login_user') or 'root'
        rows = query_rows(self.watcher, (
            'SELECT p.ID AS id, p.COMMAND AS command, p.INFO AS info, t.trx_id AS trx FROM information_schema.PROCESSLIST p'
            # A transaction that has locked or changed nothing: the dump's reads, not a writer waiting for its commit.
            ' LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID AND t.trx_lock_structs = 0'
            ' AND t.trx_rows_modified = 0 WHERE p.USER = %s', (user,)))
        for row in rows:
            ident = int(row['id'])
            if ident in self._known:
                continue
            if row['trx'] is not None:
                return True
            info = _text(row['info'])
            if _START_SNAPSHOT_RE.match(info):
                self._starting.add(ident)
            elif ident in self._starting:
                return True  # its START TRANSACTION WITH CONSISTENT SNAPSHOT has returned
            elif _POST_SNAPSHOT_RE.match(info):
                return True
        return False

    def _release(self):
        if self._held_at is None:
            return
        try:
            with self.holder.cursor() as cursor:
                cursor.execute('BACKUP STAGE END' if self.flavour == MARIADB else 'UNLOCK TABLES')
        finally:
            self.lock_seconds = round(time.monotonic() - self._held_at, 3)
            self._held_at = None

    def _watch(self):
        try:
            deadline = time.monotonic() + MAX_HOLD_SECONDS
            self.detected = False
            while not self.stop.is_set() and time.monotonic() < deadline:
                if self._dump_has_snapshot():
                    self.detected = True
                    break
                time.sleep(WATCH_INTERVAL)
            self._release()
            # The counting session keeps its snapshot; the counts wait for the end of the dump, so that they do not
            # take processor time and I/O from the dump and its compressor.
            self.dump_ended.wait()
            if self.skip:
                return
            counts = {}
            for schema, table in self.tables:
                row = query_rows(self.counter, ('SELECT COUNT(*) AS n FROM %s' % quote_identifier(schema, table), ()))[0]
                counts['%s.%s' % (schema, table)] = int(row['n'])
            with self.counter.cursor() as cursor:
                cursor.execute('COMMIT')
            self.counts = counts
        except Exception as exc:  # pylint: disable=broad-except
            args = getattr(exc, 'args', ())
            self.problem = to_native(args[1]) if len(args) > 1 else to_native(exc)
        finally:
            with contextlib.suppress(Exception):
                self._release()

    def stream_ended(self, ok):
        """The dump has ended: stop watching, and count now (``ok``) or not at all."""
        self.skip = not ok
        self.stop.set()
        self.dump_ended.set()

    def finish(self, timeout):
        self.stop.set()
        self.dump_ended.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.close()

    def close(self):
        with contextlib.suppress(Exception):
            self._release()
        for connection in (self.holder, self.counter, self.watcher):
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()


def _stage(stages, name, since):
    now = time.monotonic()
    stages[name] = round(now - since, 3)
    return now


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return '' if value is None else str(value)


# -- Writing the stream -------------------------------------------------------------------------------------

class StreamWriter:
    """The sink of a backup stream: hashes it and writes it to the partial file, in a thread of its own.

    The reader of the stream reads straight into the writer's current block (:meth:`buffer`, then
    :meth:`advance`; a reader with a buffer of its own calls the writer with each chunk, which is one copy more);
    a full block goes to the writing thread, which hashes it and writes it while the reader fills the next one.

    The file is written with direct I/O (``O_DIRECT``) where its file system takes it: the blocks go from the
    writer's buffers to the disk, with no copy into the page cache and no writeback by the kernel afterwards (a
    backup is not read again soon, and verification reads the disk). Blocks are multiples of
    :data:`DIRECT_ALIGNMENT` and page-aligned; the last, shorter part goes through the page cache. Where direct
    I/O is refused (at the open, or by a write), the thread writes through the page cache and, every
    :data:`WRITEBACK_BYTES`, asks the kernel to start writing the part written since (without waiting for it), so
    that the fsync at the end waits for the last part only.

    A failure of the thread is kept in ``error`` and raised (as ``OSError``) at the reader's next call; :meth:`close`
    waits for the thread, after which every byte received is on file unless ``error`` is set.
    """

    def __init__(self, path):
        self.path = path
        self.handle, self.partial = store.create_partial(path)
        self.descriptor = self.handle.fileno()
        self.digest = hashlib.sha256()
        self.size = 0
        self.written = 0
        self.error = None
        self.direct = set_direct_io(self.descriptor, True)
        self._written_back = 0
        self._abandoned = False
        self._closed = False
        self._free = queue.Queue()
        self._full = queue.Queue()
        for dummy in range(WRITE_BUFFERS):
            self._free.put(mmap.mmap(-1, WRITE_BLOCK + READ_ROOM))
        self._block = self._free.get()
        self._view = memoryview(self._block)
        self._fill = 0
        self._thread = threading.Thread(target=self._write_blocks, name='hna-backup-writer')
        self._thread.daemon = True
        self._thread.start()

    # The reader's side.

    def buffer(self):
        """The free room of the current block (at least :data:`READ_ROOM` bytes), to read into."""
        self._raise_error()
        return self._view[self._fill:]

    def advance(self, count):
        """``count`` bytes were read into :meth:`buffer`."""
        self._fill += count
        self.size += count
        if self._fill >= WRITE_BLOCK:
            self._hand_off()

    def __call__(self, data):
        """Take a chunk held in the reader's own buffer (copied into the current block)."""
        self._raise_error()
        data = memoryview(data).cast('B')
        offset = 0
        while offset < len(data):
            room = self._view[self._fill:]
            count = min(len(room), len(data) - offset)
            room[:count] = data[offset:offset + count]
            self.advance(count)
            offset += count

    def close(self):
        """Hand the rest to the thread and wait for it to end; afterwards ``error`` says whether all is on file."""
        if self._closed:
            return
        self._closed = True
        self._hand_off(final=True)
        self._full.put(None)
        self._thread.join()
        if self.error is None and self.written != self.size:
            self.error = OSError(errno.EIO, 'wrote %d of the %d bytes received' % (self.written, self.size))

    def commit(self):
        self.close()
        if self.error is not None:
            raise self.error
        store.commit_partial(self.handle, self.partial, self.path)

    def discard(self):
        self._abandoned = True
        with contextlib.suppress(Exception):
            self.close()
        with contextlib.suppress(Exception):
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.partial)

    def _raise_error(self):
        error = self.error
        if error is not None:
            if isinstance(error, OSError):
                raise error
            raise OSError(errno.EIO, to_native(error))

    def _hand_off(self, final=False):
        # A block leaves with a length that direct I/O takes; the rest starts the next block.
        length = self._fill if final else self._fill - self._fill % DIRECT_ALIGNMENT
        block, view, rest = self._block, self._view, self._fill - length
        if final:
            self._block = self._view = None
            self._fill = 0
        else:
            self._block = self._free.get()
            self._view = memoryview(self._block)
            self._view[:rest] = view[length:length + rest]
            self._fill = rest
        view.release()
        self._full.put((block, length))

    # The writing thread.

    def _write_blocks(self):
        while True:
            item = self._full.get()
            if item is None:
                return
            block, length = item
            if self.error is None and not self._abandoned:
                try:
                    self._write(block, length)
                except Exception as exc:  # pylint: disable=broad-except
                    self.error = exc
            self._free.put(block)

    def _write(self, block, length):
        view = memoryview(block)
        try:
            self.digest.update(view[:length])
            offset = 0
            while offset < length:
                end = length
                if self.direct and length % DIRECT_ALIGNMENT:
                    end = length - length % DIRECT_ALIGNMENT
                    if end == offset:
                        # The last, unaligned part: through the page cache.
                        self.direct = set_direct_io(self.descriptor, False)
                        end = length
                try:
                    count = os.write(self.descriptor, view[offset:end])
                except OSError as exc:
                    if exc.errno != errno.EINVAL or not self.direct:
                        raise
                    # The file system took O_DIRECT at the open but refuses this write (its alignment is larger).
                    self.direct = set_direct_io(self.descriptor, False)
                    if self.direct:
                        raise
                    continue
                offset += count
                self.written += count
        finally:
            view.release()
        if not self.direct and self.written - self._written_back >= WRITEBACK_BYTES:
            with contextlib.suppress(OSError, AttributeError):
                os.posix_fadvise(self.descriptor, self._written_back, self.written - self._written_back,
                                 os.POSIX_FADV_DONTNEED)
            self._written_back = self.written


def set_direct_io(descriptor, on):
    """Turn direct I/O (``O_DIRECT``) on or off for an open file; return whether it is on afterwards."""
    flag = getattr(os, 'O_DIRECT', 0)
    if not flag:
        return False
    try:
        flags = fcntl.fcntl(descriptor, fcntl.F_GETFL)
        fcntl.fcntl(descriptor, fcntl.F_SETFL, (flags | flag) if on else (flags & ~flag))
    except OSError:
        return not on
    return on


# -- The backup module --------------------------------------------------------------------------------------

class BackupTask:
    """One run of ``mysql_backup``."""

    def __init__(self, module, docker_client_factory):
        self.module = module
        self.params = module.params
        self.client_factory = docker_client_factory
        self.client = None
        self.result = dict(changed=False, backup=None, deleted=[], kept=[], offsite=None)
        self.cleanups = []

    def warn(self, message):
        self.module.warn(' '.join(to_native(message).split()))

    def run(self):
        try:
            self._run()
        except (BackupError, MySQLError, ExecError, store.StoreError) as exc:
            self._cleanup()
            self.module.fail_json(msg=' '.join(to_native(exc).split()), **self.result)
        except Exception as exc:  # pylint: disable=broad-except
            self._cleanup()
            line = server_error_line(exc)
            if line:
                self.module.fail_json(msg=line, **self.result)
            raise
        self._cleanup()
        self.module.exit_json(**self.result)

    def _cleanup(self):
        while self.cleanups:
            action = self.cleanups.pop()
            try:
                message = action()
            except Exception as exc:  # pylint: disable=broad-except
                message = to_native(exc)
            if message:
                self.warn(message)

    # -- steps --

    def _server(self, login):
        connection = connect(login)
        try:
            row = query_rows(connection, (
                'SELECT VERSION() AS version, @@version_comment AS comment, @@log_bin AS log_bin,'
                ' @@hostname AS hostname', ()))[0]
            schemas = [_text(item['name']) for item in query_rows(connection, (
                'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME', ()))]
        finally:
            connection.close()
        server = parse_server_version(_text(row['version']), _text(row['comment']))
        return dict(flavour=server.flavour, version='.'.join(str(part) for part in server.version), text=server.text,
                    log_bin=_text(row['log_bin']).lower() in ('1', 'on'), hostname=_text(row['hostname']), schemas=schemas)

    def _check_readable(self, login, server):
        """Fail unless the account may read every table of the databases to dump.

        ``mariadb-dump`` silently leaves out the tables an account cannot see, which gives a backup that lacks
        them; so the account needs ``SELECT`` on each database as a whole (or on ``*.*``).
        """
        schemas = self.params.get('databases') or [name for name in server['schemas'] if name not in SYSTEM_SCHEMAS]
        if not schemas:
            return
        grantee = ("CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1),"
                   " '''')")
        connection = connect(login)
        try:
            user = _text(query_rows(connection, ('SELECT CURRENT_USER() AS user', ()))[0]['user'])
            rows = query_rows(connection, (
                "SELECT 1 AS ok FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT' AND GRANTEE = %s"
                % grantee, ()))
            if rows:
                return
            placeholders = ', '.join(['%s'] * len(schemas))
            rows = query_rows(connection, (
                "SELECT DISTINCT TABLE_SCHEMA AS s FROM information_schema.SCHEMA_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT'"
                ' AND GRANTEE = %s AND TABLE_SCHEMA IN (%s)' % (grantee, placeholders), tuple(schemas)))
        finally:
            connection.close()
        readable = set(_text(row['s']) for row in rows)
        lacking = [name for name in schemas if name not in readable]
        if lacking:
            raise BackupError('login_user %s may not read every table of %s (no SELECT on the whole database): the dump would'
                              ' silently leave out the tables it cannot see; grant SELECT ON <database>.* (or on *.*) to that'
                              ' account itself' % (user, ', '.join(lacking)))

    def _runner(self, prefix='hna-backup'):
        container = self.params.get('container')
        if not container:
            runner = LocalExec(prefix=prefix)
            self.cleanups.append(runner.cleanup)
            runner.check(('bash', 'timeout', 'tee', 'mariadb-dump' if self.params['method'] == 'logical' else 'mariadb-backup',
                          self.params['compression']))
            return runner, None
        if self.client is None:
            self.client = self.client_factory(self.module, self.params['docker_host'])
            self.cleanups.append(self.client.close)
        runner = ContainerExec(self.client, container, prefix=prefix)
        info = runner.inspect()
        return runner, info

    def _run(self):
        params = self.params
        level = check_options(params)
        verify = normalize_verify(params.get('verify'))
        self.verify = verify
        login = login_params(params)
        instance = store.validate_instance(instance_name(params))
        directory = store.instance_dir(params['backup_dir'], instance, create=not self.module.check_mode)
        server = self._server(login)
        if server['flavour'] != MARIADB:
            raise BackupError('the server at %s runs %s: this module backs up MariaDB servers (mariadb-dump, mariadb-backup)'
                              % (params.get('container') or params.get('login_host'), server['text']))
        missing = [name for name in params.get('databases') or [] if name not in server['schemas']]
        if missing:
            raise BackupError('databases: %s not on the server (it has %s)' % (
                ', '.join(missing), ', '.join(name for name in server['schemas'] if name not in SYSTEM_SCHEMAS) or 'none'))
        if params['method'] == 'logical':
            self._check_readable(login, server)
        runner, container_info = self._runner()
        before = store.list_backups(directory)
        rules = dict(keep_last=params.get('keep_last'), keep_daily=params.get('keep_daily'),
                     keep_weekly=params.get('keep_weekly'), keep_monthly=params.get('keep_monthly'))
        if self.module.check_mode:
            self._check_mode(directory, instance, before, rules, verify)
            return
        lock = store.InstanceLock(directory, 'backup', params['lock_timeout'])
        lock.acquire()
        self.cleanups.append(lock.release)
        removed = store.cleanup_partials(directory)
        if removed:
            self.result['partials_removed'] = removed
        before = store.list_backups(directory)
        started = store.to_utc(None)
        backup_id = store.new_backup_id(directory, instance, params['method'], started)
        lock.update(id=backup_id)
        if params['method'] == 'logical':
            manifest = self._logical(runner, directory, instance, backup_id, login, server, level, started)
        else:
            manifest = self._physical(runner, directory, instance, backup_id, server, level, started)
        self.result['changed'] = True
        if verify:
            manifest = self._verify(directory, manifest, verify, container_info)
        self.result['backup']['manifest'] = manifest
        if any(value is not None for value in rules.values()):
            backups = store.list_backups(directory)
            keep, delete = store.retention_plan(backups, now=store.to_utc(None), locked=True, **rules)
            by_id = dict((backup['id'], backup) for backup in backups)
            for backup_id_to_delete in delete:
                store.delete_backup(directory, by_id[backup_id_to_delete])
            self.result['deleted'] = delete
            self.result['kept'] = keep
        else:
            self.result['kept'] = [backup['id'] for backup in store.list_backups(directory)]
        if params.get('offsite'):
            self.result['offsite'] = self._offsite(directory, manifest)
        if self.module._diff:
            self.result['diff'] = dict(before=dict(backups=[backup['id'] for backup in before]),
                                       after=dict(backups=[backup['id'] for backup in store.list_backups(directory)]))

    def _check_mode(self, directory, instance, before, rules, verify):
        params = self.params
        now = store.to_utc(None)
        backup_id = store.new_backup_id(directory, instance, params['method'], now)
        extension = store.data_extension(params['method'], params['compression'])
        self.result['backup'] = dict(would_take=dict(
            id=backup_id, method=params['method'], compression=params['compression'],
            databases=params.get('databases'), path=os.path.join(directory, '%s.%s' % (backup_id, extension)),
            verify=verify))
        self.result['changed'] = True
        if any(value is not None for value in rules.values()):
            planned = [dict(id=backup_id, status=store.VERIFIED if verify else store.UNVERIFIED, time=now)] + list(before)
            keep, delete = store.retention_plan(planned, now=now, locked=True, **rules)
            self.result['deleted'] = delete
            self.result['kept'] = keep
        else:
            self.result['kept'] = [backup['id'] for backup in before]
        if self.module._diff:
            after = [backup_id] + [backup['id'] for backup in before if backup['id'] not in self.result['deleted']]
            self.result['diff'] = dict(before=dict(backups=[backup['id'] for backup in before]),
                                       after=dict(backups=after))

    def _inner_login(self, login):
        """The login the tools use where they run: the server's socket inside its container, else the task's login."""
        if self.params.get('container'):
            return dict(login_user=login.get('login_user') or 'root', login_password=login.get('login_password'),
                        login_unix_socket=self.params.get('container_socket') or DEFAULT_SOCKET,
                        connect_timeout=login.get('connect_timeout'))
        return dict((key, value) for key, value in login.items())

    def _stream(self, runner, script, path):
        """Run a backup script, its standard output into ``path``; return ``(writer, exit code, results)``."""
        writer = StreamWriter(path)
        code = None
        try:
            try:
                code = runner.stream_out(script, writer, self.params['timeout'] + 120)
            except OSError:
                pass  # raised by the writer: reported below with the stage "write"
            writer.close()
            results = runner.read_files()
        except BaseException:
            writer.discard()
            raise
        return writer, code, results

    def _manifest(self, backup_id, instance, path, method, writer, server, started, finished, seconds):
        params = self.params
        duration = round(max(seconds or 0.0, (finished - started).total_seconds()), 3)
        return dict(
            format=store.MANIFEST_FORMAT, id=backup_id, instance=instance, file=os.path.basename(path), method=method,
            compression=params['compression'], size=writer.size, sha256=writer.digest.hexdigest(), raw_size=None,
            server=dict(host=socket.gethostname(), container=params.get('container'), flavour=server['flavour'],
                        version=server['version']),
            databases=params.get('databases') or None, position=None, row_counts=None,
            started=store.format_time(started), finished=store.format_time(finished), duration=duration,
            throughput=int(writer.size / duration) if duration else None, tools={},
            verified=None, verified_at=None, status='complete',
            schemas=[name for name in server['schemas'] if name not in SYSTEM_SCHEMAS],
        )

    def _finish(self, directory, writer, code, results, method):
        """Keep the data file when the whole pipeline worked; otherwise remove it and fail naming the stage."""
        problem = None
        if writer.error is not None:
            problem = 'stage write: writing %s failed: %s' % (writer.partial, writer.error.strerror or writer.error)
        else:
            problem = pipeline_failure(method, results, code)
        if problem is None and writer.size == 0:
            problem = 'stage stream: the pipeline wrote nothing'
        if problem:
            writer.discard()
            raise BackupError('%s backup failed, nothing kept: %s' % (method.capitalize(), problem))
        try:
            writer.commit()
        except (OSError, store.StoreError) as exc:
            writer.discard()
            raise BackupError('%s backup failed, nothing kept: stage write: %s' % (
                method.capitalize(), getattr(exc, 'strerror', None) or exc)) from None

    def _write_manifest(self, directory, manifest, data_file):
        try:
            store.write_manifest(directory, manifest)
        except (OSError, store.StoreError) as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(data_file)
            raise BackupError('backup %s failed, nothing kept: stage write: the manifest could not be written: %s'
                              % (manifest['id'], getattr(exc, 'strerror', None) or exc)) from None

    def _logical(self, runner, directory, instance, backup_id, login, server, level, started):
        params = self.params
        stages = {}
        mark = time.monotonic()
        path = os.path.join(directory, '%s.%s' % (backup_id, store.data_extension('logical', params['compression'])))
        runner.put_files({'client.cnf': option_file_content(self._inner_login(login), 'client', server['flavour'])})
        self.cleanups.append(runner.cleanup)
        script = logical_script(runner.directory, server['log_bin'], params.get('databases'), params['compression'], level,
                                params['threads'], params['timeout'])
        counter = SnapshotCounter(login, server['flavour'], params.get('databases'), server['schemas'])
        try:
            counter.prepare()
        except Exception as exc:  # pylint: disable=broad-except
            # Without the hold the backup is still good; only the counts are missing.
            counter.close()
            counter = None
            self.warn('row counts are left out of backup %s: the snapshot for counting could not be prepared (%s)'
                      % (backup_id, to_native(exc)))
        streamed = False
        try:
            if counter is not None:
                counter.start()
            mark = _stage(stages, 'prepare', mark)
            writer, code, results = self._stream(runner, script, path)
            streamed = True
            mark = _stage(stages, 'stream', mark)
            if counter is not None:
                counter.stream_ended(writer.error is None and pipeline_failure('logical', results, code) is None)
            self._finish(directory, writer, code, results, 'logical')
            finished = store.to_utc(None)
            mark = _stage(stages, 'sync', mark)
        finally:
            if counter is not None:
                if not streamed:
                    counter.stream_ended(False)
                counter.finish(params['timeout'])
        mark = _stage(stages, 'counts', mark)
        manifest = self._manifest(backup_id, instance, path, 'logical', writer, server, started, finished, _seconds(results))
        rest = (results.get('rest') or '').strip()
        manifest['raw_size'] = int(rest) if rest.isdigit() else raw_size(results.get('compress.err'))
        try:
            position = self._dump_position(runner, path, login, server)
        except Exception as exc:  # pylint: disable=broad-except
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise BackupError('logical backup failed, nothing kept: stage position: the position the dump recorded could not'
                              ' be read: %s' % (server_error_line(exc) or to_native(exc))) from None
        manifest['tools'] = tool_versions(results, 'logical', params['compression'])
        lock_seconds = None
        if counter is not None:
            lock_seconds = counter.lock_seconds
            counts, reason = counts_verdict(counter.counts, counter.problem, server['log_bin'], position['gtid'],
                                            counter.position['gtid'], counter.detected)
            if counts is None:
                self.warn('row counts are left out of backup %s: %s' % (backup_id, reason or 'they could not be read'))
            manifest['row_counts'] = counts
        manifest['position'] = position
        self._write_manifest(directory, manifest, path)
        self.result['backup'] = dict(id=backup_id, path=path, size=manifest['size'], duration=manifest['duration'],
                                     throughput=manifest['throughput'], lock_seconds=lock_seconds,
                                     transport=getattr(runner, 'transport', None) or 'pipe', stages=stages)
        stages['pipeline'] = _seconds(results)
        return manifest

    def _dump_position(self, runner, path, login, server):
        """The position the dump recorded: binary log file and offset from its head, the GTID position of that offset.

        mariadb-dump writes the GTID position near the end of the dump, as ``BINLOG_GTID_POS()`` of the file and
        offset it wrote at the start; the module asks the server the same question rather than read the whole stream.
        """
        if not server['log_bin']:
            return dump_position('')
        with open(path, 'rb') as handle:
            start = handle.read(HEAD_INPUT_BYTES)
        runner.stream_in(head_script(runner.directory, self.params['compression']), [start], 120)
        position = dump_position(runner.read_files().get('head'))
        if position['binlog_file']:
            connection = connect(login)
            try:
                row = query_rows(connection, ('SELECT BINLOG_GTID_POS(%s, %s) AS gtid',
                                              (position['binlog_file'], position['binlog_pos'])))[0]
            finally:
                connection.close()
            position['gtid'] = _text(row['gtid']) or None
        return position

    def _physical(self, runner, directory, instance, backup_id, server, level, started):
        params = self.params
        stages = {}
        mark = time.monotonic()
        path = os.path.join(directory, '%s.%s' % (backup_id, store.data_extension('physical', params['compression'])))
        login = login_params(params)
        content = option_file_content(self._inner_login(login), 'client', server['flavour'])
        # mariadb-backup reads its own groups; the same login under [mariadb-backup] makes sure it finds it.
        content += content.replace('[client]', '[mariadb-backup]', 1)
        runner.put_files({'client.cnf': content})
        self.cleanups.append(runner.cleanup)
        script = physical_script(runner.directory, params['compression'], level, params['threads'], params['timeout'])
        mark = _stage(stages, 'prepare', mark)
        writer, code, results = self._stream(runner, script, path)
        mark = _stage(stages, 'stream', mark)
        self._finish(directory, writer, code, results, 'physical')
        finished = store.to_utc(None)
        _stage(stages, 'sync', mark)
        stages['pipeline'] = _seconds(results)
        manifest = self._manifest(backup_id, instance, path, 'physical', writer, server, started, finished, _seconds(results))
        manifest['position'] = physical_position(results.get('backup.err'))
        manifest['tools'] = tool_versions(results, 'physical', params['compression'])
        self._write_manifest(directory, manifest, path)
        self.result['backup'] = dict(id=backup_id, path=path, size=manifest['size'], duration=manifest['duration'],
                                     throughput=manifest['throughput'], lock_seconds=None,
                                     transport=getattr(runner, 'transport', None) or 'pipe', stages=stages)
        return manifest

    # -- verification --

    def _verify(self, directory, manifest, how, container_info):
        ok, message = store.verify_checksum(directory, manifest)
        if not ok:
            store.mark_corrupt(directory, manifest)
            raise BackupError('verify: %s' % message)
        if how == 'checksum':
            manifest = store.mark_verified(directory, manifest, 'checksum')
            self.result['backup']['verified'] = 'checksum'
            return manifest
        image = self.params.get('verify_image') or ((container_info or {}).get('Config') or {}).get('Image')
        if not image:
            raise BackupError('verify: restore needs verify_image (the image of a throw-away server) when there is no container')
        if self.client is None:
            self.client = self.client_factory(self.module, self.params['docker_host'])
            self.cleanups.append(self.client.close)
        started = time.monotonic()
        figures = verify_restore(self.client, image, manifest, directory, self.params['timeout'])
        manifest = store.mark_verified(directory, manifest, 'restore')
        figures['seconds'] = round(time.monotonic() - started, 3)
        self.result['backup']['verified'] = 'restore'
        self.result['backup']['verify'] = figures
        return manifest

    # -- offsite --

    def _offsite(self, directory, manifest):
        return offsite_copy(self.params['offsite'], directory, manifest)


# -- Verification by restore --------------------------------------------------------------------------------

def _read_chunks(path, chunk=1024 * 1024):
    with open(path, 'rb') as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                return
            yield block


def verify_container_name(instance):
    return '%s-verify-%s' % (instance, uuid.uuid4().hex[:8])


def restore_check_script(directory, compression):
    """Logical restore into the throw-away server, then the row counts in the same session (``out/counts``)."""
    out = shlex.quote(directory + '/out')
    return '\n'.join([
        '{ %s 2>%s/decompress.err; echo $? > %s/decompress.status; cat %s; } \\' % (
            _command(decompressor(compression)), out, out, shlex.quote(directory + '/counts.sql')),
        '  | mariadb --binary-mode -uroot -N -B > %s/counts 2>%s/import.err' % (out, out),
        'echo "${PIPESTATUS[*]}" > %s/status' % out,
    ])


PHYSICAL_DATA = '/var/lib/hna-verify'
PHYSICAL_SOCKET = '/run/mysqld/hna-verify.sock'


def unpack_script(directory, compression):
    out = shlex.quote(directory + '/out')
    return '\n'.join([
        'rm -rf %s && mkdir -p %s' % (PHYSICAL_DATA, PHYSICAL_DATA),
        '%s 2>%s/decompress.err | mbstream -x -C %s 2>%s/unpack.err' % (
            _command(decompressor(compression)), out, PHYSICAL_DATA, out),
        'echo "${PIPESTATUS[*]}" > %s/status' % out,
    ])


def prepare_and_start_script(directory, timeout):
    """Prepare the unpacked physical backup, start a second server on it and list its databases."""
    out = shlex.quote(directory + '/out')
    return '\n'.join([
        'mariadb-backup --prepare --target-dir=%s > %s/prepare.err 2>&1; echo $? > %s/prepare.status' % (
            PHYSICAL_DATA, out, out),
        '[ "$(cat %s/prepare.status)" = 0 ] || exit 0' % out,
        'chown -R mysql:mysql %s' % PHYSICAL_DATA,
        'mariadbd --no-defaults --user=mysql --datadir=%s --socket=%s --skip-networking --skip-grant-tables'
        ' --innodb-buffer-pool-size=64M --pid-file=/run/mysqld/hna-verify.pid > %s/server.log 2>&1 &' % (
            PHYSICAL_DATA, PHYSICAL_SOCKET, out),
        'for _ in $(seq %d); do mariadb-admin --socket=%s ping --silent > /dev/null 2>&1 && break; sleep 1; done' % (
            int(timeout), PHYSICAL_SOCKET),
        'mariadb --socket=%s -N -B -e "SHOW DATABASES" > %s/databases 2>%s/query.err; echo $? > %s/query.status' % (
            PHYSICAL_SOCKET, out, out, out),
        'mariadb --socket=%s -N -B < counts.sql > %s/counts 2>>%s/query.err' % (PHYSICAL_SOCKET, out, out),
        'mariadb-admin --socket=%s shutdown > /dev/null 2>&1 || true' % PHYSICAL_SOCKET,
    ])


def _wait_ready(runner, timeout):
    """Wait until the throw-away server runs its real process (not the init one) and answers."""
    deadline = time.monotonic() + timeout
    script = ('[ "$(cat /proc/1/comm)" = mariadbd ] || [ "$(cat /proc/1/comm)" = mysqld ] || exit 1\n'
              'mariadb-admin ping --silent > /dev/null 2>&1 && mariadb -uroot -N -B -e "SELECT 1" > /dev/null 2>&1')
    while time.monotonic() < deadline:
        if runner.run(script, 30) == 0:
            return True
        time.sleep(1)
    return False


def verify_restore(client, image, manifest, directory, timeout):
    """Restore a backup into a throw-away container of ``image``; compare what it holds with the manifest.

    Returns figures (``container``, ``rows_compared``, ``tables``); raises :class:`BackupError` on any difference.
    The container and its volumes are removed at the end, also on failure.
    """
    # Imported here: the engine and its option table are only needed for this verification.
    from ansible_collections.hna.cloudos.plugins.module_utils._container_options import SpecError, container_spec
    from ansible_collections.hna.cloudos.plugins.module_utils._docker_engine import ContainerEngine, ContainerEngineError

    name = verify_container_name(manifest['instance'])
    engine = ContainerEngine(client)
    try:
        # The root password is a random value the kernel makes up (never known, never in the environment);
        # root works over the socket inside the container, and the container publishes no port.
        spec = container_spec(name, image, env={'MARIADB_ROOT_PASSWORD_FILE': '/proc/sys/kernel/random/uuid'},
                              labels={'hna.cloudos.purpose': 'backup-verify', 'hna.cloudos.backup': manifest['id']})
    except SpecError as exc:
        raise BackupError('verify: cannot describe the throw-away container: %s' % exc) from None
    runner = None
    try:
        try:
            plan = engine.plan(spec, state='started', container=None)
            engine.apply(plan, wait='running', timeout=VERIFY_START_TIMEOUT)
        except ContainerEngineError as exc:
            raise BackupError('verify: the throw-away container %s could not be started: %s' % (name, exc)) from None
        runner = ContainerExec(client, name, prefix='hna-verify')
        if not _wait_ready(runner, VERIFY_START_TIMEOUT):
            raise BackupError('verify: the throw-away server %s (image %s) did not answer within %d s'
                              % (name, image, VERIFY_START_TIMEOUT))
        expected = manifest.get('row_counts') or {}
        runner.put_files({'counts.sql': count_statements(expected)})
        data = store.data_path(directory, manifest)
        if manifest['method'] == 'logical':
            code = runner.stream_in(restore_check_script(runner.directory, manifest['compression']), _read_chunks(data), timeout)
            results = runner.read_files()
            codes = (results.get('status') or '').split()
            if code != 0 or codes != ['0', '0'] or (results.get('decompress.status') or '').strip() != '0':
                raise BackupError('verify: restoring %s into the throw-away server failed (exit codes %s): %s'
                                  % (manifest['id'], ' '.join(codes) or code,
                                     last_error(results.get('import.err') or results.get('decompress.err'))))
            actual = parse_counts(results.get('counts'))
            problems = compare_counts(expected, actual)
            if problems:
                raise BackupError('verify: the restore of %s differs from its manifest: %s' % (manifest['id'], '; '.join(problems[:5])))
            return dict(container=name, image=image, rows_compared=bool(expected), tables=len(expected),
                        rows=sum(expected.values()) if expected else None)
        code = runner.stream_in(unpack_script(runner.directory, manifest['compression']), _read_chunks(data), timeout)
        results = runner.read_files()
        if code != 0 or (results.get('status') or '').split() != ['0', '0']:
            raise BackupError('verify: unpacking %s into the throw-away container failed (exit codes %s): %s' % (
                manifest['id'], (results.get('status') or '').strip() or code,
                last_error(results.get('unpack.err') or results.get('decompress.err'))))
        runner.run(prepare_and_start_script(runner.directory, VERIFY_START_TIMEOUT), timeout)
        results = runner.read_files()
        if (results.get('prepare.status') or '').strip() != '0':
            raise BackupError('verify: mariadb-backup --prepare of %s failed: %s' % (manifest['id'], last_error(results.get('prepare.err'))))
        if (results.get('query.status') or '').strip() != '0':
            raise BackupError('verify: the server started on the prepared copy of %s does not answer: %s' % (
                manifest['id'], last_error(results.get('server.log') or results.get('query.err'))))
        present = set(line.strip() for line in (results.get('databases') or '').splitlines() if line.strip())
        missing = [schema for schema in manifest.get('schemas') or [] if schema not in present]
        if missing:
            raise BackupError('verify: the prepared copy of %s lacks the databases %s' % (manifest['id'], ', '.join(missing)))
        return dict(container=name, image=image, rows_compared=False, databases=sorted(present - set(SYSTEM_SCHEMAS)))
    finally:
        if runner is not None:
            runner.cleanup()
        with contextlib.suppress(Exception):
            engine.remove(name, force=True, volumes=True)


# -- Offsite copy -------------------------------------------------------------------------------------------

def ssh_options(offsite):
    options = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=30']
    if offsite.get('identity_file'):
        options += ['-i', offsite['identity_file'], '-o', 'IdentitiesOnly=yes']
    return options


def offsite_commands(offsite, local_path, remote_name):
    """The scp and ssh commands of an offsite copy (lists of arguments), in order of use."""
    target = '%s@%s' % (offsite['user'], offsite['host']) if offsite.get('user') else offsite['host']
    port = str(offsite.get('port') or 22)
    remote_dir = offsite['path'].rstrip('/') or '/'
    partial = '%s/.%s.partial' % (remote_dir, remote_name)
    final = '%s/%s' % (remote_dir, remote_name)
    ssh = ['ssh', '-p', port] + ssh_options(offsite) + [target]
    return dict(
        mkdir=ssh + ['mkdir -p -m 700 %s' % shlex.quote(remote_dir)],
        copy=['scp', '-q', '-p', '-P', port] + ssh_options(offsite) + [local_path, '%s:%s' % (target, partial)],
        checksum=ssh + ['sha256sum %s' % shlex.quote(partial)],
        rename=ssh + ['mv -f %s %s' % (shlex.quote(partial), shlex.quote(final))],
        final=final,
    )


def _run_remote(args, what, timeout):
    try:
        done = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError('offsite: %s failed: %s' % (what, to_native(exc))) from None
    if done.returncode != 0:
        raise BackupError('offsite: %s failed (exit %d): %s' % (
            what, done.returncode, last_error(done.stderr.decode('utf-8', 'replace'))))
    return done.stdout.decode('utf-8', 'replace')


def offsite_copy(offsite, directory, manifest, timeout=21600):
    """Copy the data file and the manifest to the offsite host, each checked with ``sha256sum`` there before its rename."""
    data = store.data_path(directory, manifest)
    manifest_file = store.manifest_path(directory, manifest['id'])
    started = time.monotonic()
    copied = []
    for local, expected in ((data, manifest['sha256']), (manifest_file, store.sha256_file(manifest_file))):
        commands = offsite_commands(offsite, local, os.path.basename(local))
        _run_remote(commands['mkdir'], 'creating %s on %s' % (offsite['path'], offsite['host']), 120)
        _run_remote(commands['copy'], 'copying %s to %s' % (os.path.basename(local), offsite['host']), timeout)
        output = _run_remote(commands['checksum'], 'checking the copy on %s' % offsite['host'], timeout)
        remote = output.split()[0] if output.split() else ''
        if remote != expected:
            raise BackupError('offsite: the copy of %s on %s has sha256 %s, the original %s: it was left under a temporary'
                              ' name' % (os.path.basename(local), offsite['host'], remote or 'none', expected))
        _run_remote(commands['rename'], 'renaming the copy on %s' % offsite['host'], 120)
        copied.append(commands['final'])
    return dict(host=offsite['host'], files=copied, sha256=manifest['sha256'], seconds=round(time.monotonic() - started, 3))


def run_backup(docker_client_factory):
    """Run ``mysql_backup``; ``docker_client_factory(module, docker_host)`` returns a connected Docker client."""
    module = AnsibleModule(argument_spec=backup_argument_spec(), **BACKUP_MODULE_KWARGS)
    BackupTask(module, docker_client_factory).run()


# -- The info module ----------------------------------------------------------------------------------------

def read_backup_info(backup_dir, instance=None, now=None, checksum=False):
    """``backups`` (newest first, all instances or one) and ``latest_verified`` of a backup directory.

    With ``checksum``, the data file of every backup with a manifest is re-read: a mismatch makes it
    ``corrupt`` in the answer (the manifest is not changed: the module only reads).
    """
    if instance:
        instances = [store.validate_instance(instance)]
    else:
        try:
            instances = sorted(name for name in os.listdir(backup_dir)
                               if os.path.isdir(os.path.join(backup_dir, name)) and not name.startswith('.'))
        except FileNotFoundError:
            instances = []
        except OSError as exc:
            raise store.StoreError('cannot list %s: %s' % (backup_dir, exc.strerror or exc)) from None
    backups = []
    for name in instances:
        for backup in store.list_backups(os.path.join(backup_dir, name), now=now):
            if checksum and backup['manifest'] is not None and backup['status'] in (store.VERIFIED, store.UNVERIFIED):
                ok, message = store.verify_checksum(os.path.join(backup_dir, name), backup['manifest'])
                backup = dict(backup, status=backup['status'] if ok else store.CORRUPT,
                              verified=backup['verified'] if ok else None)
                backup['checksum'] = 'ok' if ok else message
            entry = store.public_entry(backup)
            entry['instance'] = name
            if checksum:
                entry['checksum'] = backup.get('checksum')
            backups.append((backup, entry))
    backups.sort(key=lambda item: (item[0]['time'].timestamp() if item[0]['time'] else 0, item[0]['id']), reverse=True)
    entries = [entry for _backup, entry in backups]
    latest = next((entry for entry in entries if entry['status'] == store.VERIFIED), None)
    return dict(backups=entries, latest_verified=latest)


def run_backup_info():
    module = AnsibleModule(argument_spec=info_argument_spec(), supports_check_mode=True)
    try:
        info = read_backup_info(module.params['backup_dir'], module.params.get('instance'),
                                checksum=module.params['checksum'])
    except store.StoreError as exc:
        module.fail_json(msg=str(exc), changed=False)
    module.exit_json(changed=False, **info)
