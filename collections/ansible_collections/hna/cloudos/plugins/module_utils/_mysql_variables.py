# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Global variables of a running MySQL or MariaDB server: read all of them in one query, set only those that differ.

The comparison is done here, in pure functions (unit tested): the server shows a value in its own spelling
(``ON`` for a boolean given as ``true`` or ``1``, bytes for a size given as ``64M``, ``0.500000`` for ``0.5``),
so a value is compared in the kind the server shows it in, and bound in the type the server accepts for it (an
integer for a numeric variable: ``SET GLOBAL max_connections = '200'`` is refused).
"""

from __future__ import annotations

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hna.cloudos.plugins.module_utils._mysql import (
    MYSQL,
    MYSQL_REQUIRED_TOGETHER,
    MySQLError,
    connect,
    describe_error,
    masked,
    _to_text,
    mysql_argument_spec,
    query_rows,
)
from ansible_collections.hna.cloudos.plugins.module_utils._mysql_replication import read_dialect

_NAME_RE = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')
_SIZE_RE = re.compile(r'^(\d+)\s*([KkMmGgTt])?$')
_NUMBER_RE = re.compile(r'^-?\d+(\.\d+)?$')
_UNITS = {'k': 1024, 'm': 1024 ** 2, 'g': 1024 ** 3, 't': 1024 ** 4}
_TRUE = ('on', '1', 'true', 'yes')
_FALSE = ('off', '0', 'false', 'no')

ARGUMENT_SPEC = mysql_argument_spec(
    variables=dict(type='dict', required=True),
    mode=dict(type='str', default='global', choices=['global', 'persist']),
)


def normalize_name(name):
    """A variable name as the server lists it: ``-`` written ``_``, lower case. Raise MySQLError for a bad name."""
    if not isinstance(name, str) or not _NAME_RE.match(name.replace('-', '_')):
        raise MySQLError('variables: %r is not a variable name (letters, digits, _ and -, starting with a letter)' % (name,))
    return name.replace('-', '_').lower()


def wanted_text(value):
    """A value of the task as text (``true``/``false`` become ``ON``/``OFF``); ``None`` and lists are refused."""
    if isinstance(value, bool):
        return 'ON' if value else 'OFF'
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value.strip()
    raise MySQLError('a value must be a string, a number or a boolean, not %r' % (value,))


def _as_number(text):
    """The number a value stands for (``64M`` is 67108864), or ``None``."""
    match = _SIZE_RE.match(text)
    if match:
        return int(match.group(1)) * _UNITS.get((match.group(2) or '').lower(), 1)
    if _NUMBER_RE.match(text):
        return float(text) if '.' in text else int(text)
    return None


def same_value(current, wanted):
    """Whether the server's value ``current`` (text) already is ``wanted`` (a task value), in the server's terms."""
    have = _to_text(current).strip()
    want = wanted_text(wanted)
    if have.lower() in ('on', 'off'):
        flag = want.lower()
        if flag in _TRUE or flag in _FALSE:
            return (have.lower() == 'on') == (flag in _TRUE)
    have_number = _as_number(have) if _NUMBER_RE.match(have) else None
    if have_number is not None:
        want_number = _as_number(want)
        if want_number is not None:
            return abs(float(have_number) - float(want_number)) < 1e-9
    return have.lower() == want.lower()


def bind_value(current, wanted):
    """The value to bind in ``SET GLOBAL``: a number where the server shows one (a size in bytes), else text."""
    want = wanted_text(wanted)
    if _NUMBER_RE.match(_to_text(current).strip()):
        number = _as_number(want)
        if number is not None:
            return number
    return want


def plan(wanted, current):
    """Compare the task's ``wanted`` ``{name: value}`` with the server's ``current`` ``{name: text}``.

    Return ``(changes, unknown)``: ``changes`` a list of ``(name, before, value to bind)`` for the variables that
    differ, in the task's order; ``unknown`` the names the server does not have (nothing is set when any is).
    """
    changes = []
    unknown = []
    for name, value in wanted.items():
        key = normalize_name(name)
        if key not in current:
            unknown.append(name)
            continue
        want = wanted_text(value)
        have = _to_text(current[key]).strip()
        if _NUMBER_RE.match(have) and _as_number(want) is None:
            raise MySQLError('variables: %s takes a number (the server holds %s), not %r. Nothing was changed.'
                             % (name, have, value))
        if not same_value(current[key], value):
            changes.append((key, _to_text(current[key]), bind_value(current[key], value)))
    return changes, unknown


def set_statement(name, value, mode):
    """``SET GLOBAL name = %s`` (or ``SET PERSIST``) with the value bound; the name was checked by normalize_name."""
    return ('SET %s %s = %%s' % ('PERSIST' if mode == 'persist' else 'GLOBAL', name), (value,))


def read_variables(connection, names):
    """``{name: text}`` of the given (normalized) names, in one query."""
    if not names:
        return {}
    placeholders = ', '.join(['%s'] * len(names))
    rows = query_rows(connection, ('SHOW GLOBAL VARIABLES WHERE Variable_name IN (%s)' % placeholders, tuple(names)))
    return dict((_to_text(row['Variable_name']).lower(), _to_text(row['Value'])) for row in rows)


def diff_text(values):
    return ''.join('%s = %s\n' % (name, values[name]) for name in sorted(values))


def run_variables():
    """Run ``mysql_variables``."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, required_together=MYSQL_REQUIRED_TOGETHER)
    params = module.params
    connection = None
    queries = []
    done = []
    try:
        wanted = params['variables']
        if not wanted:
            raise MySQLError('variables: give at least one variable and its value')
        names = [normalize_name(name) for name in wanted]
        duplicates = sorted(set(name for name in names if names.count(name) > 1))
        if duplicates:
            raise MySQLError('variables: %s given twice (a - and an _ spelling name the same variable)' % ', '.join(duplicates))
        connection = connect(params)
        if params['mode'] == 'persist':
            if read_dialect(connection).flavour != MYSQL:
                raise MySQLError('mode: persist needs MySQL 8 (SET PERSIST); this server is MariaDB, which has no '
                                 'persisted variables: use mode global and write the value into an option file too')
        current = read_variables(connection, names)
        changes, unknown = plan(wanted, current)
        if unknown:
            raise MySQLError('variables: the server at %s has no global variable %s: check the names (SHOW GLOBAL VARIABLES). '
                             'Nothing was changed.' % (params['login_host'], ', '.join(sorted(unknown))))
        before = dict((name, current[name]) for name in names)
        after = dict(before)
        warnings = []
        if not module.check_mode:
            for name, _before, value in changes:
                statement = set_statement(name, value, params['mode'])
                queries.append(masked(*statement))
                try:
                    with connection.cursor() as cursor:
                        cursor.execute(statement[0], statement[1])
                except Exception as exc:  # pylint: disable=broad-except
                    raise MySQLError('could not set %s to %s: %s.%s' % (
                        name, value, describe_error(exc, params),
                        ' Already set: %s.' % ', '.join(done) if done else ' Nothing was changed.'))
                done.append(name)
            if changes:
                after.update(read_variables(connection, [change[0] for change in changes]))
                for name, _before, value in changes:
                    if not same_value(after[name], value):
                        warnings.append('the server holds %s = %s after it was set to %s (it rounds or limits this '
                                        'variable): give %s to settle' % (name, after[name], value, after[name]))
        else:
            for name, _before, value in changes:
                queries.append(masked(*set_statement(name, value, params['mode'])))
                after[name] = str(value)
        for warning in warnings:
            module.warn(warning)
        changed = any(before[name] != after[name] for name in names) if not module.check_mode else bool(changes)
        result = dict(
            changed=changed,
            variables=dict((name, dict(before=before[name], after=after[name])) for name in names),
            changed_variables=[change[0] for change in changes],
            queries=queries,
        )
        if module._diff:
            result['diff'] = dict(before=diff_text(before), after=diff_text(after))
        module.exit_json(**result)
    except MySQLError as exc:
        module.fail_json(msg=str(exc), changed=bool(done), queries=queries)
    finally:
        if connection is not None:
            connection.close()
