# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Compose files (``docker.yml``) turned into validated, interpolated container specs.

:func:`load_definition` reads a Compose document from a file or takes it from a mapping (or
YAML text); :func:`parse_stack` interpolates it, checks every key and converts each service
into the container specs of ``_docker_engine`` (one per replica), the volumes and networks it
needs and the order in which services start (:func:`start_levels`).

Nothing here talks to Docker or reads the process environment: interpolation variables are
only those handed in. Every problem with the document is a :class:`ComposeError` with a
one-line message that names the service and the key; any other exception is a bug.
"""

from __future__ import annotations

import copy
import datetime
import ipaddress
import math
import os
import re
import traceback

YAML_IMPORT_ERROR = None
try:
    import yaml
except ImportError:
    YAML_IMPORT_ERROR = traceback.format_exc()
    HAS_YAML = False
else:
    HAS_YAML = True

from ansible_collections.hna.cloudos.plugins.module_utils._container_options import _q
from ansible_collections.hna.cloudos.plugins.module_utils._namespace import owner_labels
from ansible_collections.hna.cloudos.plugins.module_utils._container_options import (
    COMPOSE_KEYS,
    HOSTNAME_RE,
    LABEL_MANAGED,
    LABEL_NAMESPACE,
    LABEL_PREFIX,
    LABEL_REPLICA,
    OPTIONS_BY_NAME,
    SpecError,
    container_spec,
    namespace_aliases,
    valid_image_reference,
)
from ansible_collections.hna.cloudos.plugins.module_utils._container_options import parse_duration as _parse_duration
from ansible_collections.hna.cloudos.plugins.module_utils._container_options import parse_port as _parse_port
from ansible_collections.hna.cloudos.plugins.module_utils._container_options import parse_size as _parse_size


#: Service keys read here by hand (they need the document around them, or map to several options);
#: every other container option is read through the table of ``_container_options`` (:data:`COMPOSE_KEYS`).
HAND_READ_SERVICE_KEYS = frozenset((
    'image', 'environment', 'env_file', 'ports', 'volumes', 'networks', 'depends_on', 'healthcheck', 'restart',
    'labels', 'deploy', 'logging', 'container_name',
))
#: Keys resolved by ``_compose_document.prepare_document`` before the services are read.
DOCUMENT_SERVICE_KEYS = frozenset(('extends', 'profiles', 'secrets', 'configs'))
#: Keys of a service that the stack module understands; anything else is refused.
SUPPORTED_SERVICE_KEYS = HAND_READ_SERVICE_KEYS | DOCUMENT_SERVICE_KEYS | frozenset(COMPOSE_KEYS)
SUPPORTED_TOP_LEVEL_KEYS = frozenset(('version', 'name', 'services', 'volumes', 'networks', 'include', 'secrets', 'configs'))

CONDITIONS = ('service_started', 'service_healthy', 'service_completed_successfully')

#: Limits that keep a hostile or broken document from exhausting memory or time.
MAX_NODES = 100000
MAX_DEPTH = 64
MAX_REPLICAS = 256
MAX_INT64 = 2 ** 63 - 1
MIN_MEMORY = 6 * 1024 * 1024  # the Docker engine refuses a smaller memory limit

CONTAINER_NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.-]+$')
SERVICE_NAME_RE = re.compile(r'^[a-z0-9][a-z0-9_-]{0,62}$')
NAMESPACE_RE = re.compile(r'^(?=.{1,63}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$')
RESOURCE_NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$')
VAR_NAME_RE = re.compile(r'[_a-zA-Z][_a-zA-Z0-9]*')
BRACED_RE = re.compile(r'^([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?[-?+])(.*))?$', re.DOTALL)
ENV_KEY_RE = re.compile(r'^[^=\x00\s][^=\x00]*$')
DOTENV_KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_.-]*$')


class ComposeError(Exception):
    """A Compose document (or a file it names) that the stack module cannot deploy; the message is one line."""

    def __init__(self, message):
        super().__init__(' '.join(str(message).split()))


# --- small helpers ------------------------------------------------------------------------------------


def _where(service, key):
    if service is None:
        return 'key %s' % _q(key)
    return 'service %s: key %s' % (_q(service), _q(key))


def _err(service, key, problem):
    return ComposeError('%s %s' % (_where(service, key), problem))


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_str(value, service, key, allow_numbers=True):
    """A scalar that Compose takes as a string (numbers are written as YAML numbers by mistake often)."""
    if isinstance(value, str):
        return value
    if allow_numbers and _is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise _err(service, key, 'must be a string, not %s' % _q(value))
        return str(value)
    raise _err(service, key, 'must be a string, not %s' % _type_name(value))


def _type_name(value):
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, dict):
        return 'a mapping'
    if isinstance(value, (list, tuple)):
        return 'a list'
    if _is_number(value):
        return 'the number %s' % _q(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return 'a date'
    return 'a %s' % type(value).__name__


def _as_bool(value, service, key):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ('true', 'yes', 'on', '1', 'false', 'no', 'off', '0'):
        return value.strip().lower() in ('true', 'yes', 'on', '1')
    raise _err(service, key, 'must be true or false, not %s' % _type_name(value) if not isinstance(value, str) else
               'must be true or false, not %s' % _q(value))


def _as_int(value, service, key, minimum=0, maximum=MAX_INT64):
    if isinstance(value, str) and re.match(r'^\s*-?\d+\s*$', value):
        value = int(value)
    if not _is_int(value):
        raise _err(service, key, 'must be an integer, not %s' % (_q(value) if isinstance(value, str) else _type_name(value)))
    if value < minimum or value > maximum:
        raise _err(service, key, 'must be between %d and %d, not %d' % (minimum, maximum, value))
    return value


def _as_mapping(value, service, key, allow_none=False):
    if value is None and allow_none:
        return {}
    if not isinstance(value, dict):
        raise _err(service, key, 'must be a mapping, not %s' % _type_name(value))
    for name in value:
        if not isinstance(name, str):
            raise _err(service, key, 'has the key %s: keys must be strings' % _q(name))
    return value


def _as_list(value, service, key):
    if not isinstance(value, list):
        raise _err(service, key, 'must be a list, not %s' % _type_name(value))
    return value


def _check_keys(mapping, allowed, service, key):
    """Refuse the keys of ``mapping`` not in ``allowed`` (``x-`` extension keys are always allowed)."""
    unknown = sorted(name for name in mapping if name not in allowed and not name.startswith('x-'))
    if unknown:
        raise ComposeError('%s is not supported by hna.cloudos.stack' % _where(service, '%s.%s' % (key, unknown[0]) if key else unknown[0]))


def _string_list_or_map(value, service, key, variables=None, drop_unset=False):
    """``KEY=VALUE`` list or mapping (environment, labels) -> dict of strings.

    In the list form, a bare ``KEY`` (or a ``null`` value in the mapping form) takes its value
    from ``variables`` when given and ``drop_unset`` is true; otherwise it is the empty string.
    """
    result = {}
    if isinstance(value, list):
        for index, item in enumerate(value):
            item_key = '%s[%d]' % (key, index)
            text = _as_str(item, service, item_key)
            if '=' in text:
                name, item_value = text.split('=', 1)
            else:
                name, item_value = text, None
            name = name.strip() if drop_unset else name
            if not name:
                raise _err(service, item_key, 'has an empty name: %s' % _q(text))
            result[name] = item_value
    elif isinstance(value, dict):
        for name, item_value in value.items():
            if not isinstance(name, str) or not name:
                raise _err(service, key, 'has the name %s: names must be non-empty strings' % _q(name))
            if item_value is None:
                result[name] = None
            elif isinstance(item_value, bool):
                result[name] = 'true' if item_value else 'false'
            elif _is_number(item_value) or isinstance(item_value, (datetime.date, datetime.datetime)):
                result[name] = _as_str(item_value, service, '%s.%s' % (key, name)) if _is_number(item_value) else item_value.isoformat()
            elif isinstance(item_value, str):
                result[name] = item_value
            else:
                raise _err(service, '%s.%s' % (key, name), 'must be a string, not %s' % _type_name(item_value))
    else:
        raise _err(service, key, 'must be a list of NAME=VALUE strings or a mapping, not %s' % _type_name(value))

    final = {}
    for name, item_value in result.items():
        if item_value is None:
            if drop_unset:
                if variables is not None and name in variables:
                    final[name] = variables[name]
                continue
            item_value = ''
        final[name] = item_value
    return final


# --- interpolation ------------------------------------------------------------------------------------


def _matching_brace(text, start):
    """Index of the ``}`` closing a ``${`` whose body starts at ``start``, or -1."""
    depth = 0
    index = start
    length = len(text)
    while index < length:
        char = text[index]
        if char == '$' and index + 1 < length and text[index + 1] in '${':
            if text[index + 1] == '{':
                depth += 1
            index += 2
            continue
        if char == '}':
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return -1


def interpolate_string(text, variables, where='', warnings=None):
    """Expand ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``,
    ``${VAR?error}``, ``${VAR:+alternative}``, ``${VAR+alternative}`` and ``$$`` in ``text``.

    ``variables`` is the only source of values. An unset variable without a default becomes the
    empty string and a warning is added to ``warnings`` (a list) when given.
    """
    out = []
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char != '$':
            nxt = text.find('$', index)
            if nxt < 0:
                out.append(text[index:])
                break
            out.append(text[index:nxt])
            index = nxt
            continue
        following = text[index + 1] if index + 1 < length else ''
        if following == '$':
            out.append('$')
            index += 2
            continue
        if following == '{':
            end = _matching_brace(text, index + 2)
            if end < 0:
                raise ComposeError('%s: invalid interpolation format %s: "${" without a closing "}" '
                                   '(write $$ for a literal $)' % (where or 'value', _q(text)))
            out.append(_expand_braced(text[index + 2:end], text, variables, where, warnings))
            index = end + 1
            continue
        match = VAR_NAME_RE.match(text, index + 1)
        if match:
            out.append(_lookup(match.group(0), variables, where, warnings))
            index = match.end()
            continue
        raise ComposeError('%s: invalid interpolation format %s: "$" must be followed by a variable name, "{" or "$" '
                           '(write $$ for a literal $)' % (where or 'value', _q(text)))
    return ''.join(out)


def _lookup(name, variables, where, warnings):
    if name in variables:
        return variables[name]
    if warnings is not None:
        message = 'The variable %s is not set; %s uses an empty string instead.' % (name, where or 'the definition')
        if message not in warnings:
            warnings.append(message)
    return ''


def _expand_braced(body, text, variables, where, warnings):
    match = BRACED_RE.match(body)
    if not match:
        raise ComposeError('%s: invalid interpolation format %s: "${%s}" is not ${NAME}, ${NAME:-default}, '
                           '${NAME-default}, ${NAME:?error} or ${NAME:+alternative}' % (where or 'value', _q(text), body))
    name, operator, argument = match.group(1), match.group(2), match.group(3)
    if operator is None:
        return _lookup(name, variables, where, warnings)
    is_set = name in variables
    non_empty = is_set and variables[name] != ''
    present = non_empty if operator.startswith(':') else is_set
    kind = operator[-1]
    if kind == '-':
        return variables[name] if present else interpolate_string(argument, variables, where, warnings)
    if kind == '+':
        return interpolate_string(argument, variables, where, warnings) if present else ''
    # '?': required variable
    if present:
        return variables[name]
    detail = interpolate_string(argument, variables, where, warnings)
    raise ComposeError('%s: required variable %s is %s%s' % (
        where or 'value', name, 'empty' if is_set else 'not set', (': %s' % detail) if detail else ''))


def interpolate(document, variables, warnings=None):
    """Return a copy of ``document`` with every string value interpolated (keys are left as they are).

    Also enforces :data:`MAX_NODES` and :data:`MAX_DEPTH`, which protects against YAML alias bombs
    and self-referencing structures.
    """
    counter = [0]

    def walk(node, path, depth):
        counter[0] += 1
        if counter[0] > MAX_NODES:
            raise ComposeError('The definition is too large (more than %d values).' % MAX_NODES)
        if depth > MAX_DEPTH:
            raise ComposeError('The definition is nested too deeply (more than %d levels) at %s.' % (MAX_DEPTH, _path_text(path)))
        if isinstance(node, dict):
            return dict((key, walk(value, path + (key, ), depth + 1)) for key, value in node.items())
        if isinstance(node, (list, tuple)):
            return [walk(value, path + (index, ), depth + 1) for index, value in enumerate(node)]
        if isinstance(node, str):
            if '\x00' in node:
                raise ComposeError('%s contains a NUL character.' % _path_text(path))
            if '$' not in node:
                return node
            return interpolate_string(node, variables, _path_text(path), warnings)
        return node

    return walk(document, (), 0)


def _path_text(path):
    if len(path) >= 2 and path[0] == 'services':
        rest = _plain_path(path[2:])
        return 'service %s: key %s' % (_q(str(path[1])), _q(rest)) if len(path) > 2 else 'service %s' % _q(str(path[1]))
    if path and path[0] in ('volumes', 'networks'):
        return 'key %s' % _q(_plain_path(path))
    return _plain_path(path)


def _plain_path(path):
    parts = []
    for item in path:
        if isinstance(item, int) and not isinstance(item, bool):
            parts.append('[%d]' % item)
        else:
            parts.append(('.' if parts else '') + str(item))
    return ''.join(parts) or 'the definition'


# --- .env files -----------------------------------------------------------------------------------------


def parse_env_file(text, source='env file'):
    """Parse ``.env`` text: ``KEY=VALUE`` lines, ``export KEY=VALUE``, ``# comments``, quotes.

    Double-quoted values understand ``\\n``, ``\\t``, ``\\\\`` and ``\\"``; single-quoted values are
    literal; an unquoted value ends at `` #``. A line with only ``KEY`` maps to ``None``.
    """
    result = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('export ') or line.startswith('export\t'):
            line = line[len('export'):].strip()
        if '=' in line:
            key, value = line.split('=', 1)
            key = key.strip()
            value = value.lstrip()
        else:
            key, value = line, None
        if not DOTENV_KEY_RE.match(key):
            raise ComposeError('%s, line %d: %s is not a valid variable name.' % (source, number, _q(key)))
        if '\x00' in line:
            raise ComposeError('%s, line %d: the value contains a NUL character.' % (source, number))
        if value is not None:
            value = _dotenv_value(value, source, number)
        result[key] = value
    return result


def _dotenv_value(value, source, number):
    if value[:1] == '"':
        out = []
        index = 1
        while index < len(value):
            char = value[index]
            if char == '\\' and index + 1 < len(value):
                out.append({'n': '\n', 't': '\t', 'r': '\r', '\\': '\\', '"': '"', '$': '$'}.get(value[index + 1], '\\' + value[index + 1]))
                index += 2
                continue
            if char == '"':
                rest = value[index + 1:].strip()
                if rest and not rest.startswith('#'):
                    raise ComposeError('%s, line %d: unexpected text after the closing quote.' % (source, number))
                return ''.join(out)
            out.append(char)
            index += 1
        raise ComposeError('%s, line %d: the double-quoted value has no closing quote.' % (source, number))
    if value[:1] == "'":
        end = value.find("'", 1)
        if end < 0:
            raise ComposeError("%s, line %d: the single-quoted value has no closing quote." % (source, number))
        rest = value[end + 1:].strip()
        if rest and not rest.startswith('#'):
            raise ComposeError('%s, line %d: unexpected text after the closing quote.' % (source, number))
        return value[1:end]
    comment = re.search(r'\s#', value)
    if comment:
        value = value[:comment.start()]
    return value.strip()


def _read_text_file(path):
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise ComposeError('Cannot read %s: %s.' % (path, exc.strerror or exc))
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ComposeError('%s is not UTF-8 text (%s).' % (path, exc))


def read_env_files(paths, base_dir=None, reader=None):
    """Read ``.env`` files in order (later files win) and return the variables they set."""
    reader = reader or _read_text_file
    variables = {}
    for path in paths or ():
        full = _resolve_path(path, base_dir, None, 'env_files')
        for key, value in parse_env_file(reader(full), full).items():
            variables[key] = '' if value is None else value
    return variables


def _resolve_path(path, base_dir, service, key):
    expanded = os.path.expanduser(path)
    if os.path.isabs(expanded):
        return os.path.normpath(expanded)
    if base_dir is None:
        raise _err(service, key, 'names the relative path %s; a relative path needs definition (a file) to be '
                                 'relative to, so use an absolute path with definition_content' % _q(path))
    return os.path.normpath(os.path.join(base_dir, expanded))


# --- loading --------------------------------------------------------------------------------------------


def load_yaml_text(text, source='definition_content'):
    """Parse YAML text (one document) into Python objects; raise :class:`ComposeError` on any problem."""
    if not HAS_YAML:
        raise ComposeError('PyYAML is needed to read %s: install it (python3-yaml) on the managed host.' % source)
    from ansible_collections.hna.cloudos.plugins.module_utils._compose_document import ComposeLoader  # pylint: disable=import-outside-toplevel
    try:
        return yaml.load(text, Loader=ComposeLoader)  # nosec B506 - ComposeLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        problem = getattr(exc, 'problem', None) or str(exc)
        where = ' at line %d, column %d' % (mark.line + 1, mark.column + 1) if mark is not None else ''
        raise ComposeError('%s is not valid YAML%s: %s.' % (source, where, ' '.join(str(problem).split())))
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ComposeError('%s cannot be read as YAML: %s.' % (source, ' '.join(str(exc).split())))


def load_definition(path=None, content=None, reader=None):
    """Return the Compose document from the file ``path`` or from ``content`` (a mapping or YAML text)."""
    if path is not None:
        text = (reader or _read_text_file)(path)
        document = load_yaml_text(text, path)
        source = path
    elif isinstance(content, str):
        document = load_yaml_text(content, 'definition_content')
        source = 'definition_content'
    else:
        document = copy.deepcopy(content) if content is not None else None
        source = 'definition_content'
    if not isinstance(document, dict):
        raise ComposeError('%s must be a mapping with a services key (a Compose file), not %s.' % (source, _type_name(document)))
    return document


# --- values ---------------------------------------------------------------------------------------------


def _shared(parser, value, service, key, *args):
    """Run a parser of ``_container_options``; its error names the service and the key, as every Compose error."""
    try:
        return parser(value, key, *args)
    except SpecError as exc:
        raise _err(service, key, exc.problem or str(exc))


def parse_duration(value, service=None, key='duration'):
    """Compose duration (``1m30s``, ``500ms``, ``10``) -> nanoseconds. A bare number is seconds."""
    if value is None or (isinstance(value, str) and not value.strip()) or not isinstance(value, (str, int, float)) \
            or isinstance(value, bool):
        raise _err(service, key, 'must be a duration such as 10s, 1m30s or 500ms, not %s' % (
            _q(value) if isinstance(value, str) else _type_name(value)))
    return _shared(_parse_duration, value, service, key)


def parse_memory(value, service=None, key='memory'):
    """Compose byte value (``512m``, ``1g``, ``1.5gb``, ``512MiB``, ``1048576``) -> bytes, at least 6m."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise _err(service, key, 'must be a size such as 512m or 1g, not %s' % _type_name(value))
    number = _shared(_parse_size, value, service, key, MIN_MEMORY)
    if number is None:
        raise _err(service, key, 'must be at least 6m (the smallest limit the Docker engine accepts), not %s' % _q(value))
    return number


def parse_cpus(value, service=None, key='cpus'):
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _err(service, key, 'must be a number of CPUs such as 0.5 or 2, not %s' % _q(value))
    elif _is_number(value):
        number = float(value)
    else:
        raise _err(service, key, 'must be a number of CPUs such as 0.5 or 2, not %s' % _type_name(value))
    if not math.isfinite(number) or number < 0.01 or number > 1000000:
        raise _err(service, key, 'must be a number of CPUs of at least 0.01, not %s' % _q(value))
    return number


def parse_port(item, service=None, key='ports'):
    """One entry of ``ports`` (short or long syntax) -> list of spec port dicts."""
    if isinstance(item, dict):
        _as_mapping(item, service, key)
        _check_keys(item, ('target', 'published', 'host_ip', 'protocol', 'mode'), service, key)
        if 'target' not in item:
            raise _err(service, key, 'has no target (the container port)')
    elif not _is_int(item):
        _as_str(item, service, key, allow_numbers=False)
    return _shared(_parse_port, item, service, key)


def _restart(value, service):
    if value is False or value is None:
        return dict(name='no', max_retries=0)
    text = _as_str(value, service, 'restart', allow_numbers=False)
    if text in ('no', 'always', 'unless-stopped', 'on-failure'):
        return dict(name=text, max_retries=0)
    match = re.match(r'^on-failure:(\d{1,9})$', text)
    if match:
        return dict(name='on-failure', max_retries=int(match.group(1)))
    raise _err(service, 'restart', 'must be no, always, unless-stopped, on-failure or on-failure:N, not %s' % _q(value))


def _healthcheck(value, service):
    value = _as_mapping(value, service, 'healthcheck')
    _check_keys(value, ('test', 'interval', 'timeout', 'retries', 'start_period', 'start_interval', 'disable'), service, 'healthcheck')
    disable = _as_bool(value['disable'], service, 'healthcheck.disable') if 'disable' in value else False
    if disable:
        return dict(test=['NONE'], interval=None, timeout=None, retries=None, start_period=None, start_interval=None)
    result = dict(test=None, interval=None, timeout=None, retries=None, start_period=None, start_interval=None)
    if 'test' in value:
        test = value['test']
        if isinstance(test, str):
            if not test.strip():
                raise _err(service, 'healthcheck.test', 'is empty')
            result['test'] = ['CMD-SHELL', test]
        elif isinstance(test, list) and test:
            items = [_as_str(item, service, 'healthcheck.test[%d]' % index) for index, item in enumerate(test)]
            kind = items[0]
            if kind == 'NONE':
                if len(items) != 1:
                    raise _err(service, 'healthcheck.test', 'is ["NONE"], which takes no arguments')
            elif kind == 'CMD':
                if len(items) < 2:
                    raise _err(service, 'healthcheck.test', 'is ["CMD"] without a command')
            elif kind == 'CMD-SHELL':
                if len(items) != 2 or not items[1].strip():
                    raise _err(service, 'healthcheck.test', 'must be ["CMD-SHELL", "one shell command"]')
            else:
                raise _err(service, 'healthcheck.test', 'must start with CMD, CMD-SHELL or NONE, not %s' % _q(kind))
            result['test'] = items
        else:
            raise _err(service, 'healthcheck.test', 'must be a command string or a non-empty list, not %s' % _type_name(test))
    for field in ('interval', 'timeout', 'start_period', 'start_interval'):
        if value.get(field) is not None:
            nanoseconds = parse_duration(value[field], service, 'healthcheck.' + field)
            if 0 < nanoseconds < 10 ** 6:
                raise _err(service, 'healthcheck.' + field, 'must be 0 or at least 1ms')
            result[field] = nanoseconds
    if value.get('retries') is not None:
        result['retries'] = _as_int(value['retries'], service, 'healthcheck.retries', 0, 2 ** 31 - 1)
    return result


def _deploy(value, service):
    value = _as_mapping(value, service, 'deploy')
    _check_keys(value, ('resources', 'replicas'), service, 'deploy')
    replicas = None
    cpus = memory = None
    if value.get('replicas') is not None:
        replicas = _as_int(value['replicas'], service, 'deploy.replicas', 0, MAX_REPLICAS)
    if value.get('resources') is not None:
        resources = _as_mapping(value['resources'], service, 'deploy.resources')
        _check_keys(resources, ('limits', ), service, 'deploy.resources')
        if resources.get('limits') is not None:
            limits = _as_mapping(resources['limits'], service, 'deploy.resources.limits')
            _check_keys(limits, ('cpus', 'memory'), service, 'deploy.resources.limits')
            if limits.get('cpus') is not None:
                cpus = parse_cpus(limits['cpus'], service, 'deploy.resources.limits.cpus')
            if limits.get('memory') is not None:
                memory = parse_memory(limits['memory'], service, 'deploy.resources.limits.memory')
    return replicas, cpus, memory


def _depends_on(value, service, services):
    result = {}
    if isinstance(value, list):
        for index, item in enumerate(value):
            name = _as_str(item, service, 'depends_on[%d]' % index, allow_numbers=False)
            result[name] = 'service_started'
    elif isinstance(value, dict):
        for name, options in value.items():
            if not isinstance(name, str):
                raise _err(service, 'depends_on', 'names the service %s: service names are strings' % _q(name))
            options = _as_mapping(options, service, 'depends_on.%s' % name, allow_none=True)
            _check_keys(options, ('condition', 'required'), service, 'depends_on.%s' % name)
            condition = options.get('condition', 'service_started')
            if condition not in CONDITIONS:
                raise _err(service, 'depends_on.%s.condition' % name, 'must be one of %s, not %s' % (', '.join(CONDITIONS), _q(condition)))
            required = _as_bool(options['required'], service, 'depends_on.%s.required' % name) if 'required' in options else True
            if not required and name not in services:
                continue
            result[name] = condition
    elif value is not None:
        raise _err(service, 'depends_on', 'must be a list of service names or a mapping, not %s' % _type_name(value))
    for name in result:
        if name not in services:
            raise _err(service, 'depends_on', 'names %s, which is not a service of this stack' % _q(name))
    return result


# --- volumes and networks ----------------------------------------------------------------------------


def _top_level_volumes(value, namespace, owner):
    volumes = {}
    value = _as_mapping(value, None, 'volumes', allow_none=True)
    for key, options in value.items():
        if key.startswith('x-'):
            continue
        if not RESOURCE_NAME_RE.match(key):
            raise ComposeError('volume %s: the name must start with a letter or digit and contain only letters, digits, '
                               '"_", "." and "-" (at most 128 characters)' % _q(key))
        options = _as_mapping(options, None, 'volumes.%s' % key, allow_none=True)
        _check_keys(options, ('driver', 'driver_opts', 'labels', 'external', 'name'), None, 'volumes.%s' % key)
        external = _as_bool(options['external'], None, 'volumes.%s.external' % key) if 'external' in options else False
        labels = _string_list_or_map(options['labels'], None, 'volumes.%s.labels' % key) if options.get('labels') is not None else {}
        _check_reserved_labels(labels, None, 'volumes.%s.labels' % key)
        if external:
            extra = sorted(set(options) - set(('external', 'name')))
            if extra:
                raise ComposeError('key %s: an external volume takes only name, not %s' % (_q('volumes.%s' % key), _q(extra[0])))
            name = _as_str(options.get('name') or key, None, 'volumes.%s.name' % key)
            if not RESOURCE_NAME_RE.match(name):
                raise ComposeError('key %s: %s is not a valid volume name' % (_q('volumes.%s.name' % key), _q(name)))
        else:
            if 'name' in options:
                raise ComposeError('key %s is only supported with external: true; hna.cloudos.stack names the volume '
                                   '%s-%s itself' % (_q('volumes.%s.name' % key), namespace, key))
            name = '%s-%s' % (namespace, key)
            labels.update({LABEL_MANAGED: 'true', LABEL_NAMESPACE: namespace})
            labels.update(owner)
        driver = _as_str(options['driver'], None, 'volumes.%s.driver' % key) if options.get('driver') is not None else 'local'
        driver_opts = _string_list_or_map(options['driver_opts'], None, 'volumes.%s.driver_opts' % key) if options.get('driver_opts') is not None else {}
        volumes[key] = dict(key=key, name=name, external=external, driver=driver, driver_opts=driver_opts, labels=labels)
    return volumes


def _top_level_networks(value, namespace, owner):
    networks = {}
    value = _as_mapping(value, None, 'networks', allow_none=True)
    for key, options in value.items():
        if key.startswith('x-'):
            continue
        if key == 'default':
            raise ComposeError('key %s is not supported by hna.cloudos.stack: the default network is the namespace '
                               'network, managed with hna.cloudos.namespace' % _q('networks.default'))
        if not RESOURCE_NAME_RE.match(key):
            raise ComposeError('network %s: the name must start with a letter or digit and contain only letters, digits, '
                               '"_", "." and "-" (at most 128 characters)' % _q(key))
        options = _as_mapping(options, None, 'networks.%s' % key, allow_none=True)
        _check_keys(options, ('driver', 'internal', 'labels', 'external', 'name', 'ipam'), None, 'networks.%s' % key)
        external = _as_bool(options['external'], None, 'networks.%s.external' % key) if 'external' in options else False
        labels = _string_list_or_map(options['labels'], None, 'networks.%s.labels' % key) if options.get('labels') is not None else {}
        _check_reserved_labels(labels, None, 'networks.%s.labels' % key)
        ipam = None
        if external:
            extra = sorted(set(options) - set(('external', 'name')))
            if extra:
                raise ComposeError('key %s: an external network takes only name, not %s' % (_q('networks.%s' % key), _q(extra[0])))
            name = _as_str(options.get('name') or key, None, 'networks.%s.name' % key)
            if not RESOURCE_NAME_RE.match(name):
                raise ComposeError('key %s: %s is not a valid network name' % (_q('networks.%s.name' % key), _q(name)))
        else:
            if 'name' in options:
                raise ComposeError('key %s is only supported with external: true; hna.cloudos.stack names the network '
                                   '%s-%s itself' % (_q('networks.%s.name' % key), namespace, key))
            name = '%s-%s' % (namespace, key)
            labels.update({LABEL_MANAGED: 'true'})
            labels.update(owner)
            if options.get('ipam') is not None:
                ipam = _ipam(options['ipam'], key)
        driver = _as_str(options['driver'], None, 'networks.%s.driver' % key) if options.get('driver') is not None else 'bridge'
        if driver != 'bridge' and not external:
            raise ComposeError('key %s: only the bridge driver is supported, not %s' % (_q('networks.%s.driver' % key), _q(driver)))
        internal = _as_bool(options['internal'], None, 'networks.%s.internal' % key) if 'internal' in options else False
        networks[key] = dict(key=key, name=name, external=external, driver=driver, internal=internal, labels=labels, ipam=ipam)
    return networks


def _ipam(value, key):
    where = 'networks.%s.ipam' % key
    value = _as_mapping(value, None, where)
    _check_keys(value, ('driver', 'config'), None, where)
    if value.get('driver') not in (None, 'default'):
        raise ComposeError('key %s: only the default IPAM driver is supported' % _q(where + '.driver'))
    configs = []
    for index, item in enumerate(_as_list(value.get('config') or [], None, where + '.config')):
        item_where = '%s.config[%d]' % (where, index)
        item = _as_mapping(item, None, item_where)
        _check_keys(item, ('subnet', 'gateway', 'ip_range'), None, item_where)
        if 'subnet' not in item:
            raise ComposeError('key %s has no subnet' % _q(item_where))
        try:
            subnet = ipaddress.ip_network(_as_str(item['subnet'], None, item_where + '.subnet'), strict=True)
        except ValueError as exc:
            raise ComposeError('key %s: %s' % (_q(item_where + '.subnet'), exc))
        config = dict(subnet=str(subnet), gateway=None, ip_range=None)
        if item.get('gateway') is not None:
            try:
                gateway = ipaddress.ip_address(_as_str(item['gateway'], None, item_where + '.gateway'))
            except ValueError as exc:
                raise ComposeError('key %s: %s' % (_q(item_where + '.gateway'), exc))
            if gateway not in subnet:
                raise ComposeError('key %s: %s is not in %s' % (_q(item_where + '.gateway'), gateway, subnet))
            config['gateway'] = str(gateway)
        if item.get('ip_range') is not None:
            try:
                ip_range = ipaddress.ip_network(_as_str(item['ip_range'], None, item_where + '.ip_range'), strict=True)
            except ValueError as exc:
                raise ComposeError('key %s: %s' % (_q(item_where + '.ip_range'), exc))
            if ip_range.version != subnet.version or not ip_range.subnet_of(subnet):
                raise ComposeError('key %s: %s is not inside %s' % (_q(item_where + '.ip_range'), ip_range, subnet))
            config['ip_range'] = str(ip_range)
        configs.append(config)
    return dict(driver='default', config=configs)


def _check_reserved_labels(labels, service, key):
    for name in labels:
        if name.startswith(LABEL_PREFIX):
            raise _err(service, key, 'sets %s: labels starting with %s are reserved for hna.cloudos' % (_q(name), LABEL_PREFIX))


def _mount_short(item, service, key, volumes, base_dir):
    text = _as_str(item, service, key, allow_numbers=False)
    parts = text.split(':')
    if len(parts) == 1:
        target, source, mode = parts[0], None, None
    elif len(parts) == 2:
        source, target, mode = parts[0], parts[1], None
    elif len(parts) == 3:
        source, target, mode = parts
    else:
        raise _err(service, key, 'is not [SOURCE:]TARGET[:MODE]: %s' % _q(text))
    read_only = no_copy = False
    if mode is not None:
        options = mode.split(',')
        for option in options:
            if option == 'ro':
                read_only = True
            elif option == 'nocopy':
                no_copy = True
            elif option != 'rw':
                raise _err(service, key, 'uses the mode %s; only ro, rw and nocopy are supported' % _q(option))
    if source is not None and not source:
        raise _err(service, key, 'has an empty source: %s' % _q(text))
    kind = 'bind' if source is not None and source.startswith(('.', '/', '~')) else 'volume'
    if no_copy and kind == 'bind':
        raise _err(service, key, 'uses the mode nocopy, which applies to volumes only, not to the bind mount %s' % _q(source))
    return _mount(kind, source, target, read_only, service, key, volumes, base_dir, no_copy)


def _mount_long(item, service, key, volumes, base_dir):
    _check_keys(item, ('type', 'source', 'target', 'read_only', 'volume'), service, key)
    kind = item.get('type')
    if kind not in ('volume', 'bind', 'tmpfs'):
        raise _err(service, key + '.type', 'must be volume, bind or tmpfs, not %s' % _q(kind))
    if item.get('target') is None:
        raise _err(service, key, 'has no target (the path in the container)')
    target = _as_str(item['target'], service, key + '.target', allow_numbers=False)
    source = item.get('source')
    if source is not None:
        source = _as_str(source, service, key + '.source', allow_numbers=False)
        if not source:
            source = None
    read_only = _as_bool(item['read_only'], service, key + '.read_only') if 'read_only' in item else False
    if kind == 'tmpfs' and source is not None:
        raise _err(service, key, 'is a tmpfs mount, which takes no source')
    if kind == 'bind' and source is None:
        raise _err(service, key, 'is a bind mount without a source')
    no_copy = False
    if item.get('volume') is not None:
        if kind != 'volume':
            raise _err(service, key + '.volume', 'applies to volume mounts only, not to a %s mount' % kind)
        options = _as_mapping(item['volume'], service, key + '.volume')
        _check_keys(options, ('nocopy',), service, key + '.volume')
        if 'nocopy' in options:
            no_copy = _as_bool(options['nocopy'], service, key + '.volume.nocopy')
    return _mount(kind, source, target, read_only, service, key, volumes, base_dir, no_copy)


def _mount(kind, source, target, read_only, service, key, volumes, base_dir, no_copy=False):
    if not target.startswith('/'):
        raise _err(service, key, 'has the target %s; the path in the container must be absolute' % _q(target))
    target = os.path.normpath(target)
    if target.startswith('//'):
        target = target[1:]
    if kind == 'bind':
        source = _resolve_path(source, base_dir, service, key)
    elif kind == 'volume' and source is not None:
        if source not in volumes:
            raise _err(service, key, 'uses the volume %s, which is not declared in the top-level volumes' % _q(source))
        source = volumes[source]['name']
    mount = dict(type=kind, source=source, target=target, read_only=read_only)
    if no_copy:
        mount['no_copy'] = True
    return mount


def _service_networks(value, service, networks, namespace, network_name, aliases):
    requested = {}
    if isinstance(value, list):
        for index, item in enumerate(value):
            requested[_as_str(item, service, 'networks[%d]' % index, allow_numbers=False)] = {}
    elif isinstance(value, dict):
        for name, options in value.items():
            if not isinstance(name, str):
                raise _err(service, 'networks', 'names the network %s: network names are strings' % _q(name))
            requested[name] = _as_mapping(options, service, 'networks.%s' % name, allow_none=True)
    elif value is not None:
        raise _err(service, 'networks', 'must be a list of network names or a mapping, not %s' % _type_name(value))

    # As in Compose, a service that lists its networks joins only those; "default" (the namespace network)
    # is one of them only when listed, or when the service lists none.
    default = dict(name=network_name, aliases=list(aliases), ipv4_address=None)
    result = [default] if not requested or 'default' in requested else []
    for name, options in requested.items():
        where = 'networks.%s' % name
        _check_keys(options, ('aliases', 'ipv4_address'), service, where)
        if name == 'default':
            entry = default
        elif name in networks:
            entry = dict(name=networks[name]['name'], aliases=list(aliases), ipv4_address=None)
            result.append(entry)
        else:
            raise _err(service, 'networks', 'uses the network %s, which is not declared in the top-level networks' % _q(name))
        if options.get('aliases') is not None:
            for index, alias in enumerate(_as_list(options['aliases'], service, where + '.aliases')):
                alias = _as_str(alias, service, '%s.aliases[%d]' % (where, index))
                if not HOSTNAME_RE.match(alias) or len(alias) > 253:
                    raise _err(service, where + '.aliases', 'has the alias %s, which is not a valid DNS name' % _q(alias))
                if alias not in entry['aliases']:
                    entry['aliases'].append(alias)
        if options.get('ipv4_address') is not None:
            text = _as_str(options['ipv4_address'], service, where + '.ipv4_address')
            try:
                entry['ipv4_address'] = str(ipaddress.IPv4Address(text))
            except ValueError:
                raise _err(service, where + '.ipv4_address', 'is not an IPv4 address: %s' % _q(text))
    return result


# --- services -------------------------------------------------------------------------------------------


def service_aliases(namespace, service):
    """Network aliases of a service: ``<service>`` and ``<service>.<namespace>``."""
    return namespace_aliases(namespace, service)


def container_name(namespace, service, replica=None):
    """``<namespace>-<service>``, or ``<namespace>-<service>-<n>`` for replica ``n`` from 2 (replica 1 keeps the plain name)."""
    if replica in (None, 1):
        return '%s-%s' % (namespace, service)
    return '%s-%s-%d' % (namespace, service, replica)


def _service(name, definition, context):
    namespace = context['namespace']
    if definition is None:
        raise ComposeError('service %s has no definition (it needs at least an image)' % _q(name))
    if not isinstance(definition, dict):
        raise ComposeError('service %s must be a mapping, not %s' % (_q(name), _type_name(definition)))
    for key in definition:
        if not isinstance(key, str):
            raise ComposeError('service %s: key %s is not supported by hna.cloudos.stack' % (_q(name), _q(key)))
    unknown = sorted(key for key in definition if key not in SUPPORTED_SERVICE_KEYS and not key.startswith('x-'))
    if len(unknown) == 1:
        raise ComposeError('service %s: key %s is not supported by hna.cloudos.stack' % (_q(name), _q(unknown[0])))
    if unknown:
        raise ComposeError('service %s: keys %s are not supported by hna.cloudos.stack' % (_q(name), ', '.join(_q(key) for key in unknown)))

    if definition.get('image') is None:
        raise ComposeError('service %s has no image (building images is not supported by hna.cloudos.stack)' % _q(name))
    image = _as_str(definition['image'], name, 'image').strip()
    if not valid_image_reference(image):
        raise _err(name, 'image', 'is not a valid image reference: %s' % _q(image))

    env = {}
    if definition.get('env_file') is not None:
        env_files = definition['env_file']
        if isinstance(env_files, (str, dict)):
            env_files = [env_files]
        for index, item in enumerate(_as_list(env_files, name, 'env_file')):
            where = 'env_file[%d]' % index
            required = True
            if isinstance(item, dict):
                _as_mapping(item, name, where)
                _check_keys(item, ('path', 'required'), name, where)
                if item.get('path') is None:
                    raise _err(name, where, 'has no path')
                if 'required' in item:
                    required = _as_bool(item['required'], name, where + '.required')
                item = item['path']
            path = _resolve_path(_as_str(item, name, where, allow_numbers=False), context['base_dir'], name, where)
            try:
                text = context['reader'](path)
            except ComposeError as exc:
                if not required:
                    continue
                raise ComposeError('service %s: key %s: %s' % (_q(name), _q('env_file'), exc))
            for key, value in parse_env_file(text, path).items():
                if value is None:
                    if key in context['variables']:
                        env[key] = context['variables'][key]
                    continue
                env[key] = value
    if definition.get('environment') is not None:
        env.update(_string_list_or_map(definition['environment'], name, 'environment', context['variables'], drop_unset=True))
    for key in env:
        if not ENV_KEY_RE.match(key):
            raise _err(name, 'environment', 'has the variable name %s, which is empty, starts with a space or contains "="' % _q(key))

    labels = {}
    if definition.get('labels') is not None:
        labels = _string_list_or_map(definition['labels'], name, 'labels')
        _check_reserved_labels(labels, name, 'labels')

    ports = []
    if definition.get('ports') is not None:
        for index, item in enumerate(_as_list(definition['ports'], name, 'ports')):
            ports.extend(parse_port(item, name, 'ports[%d]' % index))
        if len(ports) > 1024:
            raise _err(name, 'ports', 'publishes more than 1024 ports')

    mounts = []
    if definition.get('volumes') is not None:
        for index, item in enumerate(_as_list(definition['volumes'], name, 'volumes')):
            where = 'volumes[%d]' % index
            if isinstance(item, dict):
                _as_mapping(item, name, where)
                mounts.append(_mount_long(item, name, where, context['volumes'], context['base_dir']))
            else:
                mounts.append(_mount_short(item, name, where, context['volumes'], context['base_dir']))
        targets = [mount['target'] for mount in mounts]
        duplicates = sorted(set(target for target in targets if targets.count(target) > 1))
        if duplicates:
            raise _err(name, 'volumes', 'mounts two things on %s' % _q(duplicates[0]))

    aliases = service_aliases(namespace, name)
    networks = _service_networks(definition.get('networks'), name, context['networks'], namespace, context['network_name'], aliases)

    healthcheck = _healthcheck(definition['healthcheck'], name) if definition.get('healthcheck') is not None else None
    restart_policy = _restart(definition.get('restart'), name)
    replicas, cpus, memory = _deploy(definition['deploy'], name) if definition.get('deploy') is not None else (None, None, None)

    log_driver, log_options = None, {}
    if definition.get('logging') is not None:
        logging = _as_mapping(definition['logging'], name, 'logging')
        _check_keys(logging, ('driver', 'options'), name, 'logging')
        if logging.get('driver') is not None:
            log_driver = _as_str(logging['driver'], name, 'logging.driver', allow_numbers=False)
        if logging.get('options') is not None:
            log_options = _string_list_or_map(logging['options'], name, 'logging.options')

    # Every other key that is a container option goes through the table.
    options = {}
    for key, option in COMPOSE_KEYS.items():
        if key in HAND_READ_SERVICE_KEYS or definition.get(key) is None:
            continue
        value = definition[key]
        if option.from_compose is not None:
            value = _shared(option.from_compose, value, name, key)
        options[option.name] = value

    if replicas is not None and replicas > 1 and any(port['host_port'] is not None for port in ports):
        raise _err(name, 'deploy.replicas', 'is %d, but the service publishes fixed host ports, which only one container can '
                                            'use; publish only the container port or use one replica' % replicas)

    depends_on = _depends_on(definition.get('depends_on'), name, context['service_names'])

    fixed_name = None
    if definition.get('container_name') is not None:
        fixed_name = _as_str(definition['container_name'], name, 'container_name', allow_numbers=False)
        if not CONTAINER_NAME_RE.match(fixed_name):
            raise _err(name, 'container_name', 'is not a valid container name (letters, digits, "_", "." and "-", starting '
                                               'with a letter or digit): %s' % _q(fixed_name))
        if replicas is not None and replicas > 1:
            raise _err(name, 'container_name', 'names one container, but deploy.replicas is %d; remove container_name or use '
                                               'one replica' % replicas)

    specs = []
    # The first replica keeps the plain name (also with several replicas), the others are numbered from 2.
    numbers = [None] if replicas in (None, 1) else list(range(1, replicas + 1))
    for number in numbers:
        extra_labels = dict(context['owner'], **context['app_labels'])
        if number is not None and number > 1:
            # The first container carries no replica number, so that scaling never changes (or replaces) it.
            extra_labels[LABEL_REPLICA] = str(number)
        try:
            spec = container_spec(
                name=fixed_name or container_name(namespace, name, number),
                image=image,
                env=dict(env),
                labels=dict(labels),
                ports=copy.deepcopy(ports),
                mounts=copy.deepcopy(mounts),
                networks=copy.deepcopy(networks),
                restart_policy=dict(restart_policy),
                join_namespace=any(network['name'] == context['network_name'] for network in networks),
                healthcheck=_engine_healthcheck(healthcheck),
                memory=memory,
                cpus=cpus,
                log_driver=log_driver,
                log_options=dict(log_options),
                namespace=namespace,
                service=name,
                extra_labels=extra_labels,
                **copy.deepcopy(options)
            )
        except SpecError as exc:
            option = OPTIONS_BY_NAME.get(exc.option)
            if option is not None and option.compose and exc.problem:
                raise _err(name, option.compose, exc.problem)
            raise ComposeError('service %s: %s' % (_q(name), ' '.join(str(exc).split())))
        specs.append(spec)
    return dict(
        name=name,
        image=image,
        replicas=replicas,
        depends_on=depends_on,
        healthcheck=healthcheck,
        specs=specs,
    )


def _engine_healthcheck(healthcheck):
    """The health check as ``container_spec`` takes it (durations as text, which it parses back to nanoseconds)."""
    if healthcheck is None:
        return None
    result = dict(healthcheck)
    for field in ('interval', 'timeout', 'start_period', 'start_interval'):
        if result[field] is not None:
            result[field] = '%dns' % result[field]
    return result


def start_levels(dependencies):
    """Group services into start levels from ``{service: iterable of services it depends on}``.

    Level 0 holds the services that depend on nothing; each later level only depends on earlier
    ones, so the services of one level can start in parallel. Raise :class:`ComposeError` naming
    the cycle if there is one, or an unknown service.
    """
    for service, needs in dependencies.items():
        for need in needs:
            if need not in dependencies:
                raise ComposeError('service %s: key %s names %s, which is not a service of this stack' % (
                    _q(service), _q('depends_on'), _q(need)))
    remaining = dict((service, set(needs)) for service, needs in dependencies.items())
    levels = []
    placed = set()
    while remaining:
        level = sorted(service for service, needs in remaining.items() if needs <= placed)
        if not level:
            raise ComposeError('depends_on has a cycle: %s' % ' -> '.join(_find_cycle(remaining)))
        levels.append(level)
        placed.update(level)
        for service in level:
            del remaining[service]
    return levels


def _find_cycle(graph):
    """Return one cycle of ``graph`` (every node of which has unplaced dependencies) as a path."""
    start = sorted(graph)[0]
    path = [start]
    seen = {start: 0}
    node = start
    while True:
        node = sorted(need for need in graph[node] if need in graph)[0]
        if node in seen:
            return path[seen[node]:] + [node]
        seen[node] = len(path)
        path.append(node)


def _check_host_ports(services):
    used = {}
    for service in services.values():
        for spec in service['specs']:
            for port in spec['ports']:
                if port['host_port'] is None:
                    continue
                key = (port['protocol'], port['host_port'])
                for other_ip, other_service in used.get(key, ()):
                    wildcard = ('', '0.0.0.0', '::')
                    if other_ip == port['host_ip'] or other_ip in wildcard or port['host_ip'] in wildcard:
                        if other_service == service['name']:
                            raise _err(service['name'], 'ports', 'publishes the host port %d/%s twice' % (port['host_port'], port['protocol']))
                        raise ComposeError('services %s and %s both publish the host port %d/%s' % (
                            _q(other_service), _q(service['name']), port['host_port'], port['protocol']))
                used.setdefault(key, []).append((port['host_ip'], service['name']))


def parse_stack(document, namespace, variables=None, base_dir=None, reader=None, interpolated=False, profiles=None, files_dir=None,
                app=None, app_labels=None):
    """Validate a Compose ``document`` for ``namespace`` and convert it.

    :param variables: interpolation variables (strings); nothing else is used.
    :param base_dir: directory relative paths (bind mounts, ``env_file``) are relative to;
        ``None`` refuses relative paths.
    :param reader: function reading a text file (``env_file``); defaults to reading the local file.
    :param profiles, files_dir: see ``_compose_document.prepare_document``, which resolves ``include``,
        ``extends``, ``profiles``, ``secrets``, ``configs`` and ``name`` first.
    :param app: the name of an app of the app store the document deploys: its containers, networks and volumes carry
        that app's owner labels instead of the namespace stack's (see ``_namespace.owner_labels``); ``app_labels``
        (collection labels, such as the app's version) are added to each of its containers.

    Return a dict: ``namespace``, ``network``, ``services`` (name -> ``name``, ``image``, ``replicas``,
    ``depends_on`` {service: condition}, ``healthcheck``, ``specs`` [container spec]), ``levels``,
    ``volumes`` and ``networks`` (key -> settings, ``name`` being the Docker name), ``warnings``,
    ``profiles`` (enabled) and ``files`` (secrets and configs the caller must write, see ``prepare_document``).
    """
    if not isinstance(namespace, str) or not NAMESPACE_RE.match(namespace):
        raise ComposeError('namespace %s is not a valid namespace name (1 to 63 lower-case letters, digits and "-", '
                           'starting and ending with a letter or digit)' % _q(namespace))
    variables = dict(variables or {})
    for key, value in variables.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ComposeError('interpolation variables must be strings: %s is %s' % (_q(key), _type_name(value)))
    warnings = []
    if not isinstance(document, dict):
        raise ComposeError('The definition must be a mapping with a services key (a Compose file), not %s.' % _type_name(document))
    if not interpolated:
        document = interpolate(document, variables, warnings)
    from ansible_collections.hna.cloudos.plugins.module_utils._compose_document import prepare_document  # pylint: disable=import-outside-toplevel
    prepared = prepare_document(document, namespace, variables, base_dir, reader, profiles, files_dir)
    document = prepared['document']
    warnings.extend(warning for warning in prepared['warnings'] if warning not in warnings)

    for key in document:
        if not isinstance(key, str):
            raise ComposeError('top-level key %s is not supported by hna.cloudos.stack' % _q(key))
    unknown = sorted(key for key in document if key not in SUPPORTED_TOP_LEVEL_KEYS and not key.startswith('x-'))
    if unknown:
        raise ComposeError('top-level key %s is not supported by hna.cloudos.stack' % _q(unknown[0]))
    if 'services' not in document:
        raise ComposeError('The definition has no services key.')
    services_doc = document['services']
    if not isinstance(services_doc, dict):
        raise ComposeError('key %s must be a mapping of service names to their definitions, not %s' % (
            _q('services'), _type_name(services_doc)))

    owner = owner_labels(namespace, app)
    context = dict(
        namespace=namespace,
        owner=owner,
        app_labels=dict(app_labels or {}) if app is not None else {},
        network_name=namespace,
        variables=variables,
        base_dir=base_dir,
        reader=reader or _read_text_file,
        volumes=_top_level_volumes(document.get('volumes'), namespace, owner),
        networks=_top_level_networks(document.get('networks'), namespace, owner),
    )
    names = []
    for name in services_doc:
        if not isinstance(name, str) or not SERVICE_NAME_RE.match(name):
            raise ComposeError('service %s: the name must be 1 to 63 lower-case letters, digits, "_" or "-", starting with '
                               'a letter or digit' % _q(name))
        if not name.startswith('x-'):
            names.append(name)
    context['service_names'] = frozenset(names)

    services = {}
    for name in names:
        services[name] = _service(name, services_doc[name], context)

    seen = {}
    for service in services.values():
        for spec in service['specs']:
            if spec['name'] in seen:
                raise ComposeError('services %s and %s would both use the container name %s' % (
                    _q(seen[spec['name']]), _q(service['name']), _q(spec['name'])))
            seen[spec['name']] = service['name']
    _check_host_ports(services)

    levels = start_levels(dict((name, service['depends_on']) for name, service in services.items()))
    return dict(
        namespace=namespace,
        network=context['network_name'],
        services=services,
        levels=levels,
        volumes=context['volumes'],
        networks=context['networks'],
        warnings=warnings,
        profiles=prepared['profiles'],
        files=prepared['files'],
    )


def read_env_file(path):
    """Return the variables of the ``.env`` file ``path`` on this host (``None`` for a bare ``KEY``) for the
    ``env_file`` option of a module; raise ``SpecError`` naming ``env_file``."""
    try:
        return parse_env_file(_read_text_file(path), path)
    except ComposeError as exc:
        raise SpecError('env_file: %s' % exc, option='env_file', problem=str(exc))
