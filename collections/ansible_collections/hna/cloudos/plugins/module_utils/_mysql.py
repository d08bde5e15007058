# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""MySQL and MariaDB servers: connection, flavour and SQL dialect, replication statements and status.

Shared by every hna.cloudos module that talks to a MySQL or MariaDB server. Everything here except
:func:`connect` is pure logic (no server, no PyMySQL needed), so that it can be unit tested.

Statements are built as ``(sql, params)`` pairs and run with ``cursor.execute(sql, params)``.
Why not server-side prepared statements: the MySQL and MariaDB manuals (C API ``mysql_stmt_prepare``)
allow parameter markers only where a data value of a DML statement appears, never in
``CHANGE MASTER TO`` / ``CHANGE REPLICATION SOURCE TO`` (their option values are literals of the
grammar), and PyMySQL has no server-side prepared statements at all: it always interpolates the
parameters client-side. That interpolation is still binding, not string formatting by hand: every
value goes through PyMySQL's escaping (``Connection.literal``), which quotes strings and escapes
backslashes, quotes, NUL and line breaks, or only doubles quotes when the server runs with
``NO_BACKSLASH_ESCAPES``; the connection uses ``utf8mb4`` so no multi-byte character set can swallow
an escape. Integers are validated as integers before they are bound. Identifiers, which cannot be
bound, go through :func:`quote_identifier`.

The SQL of a statement is a format string for that interpolation, always applied (see :func:`run`):
a literal ``%`` is written ``%%``; :func:`format_literal` does it for quoted identifiers and accounts.

Passwords bound to a statement are wrapped in :class:`Secret`; :func:`masked` renders a statement for
the ``queries`` return value with each secret replaced by ``'********'``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import tempfile
import traceback

from collections import namedtuple

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.text.converters import to_native

PYMYSQL_IMPORT_ERROR = None
try:
    import pymysql
except ImportError:
    PYMYSQL_IMPORT_ERROR = traceback.format_exc()
    HAS_PYMYSQL = False
else:
    HAS_PYMYSQL = True


MARIADB = 'mariadb'
MYSQL = 'mysql'

#: Oldest server versions whose replication statements the collection supports.
MIN_VERSIONS = {
    MARIADB: (10, 5, 0),
    MYSQL: (8, 0, 23),
}

MASK = '********'

#: Connection options common to every MySQL module (documented in the ``hna.cloudos.mysql`` doc fragment).
MYSQL_CONNECTION_ARGSPEC = dict(
    login_host=dict(type='str', default='localhost'),
    login_port=dict(type='int', default=3306),
    login_user=dict(type='str', default='root'),
    login_password=dict(type='str', no_log=True),
    login_unix_socket=dict(type='path'),
    ca_cert=dict(type='path'),
    client_cert=dict(type='path'),
    client_key=dict(type='path'),
    check_hostname=dict(type='bool', default=True),
    connect_timeout=dict(type='int', default=30),
)

MYSQL_REQUIRED_TOGETHER = [['client_cert', 'client_key']]

#: Server error numbers the modules explain (MariaDB and MySQL share them).
ER_ACCESS_DENIED = 1045
ER_DBACCESS_DENIED = 1044
ER_SPECIFIC_ACCESS_DENIED = 1227
CR_CONNECTION_ERROR = 2002
CR_CONN_HOST_ERROR = 2003
CR_UNKNOWN_HOST = 2005
CR_SERVER_LOST = 2013

#: A host name label; underscores are accepted as resolvers do (Docker and Compose names may hold them).
_HOST_LABEL_RE = re.compile(r'^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$')
_VERSION_RE = re.compile(r'^(\d+)\.(\d+)\.(\d+)')
#: MariaDB servers before 11 may announce themselves with this prefix (replication protocol hack).
_MARIADB_RPL_PREFIX = '5.5.5-'

ServerVersion = namedtuple('ServerVersion', ['flavour', 'version', 'text'])


class MySQLError(Exception):
    """A problem with a MySQL/MariaDB server or with the values sent to it, as one line."""


class Secret(str):
    """A string bound to a statement that must never be shown (a password).

    It is a ``str``, so PyMySQL binds it like any other string; :func:`masked` and ``repr()`` hide it.
    """

    __slots__ = ()

    def __repr__(self):
        return repr(MASK)


def mysql_argument_spec(**spec):
    """The module's own options merged with the connection options."""
    argument_spec = dict((name, dict(option)) for name, option in MYSQL_CONNECTION_ARGSPEC.items())
    argument_spec.update(spec)
    return argument_spec


# -- Values ---------------------------------------------------------------------------------------------

def quote_identifier(*parts):
    """Quote a (possibly qualified) identifier with backticks: ``db``, ``db.table``.

    A backtick inside a name is doubled (MariaDB "Identifier Names", MySQL "Schema Object Names").
    Names are at most 64 characters and cannot hold NUL or end with a space.
    """
    if not parts:
        raise MySQLError('an identifier needs at least one part')
    quoted = []
    for part in parts:
        if not isinstance(part, str) or not part:
            raise MySQLError('invalid identifier %r: it must be a non-empty string' % (part,))
        if '\x00' in part or len(part) > 64 or part.endswith(' '):
            raise MySQLError('invalid identifier %r: at most 64 characters, no NUL, no trailing space' % (part,))
        quoted.append('`%s`' % part.replace('`', '``'))
    return '.'.join(quoted)


def format_literal(sql_text):
    """SQL text (such as a quoted identifier) made safe inside a statement's format string: ``%`` doubled."""
    return sql_text.replace('%', '%%')


def validate_host(host, name='host'):
    """Check a host name or IP address (v4 or v6) that a server connects to; return it unchanged."""
    if not isinstance(host, str) or not host:
        raise MySQLError('%s must be a host name or an IP address, not %r' % (name, host))
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return host
    labels = host[:-1].split('.') if host.endswith('.') else host.split('.')
    if len(host) > 253 or not all(_HOST_LABEL_RE.match(label) for label in labels):
        raise MySQLError('%s %r is neither an IP address nor a valid host name (letters, digits, hyphens, underscores and dots)'
                         % (name, host))
    return host


def validate_port(port, name='port'):
    """Check a TCP port number (1-65535); return it as an ``int``."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise MySQLError('%s must be an integer between 1 and 65535, not %r' % (name, port))
    return port


def validate_user(user, flavour=None, name='user'):
    """Check an account user name: not empty, no NUL or control character, not too long.

    MySQL user names are at most 32 characters (MySQL "Grant Tables"), MariaDB ones 80 (MariaDB
    "CREATE USER").
    """
    limit = 32 if flavour == MYSQL else 80
    if not isinstance(user, str) or not user:
        raise MySQLError('%s must be a non-empty string' % name)
    if any(ord(char) < 32 for char in user) or len(user) > limit:
        raise MySQLError('%s %r is invalid: at most %d characters and no control characters' % (name, user, limit))
    return user


def validate_password(password, name='password'):
    """Check a replication password: at most 32 characters, no NUL (ER_CHANGE_MASTER_PASSWORD_LENGTH, 3056)."""
    if not isinstance(password, str):
        raise MySQLError('%s must be a string' % name)
    if '\x00' in password or len(password) > 32:
        # The value itself is never part of the message.
        raise MySQLError('%s is invalid: a replication password has at most 32 characters and no NUL' % name)
    return Secret(password)


def _literal(value):
    """A value as an SQL literal, escaped like PyMySQL does (only used to display statements)."""
    if value is None:
        return 'NULL'
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    table = {0: '\\0', ord('\\'): '\\\\', ord('\n'): '\\n', ord('\r'): '\\r', 0x1a: '\\Z', ord("'"): "\\'",
             ord('"'): '\\"'}
    return "'%s'" % str(value).translate(table)


def masked(sql, params=None):
    """Render a statement for display: parameters substituted as literals, each :class:`Secret` as ``'********'``."""
    return sql % tuple(_literal(MASK) if isinstance(param, Secret) else _literal(param) for param in params or ())


# -- Connection -----------------------------------------------------------------------------------------

def connect_kwargs(params):
    """Keyword arguments of ``pymysql.connect()`` from the connection options (pure, no I/O)."""
    kwargs = dict(
        host=params.get('login_host') or 'localhost',
        port=validate_port(3306 if params.get('login_port') is None else params['login_port'], 'login_port'),
        user=params.get('login_user') or 'root',
        connect_timeout=30 if params.get('connect_timeout') is None else params['connect_timeout'],
        charset='utf8mb4',
        autocommit=True,
        # Option files are never read: every setting comes from the task.
        read_default_file=None,
        local_infile=False,
    )
    password = params.get('login_password')
    if password:
        # PyMySQL encodes a str password as latin-1; send the UTF-8 bytes the server hashed.
        kwargs['password'] = password.encode('utf-8')
    if params.get('login_unix_socket'):
        kwargs['unix_socket'] = params['login_unix_socket']
    if kwargs['connect_timeout'] <= 0:
        raise MySQLError('connect_timeout must be a positive number of seconds, not %r' % kwargs['connect_timeout'])
    ca_cert = params.get('ca_cert')
    if ca_cert or params.get('client_cert'):
        kwargs.update(
            ssl_ca=ca_cert,
            ssl_cert=params.get('client_cert'),
            ssl_key=params.get('client_key'),
            ssl_verify_cert=bool(ca_cert),
            ssl_verify_identity=bool(ca_cert) and params.get('check_hostname', True),
        )
    return kwargs


def server_address(params):
    """The server a task talks to, for messages: ``host:port`` or the Unix socket."""
    if params.get('login_unix_socket'):
        return 'unix socket %s' % params['login_unix_socket']
    return '%s:%s' % (params.get('login_host') or 'localhost', params.get('login_port') or 3306)


#: How messages name a server and the options that reach it; :func:`connect` takes another one for the
#: primary of a replica (``role='primary'``, ``prefix='primary_'``).
LOGIN_NAMES = dict(role='MySQL server', host='login_host', port='login_port', user='login_user',
                   password='login_password', socket='login_unix_socket')


def describe_error(exc, params=None, names=None):
    """One line that explains a PyMySQL exception (error number and server text; no secret in it).

    ``names`` (see :data:`LOGIN_NAMES`) says how to call the server and which options to check.
    """
    names = dict(LOGIN_NAMES, **(names or {}))
    args = getattr(exc, 'args', ())
    errno = args[0] if args and isinstance(args[0], int) else None
    text = to_native(args[1]) if len(args) > 1 else to_native(exc)
    text = ' '.join(text.split())
    where = server_address(params or {})
    user = (params or {}).get('login_user') or 'root'
    role = names['role']
    if errno in (ER_ACCESS_DENIED, ER_DBACCESS_DENIED):
        return ('access denied for user %s on the %s at %s (error %d: %s): check %s and %s'
                % (user, role, where, errno, text, names['user'], names['password']))
    if errno in (CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR, CR_UNKNOWN_HOST):
        places = '%s, %s' % (names['host'], names['port'])
        places += ' or %s' % names['socket'] if names.get('socket') else ''
        return ('cannot reach the %s at %s (error %d: %s): check %s and that the server runs'
                % (role, where, errno, text, places))
    if errno is not None:
        return '%s at %s: error %d: %s' % (role, where, errno, text)
    return '%s at %s: %s' % (role, where, text)


def server_error_line(exc):
    """``MySQL error N: text`` for an exception that carries a server error number (a PyMySQL error), else ``None``.

    What a task fails with when such an error escapes its own handling: the number and the server's text,
    never a traceback with values in it.
    """
    args = getattr(exc, 'args', ())
    if args and isinstance(args[0], int) and len(args) > 1:
        return 'MySQL error %d: %s' % (args[0], to_native(args[1]))
    return None


def connect(params, names=None):
    """Open a PyMySQL connection from the connection options. Raise :class:`MySQLError` with one line.

    ``names`` (see :data:`LOGIN_NAMES`) says how messages call the server and its options.
    """
    if not HAS_PYMYSQL:
        raise MySQLError(missing_required_lib('PyMySQL'))
    kwargs = connect_kwargs(params)
    try:
        return pymysql.connect(**kwargs)
    except pymysql.err.MySQLError as exc:
        raise MySQLError(describe_error(exc, params, names)) from None
    except (OSError, ValueError) as exc:
        role = dict(LOGIN_NAMES, **(names or {}))['role']
        raise MySQLError('cannot connect to the %s at %s: %s' % (role, server_address(params), to_native(exc))) from None


def run(cursor, statement):
    """Execute one ``(sql, params)`` statement on a PyMySQL cursor.

    The parameters are always passed, even when there are none, so that the SQL of every statement is
    a format string (``%%`` for a literal ``%``) whether or not it binds values.
    """
    sql, params = statement
    return cursor.execute(sql, tuple(params or ()))


def query_rows(connection, statement):
    """Run a query on a PyMySQL connection; return its rows as dicts keyed by column name."""
    with connection.cursor(pymysql.cursors.DictCursor) as cursor:
        run(cursor, statement)
        return list(cursor.fetchall())


def read_password_file(path, option='login_password_file'):
    """The password stored in a file on the host of the module (its first line, without the line break).

    Lets scheduled jobs log in without a secret in their command, playbook or cron file: the file (mode
    0600, owned by the job's user) holds it. The password itself never appears in a message.
    """
    try:
        with open(path, 'rb') as handle:
            data = handle.read(65536)
    except OSError as exc:
        raise MySQLError('%s %s cannot be read: %s; give the path of a file that holds the password'
                         % (option, path, exc.strerror or exc)) from None
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        raise MySQLError('%s %s is not UTF-8 text' % (option, path)) from None
    lines = text.splitlines()
    password = lines[0] if lines else ''
    if not password or '\x00' in password:
        raise MySQLError('%s %s holds no password on its first line' % (option, path))
    return password


# -- Client option file ---------------------------------------------------------------------------------

def option_file_value(value):
    """A value for a MySQL/MariaDB option file: double-quoted, with the escapes the option file parser undoes.

    The parser (``mysys/my_default.c``, MySQL "Using Option Files") strips one pair of surrounding quotes
    and turns ``\\\\``, ``\\"``, ``\\'``, ``\\n``, ``\\r``, ``\\t``, ``\\b`` and ``\\s`` back into characters;
    a ``#`` inside quotes is not a comment.
    """
    value = to_native(value)
    if '\x00' in value:
        raise MySQLError('an option file value cannot contain NUL')
    table = {ord('\\'): '\\\\', ord('"'): '\\"', ord('\n'): '\\n', ord('\r'): '\\r', ord('\t'): '\\t',
             ord('\b'): '\\b'}
    return '"%s"' % value.translate(table)


def option_file_content(params, group='client', flavour=MARIADB):
    """Text of an option file with the connection options (user, password, host/port or socket, TLS).

    Certificate checks are spelled per client flavour: MariaDB clients take ``ssl-verify-server-cert``
    (certificate and host name), MySQL 8 clients removed it for ``ssl-mode`` (``VERIFY_IDENTITY``,
    ``VERIFY_CA``, ``REQUIRED``); an unknown option makes a client refuse to start.
    """
    lines = ['[%s]' % group, 'user=%s' % option_file_value(params.get('login_user') or 'root')]
    if params.get('login_password'):
        lines.append('password=%s' % option_file_value(params['login_password']))
    if params.get('login_unix_socket'):
        lines.append('socket=%s' % option_file_value(params['login_unix_socket']))
    else:
        lines.append('host=%s' % option_file_value(params.get('login_host') or 'localhost'))
        lines.append('port=%d' % validate_port(params.get('login_port') or 3306, 'login_port'))
        lines.append('protocol=TCP')
    # loose-: mariadb-dump and mysqldump have no connect-timeout and refuse an unknown option; the prefix makes
    # them ignore it (with a warning) while the command-line clients apply it.
    lines.append('loose-connect-timeout=%d' % (params.get('connect_timeout') or 30))
    for option, key in (('ssl-ca', 'ca_cert'), ('ssl-cert', 'client_cert'), ('ssl-key', 'client_key')):
        if params.get(key):
            lines.append('%s=%s' % (option, option_file_value(params[key])))
    tls = params.get('ca_cert') or params.get('client_cert')
    verify_host = bool(params.get('ca_cert')) and params.get('check_hostname', True)
    if flavour == MYSQL and tls:
        mode = 'VERIFY_IDENTITY' if verify_host else 'VERIFY_CA' if params.get('ca_cert') else 'REQUIRED'
        lines.append('ssl-mode=%s' % mode)
    elif flavour == MARIADB and verify_host:
        lines.append('ssl-verify-server-cert')
    return '\n'.join(lines) + '\n'


@contextlib.contextmanager
def client_option_file(params, directory=None, group='client', flavour=MARIADB):
    """Write the connection options to a private option file (mode 0600) and remove it afterwards.

    Yields the path, for ``--defaults-extra-file=PATH`` of tools such as ``mariadb-dump``, so that no
    credential is ever on a command line (where ``ps`` would show it).
    """
    content = option_file_content(params, group, flavour)
    fd, path = tempfile.mkstemp(prefix='hna-mysql-', suffix='.cnf', dir=directory)
    try:
        # mkstemp creates the file with mode 0600; make sure of it before writing the secret.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            fd = None
            handle.write(content)
        yield path
    finally:
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# -- Flavour, version and dialect -----------------------------------------------------------------------

def parse_server_version(version, version_comment=''):
    """Flavour and version of a server from ``SELECT VERSION(), @@version_comment``.

    ``10.11.6-MariaDB-0+deb12u1-log`` is MariaDB 10.11.6; ``8.4.3`` with the comment
    ``MySQL Community Server - GPL`` is MySQL 8.4.3.
    """
    text = to_native(version or '').strip()
    comment = to_native(version_comment or '')
    flavour = MARIADB if 'mariadb' in text.lower() or 'mariadb' in comment.lower() else MYSQL
    number = text
    if flavour == MARIADB and number.startswith(_MARIADB_RPL_PREFIX):
        number = number[len(_MARIADB_RPL_PREFIX):]
    match = _VERSION_RE.match(number)
    if not match:
        raise MySQLError('cannot read the server version from %r' % text)
    return ServerVersion(flavour, tuple(int(part) for part in match.groups()), text)


def _version_text(version):
    return '.'.join(str(part) for part in version)


class Dialect:
    """The replication statements of one server flavour and version.

    MariaDB 10.5+ (MariaDB "CHANGE MASTER TO", "SHOW REPLICA STATUS", "START REPLICA", "STOP REPLICA",
    "RESET REPLICA", "Global Transaction ID"): ``CHANGE MASTER TO ... MASTER_USE_GTID = slave_pos``, the
    ``REPLICA`` keyword from 10.5.1 and ``SLAVE`` before, GTID positions in ``@@gtid_slave_pos``,
    ``@@gtid_binlog_pos`` and ``@@gtid_current_pos``.

    MySQL 8.0.23+ and 8.4 (MySQL 8.0/8.4 "CHANGE REPLICATION SOURCE TO Statement", "SHOW REPLICA STATUS
    Statement", "START REPLICA", "STOP REPLICA", "RESET REPLICA", "RESET BINARY LOGS AND GTIDS"):
    ``CHANGE REPLICATION SOURCE TO ... SOURCE_AUTO_POSITION = 1``, GTID sets in ``@@gtid_executed``
    and ``@@gtid_purged``.

    Manual pages followed (statement text and the version that brought it):

    - https://mariadb.com/kb/en/change-master-to/
    - https://mariadb.com/kb/en/show-replica-status/
    - https://mariadb.com/kb/en/start-replica/ , https://mariadb.com/kb/en/stop-replica/ ,
      https://mariadb.com/kb/en/reset-replica/
    - https://mariadb.com/kb/en/gtid/ (gtid_slave_pos, gtid_binlog_pos, gtid_current_pos)
    - https://dev.mysql.com/doc/refman/8.0/en/change-replication-source-to.html (8.4: /8.4/ in the same path)
    - https://dev.mysql.com/doc/refman/8.4/en/show-replica-status.html
    - https://dev.mysql.com/doc/refman/8.4/en/start-replica.html , .../stop-replica.html , .../reset-replica.html
    - https://dev.mysql.com/doc/refman/8.4/en/reset-binary-logs-and-gtids.html (RESET MASTER in 8.0)
    - https://dev.mysql.com/doc/refman/8.4/en/replication-options-gtids.html (gtid_executed, gtid_purged)
    """

    def __init__(self, server):
        self.server = server
        self.flavour = server.flavour
        self.version = server.version
        minimum = MIN_VERSIONS[self.flavour]
        if self.version < minimum:
            name = 'MariaDB' if self.flavour == MARIADB else 'MySQL'
            raise MySQLError('%s %s is not supported: replication needs %s %s or newer'
                             % (name, _version_text(self.version), name, _version_text(minimum)))
        if self.flavour == MARIADB:
            # MariaDB "SHOW REPLICA STATUS" / "START REPLICA": the REPLICA synonyms exist from 10.5.1.
            self.replica = 'REPLICA' if self.version >= (10, 5, 1) else 'SLAVE'
        else:
            self.replica = 'REPLICA'

    @property
    def is_mariadb(self):
        return self.flavour == MARIADB

    # Statements -----------------------------------------------------------------------------------------
    def version_query(self):
        return ('SELECT VERSION() AS version, @@version_comment AS version_comment', ())

    def show_replica_status(self):
        # MariaDB "SHOW REPLICA STATUS" (SHOW SLAVE STATUS before 10.5.1); MySQL "SHOW REPLICA STATUS Statement".
        return ('SHOW %s STATUS' % self.replica, ())

    def start_replica(self):
        # MariaDB "START REPLICA" (START SLAVE before 10.5.1); MySQL "START REPLICA Statement".
        return ('START %s' % self.replica, ())

    def stop_replica(self):
        # MariaDB "STOP REPLICA"; MySQL "STOP REPLICA Statement".
        return ('STOP %s' % self.replica, ())

    def reset_replica_all(self):
        # MariaDB "RESET REPLICA" (RESET SLAVE ALL before 10.5.1); MySQL "RESET REPLICA Statement".
        return ('RESET %s ALL' % self.replica, ())

    def reset_binary_logs(self):
        """Forget the server's own binary logs and GTID history (only for an empty replica about to be seeded).

        MariaDB "RESET MASTER"; MySQL "RESET MASTER" before 8.2, "RESET BINARY LOGS AND GTIDS" from 8.2
        (``RESET MASTER`` is gone in 8.4).
        """
        if not self.is_mariadb and self.version >= (8, 2, 0):
            return ('RESET BINARY LOGS AND GTIDS', ())
        return ('RESET MASTER', ())

    def show_replica_hosts(self):
        """The replicas connected to this server.

        MariaDB "SHOW REPLICA HOSTS" (SHOW SLAVE HOSTS before 10.5.1); MySQL "SHOW REPLICAS" (8.0.22+).
        """
        if self.is_mariadb:
            return ('SHOW %s HOSTS' % ('REPLICA' if self.replica == 'REPLICA' else 'SLAVE'), ())
        return ('SHOW REPLICAS', ())

    def gtid_query(self):
        """GTID positions, as named columns."""
        if self.is_mariadb:
            # MariaDB "Global Transaction ID": gtid_slave_pos, gtid_binlog_pos, gtid_current_pos.
            return ('SELECT @@GLOBAL.gtid_slave_pos AS gtid_slave_pos, @@GLOBAL.gtid_binlog_pos AS gtid_binlog_pos,'
                    ' @@GLOBAL.gtid_current_pos AS gtid_current_pos', ())
        # MySQL "Replication and Binary Logging Options and Variables" (GTID): gtid_executed, gtid_purged.
        return ('SELECT @@GLOBAL.gtid_executed AS gtid_executed, @@GLOBAL.gtid_purged AS gtid_purged', ())

    def server_settings_query(self):
        """Settings that tell whether a server can be a primary: binary log, read_only, server_id."""
        return ('SELECT @@GLOBAL.log_bin AS log_bin, @@GLOBAL.read_only AS read_only, @@GLOBAL.server_id AS server_id',
                ())

    def set_gtid_position(self, gtid):
        """Statements that make an empty (freshly seeded) replica start after the GTID position ``gtid``.

        MariaDB: ``SET GLOBAL gtid_slave_pos`` (MariaDB "Global Transaction ID", setting up a new replica
        from a backup). MySQL: clear the replica's own GTID history, then ``SET GLOBAL gtid_purged``
        (MySQL "gtid_purged"); ``RESET MASTER`` became ``RESET BINARY LOGS AND GTIDS`` in 8.2 and
        ``RESET MASTER`` is gone in 8.4.
        """
        if not isinstance(gtid, str) or '\x00' in gtid:
            raise MySQLError('a GTID position must be a string, not %r' % (gtid,))
        if self.is_mariadb:
            return [('SET GLOBAL gtid_slave_pos = %s', (gtid,))]
        reset = 'RESET BINARY LOGS AND GTIDS' if self.version >= (8, 2, 0) else 'RESET MASTER'
        return [(reset, ()), ('SET GLOBAL gtid_purged = %s', (gtid,))]

    def change_source(self, settings):
        """``CHANGE MASTER TO`` / ``CHANGE REPLICATION SOURCE TO`` for the wanted settings, with GTID auto-position.

        ``settings`` is a dict of :data:`REPLICATION_SETTINGS` (``host`` is required); ``None`` values
        are left as they are on the server. See :func:`validate_settings`.
        """
        settings = validate_settings(settings, self.flavour)
        assignments = []
        params = []
        for field in REPLICATION_SETTINGS:
            value = settings.get(field)
            if value is None:
                continue
            option = _OPTION_NAMES[field][0 if self.is_mariadb else 1]
            if option is None:
                continue
            assignments.append('%s = %%s' % option)
            params.append(int(value) if isinstance(value, bool) else value)
        if self.is_mariadb:
            # MariaDB "CHANGE MASTER TO": MASTER_USE_GTID = {current_pos|slave_pos|no}; slave_pos never
            # picks up transactions the replica wrote itself.
            assignments.append('MASTER_USE_GTID = slave_pos')
            verb = 'CHANGE MASTER TO'
        else:
            # MySQL "CHANGE REPLICATION SOURCE TO Statement" (8.0.23+): SOURCE_AUTO_POSITION = 1.
            assignments.append('SOURCE_AUTO_POSITION = 1')
            verb = 'CHANGE REPLICATION SOURCE TO'
        return ('%s %s' % (verb, ', '.join(assignments)), tuple(params))


def select_dialect(version, version_comment=''):
    """The :class:`Dialect` of a server from ``VERSION()`` and ``@@version_comment``; refuse old versions."""
    return Dialect(parse_server_version(version, version_comment))


# -- Replication settings -------------------------------------------------------------------------------

#: Replication settings the modules manage, in statement order.
REPLICATION_SETTINGS = ('host', 'port', 'user', 'password', 'connect_retry', 'ssl', 'ssl_ca', 'ssl_cert', 'ssl_key',
                        'ssl_verify_server_cert', 'get_public_key')

#: Setting -> (MariaDB option, MySQL option); None: not supported by that flavour.
_OPTION_NAMES = {
    'host': ('MASTER_HOST', 'SOURCE_HOST'),
    'port': ('MASTER_PORT', 'SOURCE_PORT'),
    'user': ('MASTER_USER', 'SOURCE_USER'),
    'password': ('MASTER_PASSWORD', 'SOURCE_PASSWORD'),
    'connect_retry': ('MASTER_CONNECT_RETRY', 'SOURCE_CONNECT_RETRY'),
    'ssl': ('MASTER_SSL', 'SOURCE_SSL'),
    'ssl_ca': ('MASTER_SSL_CA', 'SOURCE_SSL_CA'),
    'ssl_cert': ('MASTER_SSL_CERT', 'SOURCE_SSL_CERT'),
    'ssl_key': ('MASTER_SSL_KEY', 'SOURCE_SSL_KEY'),
    'ssl_verify_server_cert': ('MASTER_SSL_VERIFY_SERVER_CERT', 'SOURCE_SSL_VERIFY_SERVER_CERT'),
    # MySQL only: fetch the RSA key for caching_sha2_password without TLS.
    'get_public_key': (None, 'GET_SOURCE_PUBLIC_KEY'),
}

_BOOL_SETTINGS = ('ssl', 'ssl_verify_server_cert', 'get_public_key')
_PATH_SETTINGS = ('ssl_ca', 'ssl_cert', 'ssl_key')


def validate_settings(settings, flavour=None):
    """Check wanted replication settings; return a copy with the password as :class:`Secret`.

    Unknown keys are refused; ``None`` means "not managed".
    """
    unknown = sorted(set(settings) - set(REPLICATION_SETTINGS))
    if unknown:
        raise MySQLError('unknown replication settings: %s' % ', '.join(unknown))
    result = dict(settings)
    if result.get('host') is None:
        raise MySQLError('the primary host is required')
    validate_host(result['host'], 'primary host')
    if result.get('port') is not None:
        validate_port(result['port'], 'primary port')
    if result.get('user') is not None:
        validate_user(result['user'], flavour, 'replication user')
    if result.get('password') is not None:
        result['password'] = validate_password(result['password'], 'replication password')
    retry = result.get('connect_retry')
    if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int) or not 1 <= retry <= 31536000):
        raise MySQLError('connect_retry must be a number of seconds between 1 and 31536000, not %r' % (retry,))
    for field in _BOOL_SETTINGS:
        if result.get(field) is not None and not isinstance(result[field], bool):
            raise MySQLError('%s must be a boolean, not %r' % (field, result[field]))
    for field in _PATH_SETTINGS:
        value = result.get(field)
        if value is not None and (not isinstance(value, str) or '\x00' in value or len(value) > 511):
            raise MySQLError('%s must be a file path on the replica of at most 511 characters' % field)
    if flavour == MARIADB and result.get('get_public_key') is not None:
        raise MySQLError('get_public_key is a MySQL setting; MariaDB replicas do not support it')
    return result


# -- Replica status -------------------------------------------------------------------------------------

#: Normalised field -> column names in SHOW SLAVE/REPLICA STATUS (MariaDB and MySQL before 8.0.22 first,
#: then MySQL 8.0.22+). MariaDB keeps the Master_/Slave_ column names even for SHOW REPLICA STATUS.
_STATUS_COLUMNS = {
    'source_host': ('Master_Host', 'Source_Host'),
    'source_port': ('Master_Port', 'Source_Port'),
    'source_user': ('Master_User', 'Source_User'),
    'io_running': ('Slave_IO_Running', 'Replica_IO_Running'),
    'sql_running': ('Slave_SQL_Running', 'Replica_SQL_Running'),
    'io_state': ('Slave_IO_State', 'Replica_IO_State'),
    'seconds_behind': ('Seconds_Behind_Master', 'Seconds_Behind_Source'),
    'last_io_errno': ('Last_IO_Errno',),
    'last_io_error': ('Last_IO_Error',),
    'last_sql_errno': ('Last_SQL_Errno',),
    'last_sql_error': ('Last_SQL_Error',),
    'connect_retry': ('Connect_Retry',),
    'ssl': ('Master_SSL_Allowed', 'Source_SSL_Allowed'),
    'ssl_ca': ('Master_SSL_CA_File', 'Source_SSL_CA_File'),
    'ssl_cert': ('Master_SSL_Cert', 'Source_SSL_Cert'),
    'ssl_key': ('Master_SSL_Key', 'Source_SSL_Key'),
    'ssl_verify_server_cert': ('Master_SSL_Verify_Server_Cert', 'Source_SSL_Verify_Server_Cert'),
    # MariaDB
    'using_gtid': ('Using_Gtid',),
    'gtid_io_pos': ('Gtid_IO_Pos',),
    'gtid_slave_pos': ('Gtid_Slave_Pos',),
    # MySQL
    'auto_position': ('Auto_Position',),
    'retrieved_gtid_set': ('Retrieved_Gtid_Set',),
    'executed_gtid_set': ('Executed_Gtid_Set',),
    'get_public_key': ('Get_Source_public_key', 'Get_master_public_key'),
}


def _column(row, field):
    for column in _STATUS_COLUMNS[field]:
        if column in row:
            return row[column]
    return None


def _to_int(value):
    if value is None or value == '':
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _to_text(value):
    if value is None:
        return ''
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return str(value)


def _yes(value):
    return _to_text(value).strip().lower() in ('yes', '1', 'on', 'true')


def _gtid(value):
    # MySQL prints long GTID sets over several lines.
    return ''.join(_to_text(value).split())


def normalize_replica_status(row):
    """A ``SHOW SLAVE STATUS`` / ``SHOW REPLICA STATUS`` row (a dict) as a flavour-independent dict.

    ``None`` (no row: the server is not configured as a replica) gives ``None``.
    """
    if not row:
        return None
    using_gtid = _to_text(_column(row, 'using_gtid'))
    auto_position = _to_int(_column(row, 'auto_position'))
    if 'Using_Gtid' in row:
        gtid_mode = using_gtid.lower() if using_gtid.lower() in ('slave_pos', 'current_pos') else 'no'
    else:
        gtid_mode = 'auto_position' if auto_position == 1 else 'no'
    io_running = _to_text(_column(row, 'io_running')) or 'No'
    sql_running = _to_text(_column(row, 'sql_running')) or 'No'
    ssl_column = _to_text(_column(row, 'ssl'))
    status = dict(
        source_host=_to_text(_column(row, 'source_host')),
        source_port=_to_int(_column(row, 'source_port')),
        source_user=_to_text(_column(row, 'source_user')),
        io_running=io_running,
        sql_running=sql_running,
        io_state=_to_text(_column(row, 'io_state')),
        running=io_running == 'Yes' and sql_running == 'Yes',
        seconds_behind=_to_int(_column(row, 'seconds_behind')),
        last_io_errno=_to_int(_column(row, 'last_io_errno')) or 0,
        last_io_error=_to_text(_column(row, 'last_io_error')),
        last_sql_errno=_to_int(_column(row, 'last_sql_errno')) or 0,
        last_sql_error=_to_text(_column(row, 'last_sql_error')),
        connect_retry=_to_int(_column(row, 'connect_retry')),
        # Master_SSL_Allowed is Yes, No or Ignored (TLS asked for but not supported by the client).
        ssl=ssl_column.lower() in ('yes', 'ignored'),
        ssl_ca=_to_text(_column(row, 'ssl_ca')),
        ssl_cert=_to_text(_column(row, 'ssl_cert')),
        ssl_key=_to_text(_column(row, 'ssl_key')),
        ssl_verify_server_cert=_yes(_column(row, 'ssl_verify_server_cert')),
        using_gtid=gtid_mode,
    )
    if 'Using_Gtid' in row:
        status['gtid_io_pos'] = _gtid(_column(row, 'gtid_io_pos'))
        status['gtid_slave_pos'] = _gtid(_column(row, 'gtid_slave_pos'))
    else:
        status['retrieved_gtid_set'] = _gtid(_column(row, 'retrieved_gtid_set'))
        status['executed_gtid_set'] = _gtid(_column(row, 'executed_gtid_set'))
        status['get_public_key'] = _yes(_column(row, 'get_public_key'))
    return status


def is_configured_replica(status):
    """Whether a normalised status describes a configured replica (a source host is set)."""
    return bool(status and status.get('source_host'))


def detect_role(status, log_bin, read_only, replica_count=0):
    """Role of a server: ``primary``, ``replica``, ``both`` or ``none``.

    - it is a replica when a source is configured (:func:`is_configured_replica`);
    - it is a primary when its binary log is on and it either accepts writes (``read_only`` off) or
      has replicas connected (``replica_count``, e.g. the rows of ``SHOW SLAVE HOSTS``);
    - both (an intermediate replica, or a replica that accepts writes), or none (no binary log, or a
      read-only server without source and without replicas, such as a fenced old primary).
    """
    replica = is_configured_replica(status)
    primary = bool(_yes(log_bin)) and (not _yes(read_only) or replica_count > 0)
    if replica and primary:
        return 'both'
    if replica:
        return 'replica'
    if primary:
        return 'primary'
    return 'none'


# -- Settings diff --------------------------------------------------------------------------------------

def current_settings(status):
    """The replication settings a normalised status shows, in the terms of :data:`REPLICATION_SETTINGS`.

    The password is never shown by the server, so it is absent.
    """
    if not is_configured_replica(status):
        return {}
    current = dict(
        host=status['source_host'],
        port=status['source_port'],
        user=status['source_user'],
        connect_retry=status['connect_retry'],
        ssl=status['ssl'],
        ssl_ca=status['ssl_ca'],
        ssl_cert=status['ssl_cert'],
        ssl_key=status['ssl_key'],
        ssl_verify_server_cert=status['ssl_verify_server_cert'],
    )
    if 'get_public_key' in status:
        current['get_public_key'] = status['get_public_key']
    return current


def settings_diff(wanted, status):
    """Fields whose wanted value differs from the replica's current one, in statement order.

    ``wanted`` holds :data:`REPLICATION_SETTINGS`; ``None`` values are not managed and never differ.
    The password cannot be compared (the server never shows it): it is left out, and the caller decides
    when to send it. GTID auto-position is a setting too (``using_gtid``): it differs when the replica
    does not replicate with ``slave_pos`` (MariaDB) or ``SOURCE_AUTO_POSITION = 1`` (MySQL).
    Returns ``(fields, before, after)``: the list of differing fields and two dicts for diff mode.
    """
    current = current_settings(status)
    fields = []
    before = {}
    after = {}
    for field in REPLICATION_SETTINGS:
        value = wanted.get(field)
        if field == 'password' or value is None:
            continue
        have = current.get(field)
        if field == 'host':
            # Host names are case-insensitive; the server shows the host as it was given.
            same = isinstance(have, str) and have.lower() == value.lower()
        else:
            same = have == value
        if not same:
            fields.append(field)
            before[field] = have
            after[field] = value
    if is_configured_replica(status):
        want_gtid = 'slave_pos' if 'gtid_io_pos' in status else 'auto_position'
        if status.get('using_gtid') != want_gtid:
            fields.append('using_gtid')
            before['using_gtid'] = status.get('using_gtid')
            after['using_gtid'] = want_gtid
    return fields, before, after


# -- Replication errors ---------------------------------------------------------------------------------

#: IO thread error numbers: connection to the primary, login, purged or unknown GTIDs.
#: 1236 is ER_MASTER_FATAL_ERROR_READING_BINLOG (both flavours); MySQL 8 reports it wrapped as 13114
#: (ER_SERVER_SOURCE_FATAL_ERROR_READING_BINLOG) with the same "Got fatal error 1236" text.
_UNREACHABLE_ERRNOS = (CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR, CR_UNKNOWN_HOST, CR_SERVER_LOST)
_READING_BINLOG_ERRNOS = (1236, 13114)


def explain_replica_error(status):
    """One line that explains why a replica does not replicate, or ``None`` when no thread reports an error.

    The line names the primary and keeps the server's error number and text; the known causes get
    their remedy: unreachable primary, wrong replication credentials, missing privilege, GTIDs the
    primary has purged (``reseed: true`` fixes it), a diverged replica (errant transactions).
    """
    if not status:
        return None
    source = '%s:%s' % (status.get('source_host'), status.get('source_port'))
    io_errno = status.get('last_io_errno') or 0
    io_error = status.get('last_io_error') or ''
    if io_errno:
        detail = '(IO error %d: %s)' % (io_errno, io_error)
        lowered = io_error.lower()
        if 'replication slave' in lowered or io_errno == ER_SPECIFIC_ACCESS_DENIED:
            return ('the replication user %s lacks the REPLICATION SLAVE privilege on the primary %s %s'
                    % (status.get('source_user'), source, detail))
        if io_errno == ER_ACCESS_DENIED or 'access denied' in lowered:
            return ('the primary %s refused the replication user %s: wrong user name or password %s'
                    % (source, status.get('source_user'), detail))
        if io_errno in _UNREACHABLE_ERRNOS or "can't connect" in lowered or 'error connecting' in lowered:
            return 'the replica cannot reach the primary %s %s' % (source, detail)
        if io_errno in _READING_BINLOG_ERRNOS or 'fatal error 1236' in lowered:
            if 'purged' in lowered:
                return ('the primary %s no longer has the binary logs with the GTIDs the replica needs (they were'
                        ' purged); reseed the replica (reseed: true) %s' % (source, detail))
            if 'diverged' in lowered or 'more gtids than' in lowered or "not in the master's binlog" in lowered:
                return ('the replica has diverged from the primary %s (it holds transactions the primary does not'
                        ' have: errant transactions); reseed the replica (reseed: true) %s' % (source, detail))
        return 'the replica cannot read from the primary %s %s' % (source, detail)
    sql_errno = status.get('last_sql_errno') or 0
    if sql_errno:
        return ('the replica stopped applying the changes of the primary %s (SQL error %d: %s)'
                % (source, sql_errno, status.get('last_sql_error') or ''))
    return None


# -- GTID comparison ------------------------------------------------------------------------------------

_MARIADB_GTID_RE = re.compile(r'^(\d+)-(\d+)-(\d+)$')


def parse_mariadb_gtid_pos(position):
    """A MariaDB GTID position (``0-11-42,1-12-7``) as ``{domain: (server_id, seq_no)}``."""
    result = {}
    for item in _gtid(position).split(','):
        if not item:
            continue
        match = _MARIADB_GTID_RE.match(item)
        if not match:
            raise MySQLError('invalid MariaDB GTID %r in position %r' % (item, position))
        domain, server_id, seq_no = (int(part) for part in match.groups())
        if domain in result:
            raise MySQLError('MariaDB GTID position %r names domain %d twice' % (position, domain))
        result[domain] = (server_id, seq_no)
    return result


def mariadb_errant_gtids(replica_pos, primary_pos):
    """GTIDs of the replica's position the primary's position does not contain (MariaDB, strict mode).

    With ``gtid_strict_mode`` the sequence numbers of a domain only grow, so a replica has diverged
    when, in some domain, it is ahead of the primary, or at the same sequence number from another
    server, or in a domain the primary has never seen. Compare the replica's ``@@gtid_current_pos``
    with the primary's ``@@gtid_binlog_pos``. Returns the offending GTIDs, sorted.
    """
    replica = parse_mariadb_gtid_pos(replica_pos)
    primary = parse_mariadb_gtid_pos(primary_pos)
    errant = []
    for domain, (server_id, seq_no) in sorted(replica.items()):
        have = primary.get(domain)
        if have is None or seq_no > have[1] or (seq_no == have[1] and server_id != have[0]):
            errant.append('%d-%d-%d' % (domain, server_id, seq_no))
    return errant


def mysql_errant_gtids_query(replica_executed, primary_executed):
    """MySQL: the GTIDs the replica executed that the primary did not (``GTID_SUBTRACT``, MySQL "GTID Functions")."""
    return ('SELECT GTID_SUBTRACT(%s, %s) AS errant', (_gtid(replica_executed), _gtid(primary_executed)))


def mariadb_gtid_state_errant(replica_state, primary_state):
    """GTIDs of the replica's ``@@gtid_binlog_state`` that the primary's ``@@gtid_binlog_state`` does not hold (MariaDB).

    A binary log state keeps the last GTID of every server in every domain. With ``gtid_strict_mode``
    a server's sequence numbers in a domain only grow, so the primary holds a replica's GTID
    ``D-S-N`` when its state has ``D-S-M`` with ``M >= N``. The transactions a replica received from the
    primary (``log_slave_updates``) pass that test by construction; what is left was written on the
    replica itself (or comes from another source): errant transactions. This catches a local write
    even when the primary has since moved past its sequence number, which comparing positions alone
    (:func:`mariadb_errant_gtids`) does not. Returns the offending GTIDs, sorted.
    """
    def state(text):
        result = {}
        for item in _gtid(text).split(','):
            if not item:
                continue
            match = _MARIADB_GTID_RE.match(item)
            if not match:
                raise MySQLError('invalid MariaDB GTID %r in binary log state %r' % (item, text))
            domain, server_id, seq_no = (int(part) for part in match.groups())
            result[(domain, server_id)] = max(seq_no, result.get((domain, server_id), 0))
        return result

    primary = state(primary_state)
    errant = []
    for (domain, server_id), seq_no in sorted(state(replica_state).items()):
        if primary.get((domain, server_id), -1) < seq_no:
            errant.append('%d-%d-%d' % (domain, server_id, seq_no))
    return errant


def mariadb_purged_gtids(replica_pos, oldest_binlog_pos):
    """Domains in which the replica needs transactions the primary no longer has in its binary logs (MariaDB).

    ``oldest_binlog_pos`` is the GTID position at the start of the primary's oldest binary log
    (``BINLOG_GTID_POS(<first log of SHOW BINARY LOGS>, 4)``): every transaction up to it is gone. A
    replica at ``replica_pos`` (its ``@@gtid_slave_pos``) still finds what it needs when, in every
    domain of that position, it has reached at least the same sequence number. Returns
    ``[(domain, replica_gtid or None, oldest_gtid)]`` for the domains that fall short.
    """
    replica = parse_mariadb_gtid_pos(replica_pos)
    oldest = parse_mariadb_gtid_pos(oldest_binlog_pos)
    missing = []
    for domain, (server_id, seq_no) in sorted(oldest.items()):
        have = replica.get(domain)
        if have is None or have[1] < seq_no:
            missing.append((domain, None if have is None else '%d-%d-%d' % (domain, have[0], have[1]),
                            '%d-%d-%d' % (domain, server_id, seq_no)))
    return missing


#: ``GRANT`` lines of ``SHOW GRANTS`` that give the right to read the binary log (any spelling).
_REPLICATION_GRANT_RE = re.compile(
    r'^GRANT\s+(?P<privileges>.+?)\s+ON\s+\*\.\*\s+TO\s', re.IGNORECASE | re.DOTALL)


def has_replication_privilege(grants):
    """Whether ``SHOW GRANTS`` lines give the ``REPLICATION SLAVE`` privilege (``REPLICATION REPLICA`` in MariaDB 10.5.1+).

    Only global grants (``ON *.*``) count; ``ALL PRIVILEGES`` includes it. Privileges that come from a
    role are not followed (grant the privilege to the replication user itself).
    """
    for line in grants:
        match = _REPLICATION_GRANT_RE.match(_to_text(line).strip())
        if not match:
            continue
        privileges = ' '.join(match.group('privileges').upper().split())
        if 'ALL PRIVILEGES' in privileges or 'REPLICATION SLAVE' in privileges or 'REPLICATION REPLICA' in privileges:
            return True
    return False
