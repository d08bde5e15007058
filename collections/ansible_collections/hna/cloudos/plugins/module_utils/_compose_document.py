# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A Compose document as a whole, before its services are checked one by one (``_compose``).

* :class:`ComposeLoader` reads YAML with the YAML 1.2 core schema that Compose uses: only ``true``/``false``
  are booleans, ``22:22`` is a string, ``010`` is ten, and a number written as a plain scalar keeps the text
  it was written with (:class:`LiteralInt`, :class:`LiteralFloat`), so ``0x1F`` stays ``0x1F`` in a string
  such as an environment value.
* :func:`prepare_document` turns the (interpolated) document into a plain one: ``include`` files are merged in,
  ``extends`` is resolved with the Compose merge rules, services whose profiles are not enabled are dropped,
  top-level ``secrets`` and ``configs`` become read-only bind mounts in the services' ``volumes`` and the
  top-level ``name`` is checked against the namespace. What is left only has keys that ``parse_stack`` checks.
* The ``!reset`` and ``!override`` tags of Compose remove or replace a value instead of merging it (``extends``, the
  files of one ``include``); a ``!reset`` key with nothing to reset is dropped.

Every problem is a one-line :class:`ComposeError` naming the service (or the top-level key) and the key.
"""

from __future__ import annotations

import copy
import os
import re

try:
    import yaml
except ImportError:
    HAS_YAML = False
else:
    HAS_YAML = True

from ansible_collections.hna.cloudos.plugins.module_utils._compose import (
    MAX_DEPTH,
    RESOURCE_NAME_RE,
    ComposeError,
    _q,
    _read_text_file,
    _resolve_path,
    _type_name,
    interpolate,
    load_yaml_text,
    read_env_files,
)

#: Top-level keys an included file may have (others are refused).
INCLUDED_TOP_LEVEL_KEYS = frozenset(('version', 'name', 'services', 'volumes', 'networks', 'secrets', 'configs', 'include'))
#: Top-level keys whose entries an included file adds to the project.
RESOURCE_KEYS = ('services', 'volumes', 'networks', 'secrets', 'configs')
#: At most this many files are read through include and extends.
MAX_FILES = 64
#: Directory, per namespace, under which the caller writes the secrets and configs whose value is not a file.
DEFAULT_FILES_ROOT = '/var/lib/hna-cloudos/stacks'

PROFILE_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.-]*$')
SECRET_DIR = '/run/secrets'

_FALSE_TEXT = ('false', 'no', 'off', '0')


# --- YAML 1.2 ------------------------------------------------------------------------------------------


class _LiteralNumber(object):
    """A number read from a YAML plain scalar whose ``str()`` is the text as written (mixed into int and float)."""

    __slots__ = ()

    def __new__(cls, value, text=None):
        obj = cls._base.__new__(cls, value)
        obj.text = cls._default_text(cls._base(value)) if text is None else text
        return obj

    def __str__(self):
        return self.text

    __repr__ = __str__

    def __reduce__(self):
        return (type(self), (self._base(self), self.text))


class LiteralInt(_LiteralNumber, int):
    """An integer read from a YAML plain scalar; ``str()`` gives the text as written (``0x1F``, ``0755``, ``+3``)."""

    _base = int
    _default_text = str


class LiteralFloat(_LiteralNumber, float):
    """A float read from a YAML plain scalar; ``str()`` gives the text as written (``1.10``, ``1e3``, ``.5``)."""

    _base = float
    _default_text = repr


class OverrideKey(str):
    """A mapping key whose value is tagged ``!override``: the value replaces the one it overrides instead of merging."""

    __slots__ = ()

    def __reduce__(self):
        return (type(self), (str(self), ))


class Reset:
    """The value of a key tagged ``!reset``: the key is removed from what it overrides (and dropped anyway)."""

    def __repr__(self):
        return '!reset'


class _Override:
    def __init__(self, value):
        self.value = value


def _unwrap_overrides(data):
    """Replace each ``_Override`` value by its value, marking its key an :class:`OverrideKey` (in place)."""
    if isinstance(data, _Override):
        data = data.value
    seen = set()
    stack = [data]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            if any(isinstance(value, _Override) for value in node.values()):
                items = list(node.items())
                node.clear()
                for key, value in items:
                    if isinstance(value, _Override):
                        key, value = OverrideKey(key) if isinstance(key, str) else key, value.value
                    node[key] = value
            stack.extend(node.values())
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, _Override):
                    node[index] = value.value
            stack.extend(node)
    return data


def _strip_resets(data):
    """Drop the keys (and list items) still tagged ``!reset`` once everything is merged (in place)."""
    seen = set()
    stack = [data]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            for key in [key for key, value in node.items() if isinstance(value, Reset)]:
                del node[key]
            stack.extend(node.values())
        elif isinstance(node, list):
            node[:] = [value for value in node if not isinstance(value, Reset)]
            stack.extend(node)


_INT_RE = re.compile(r'^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$')
_FLOAT_RE = re.compile(r'^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$')
_BOOL_RE = re.compile(r'^(?:true|True|TRUE|false|False|FALSE)$')
_NULL_RE = re.compile(r'^(?:~|null|Null|NULL|)$')


def _yaml_int(text):
    if text.startswith('0o'):
        return int(text[2:], 8)
    if text.startswith('0x'):
        return int(text[2:], 16)
    return int(text, 10)


def _yaml_float(text):
    lowered = text.lower()
    if lowered.endswith('.inf'):
        return float('-inf') if lowered.startswith('-') else float('inf')
    if lowered == '.nan':
        return float('nan')
    return float(text)


def compose_loader(base):
    """A loader class on ``base`` (PyYAML's ``CSafeLoader`` or ``SafeLoader``) that reads YAML as Compose does.

    :data:`ComposeLoader` is built on libyaml's parser where PyYAML has it (about eight times faster than the
    pure Python one); resolving and constructing stay in Python on either base, so both read a file the same.
    """
    class ComposeLoader(base):  # pylint: disable=too-many-ancestors
        """PyYAML's safe loader with the resolvers of the YAML 1.2 core schema (as Compose reads its files).

        Booleans are only ``true``/``false`` (any case form of the spec); ``yes``, ``on``, ``22:22``, dates stay
        strings; ``010`` is decimal, ``0o10`` octal, ``0x10`` hexadecimal; ``~``, ``null`` and nothing are null.
        Numbers are :class:`LiteralInt`/:class:`LiteralFloat`, which print as written. ``<<`` merge keys work.
        """

        yaml_implicit_resolvers = {}

        def construct_yaml12_int(self, node):
            text = self.construct_scalar(node)
            if not _INT_RE.match(text):
                raise yaml.constructor.ConstructorError(None, None, 'cannot read %r as a YAML 1.2 integer' % text, node.start_mark)
            return LiteralInt(_yaml_int(text), text)

        def construct_yaml12_float(self, node):
            text = self.construct_scalar(node)
            if not _FLOAT_RE.match(text) and not _INT_RE.match(text):
                raise yaml.constructor.ConstructorError(None, None, 'cannot read %r as a YAML 1.2 float' % text, node.start_mark)
            value = _yaml_int(text) if _INT_RE.match(text) else _yaml_float(text)
            return LiteralFloat(value, text)

        def construct_yaml12_bool(self, node):
            text = self.construct_scalar(node)
            if not _BOOL_RE.match(text):
                raise yaml.constructor.ConstructorError(None, None, 'cannot read %r as a YAML 1.2 boolean' % text, node.start_mark)
            return text.lower() == 'true'

        def construct_yaml12_null(self, node):
            self.construct_scalar(node)

        def construct_reset(self, node):  # pylint: disable=unused-argument
            return Reset()

        def construct_override(self, node):
            if isinstance(node, yaml.MappingNode):
                return _Override(self.construct_mapping(node, deep=True))
            if isinstance(node, yaml.SequenceNode):
                return _Override(self.construct_sequence(node, deep=True))
            return _Override(self.construct_scalar(node))

        def construct_document(self, node):
            return _unwrap_overrides(super().construct_document(node))

    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items():
        for tag, regexp in resolvers:
            if tag == 'tag:yaml.org,2002:merge':
                ComposeLoader.yaml_implicit_resolvers.setdefault(first, []).append((tag, regexp))
    ComposeLoader.add_implicit_resolver('tag:yaml.org,2002:bool', _BOOL_RE, list('tTfF'))
    ComposeLoader.add_implicit_resolver('tag:yaml.org,2002:null', _NULL_RE, ['~', 'n', 'N', ''])
    ComposeLoader.add_implicit_resolver('tag:yaml.org,2002:int', _INT_RE, list('-+0123456789'))
    ComposeLoader.add_implicit_resolver('tag:yaml.org,2002:float', _FLOAT_RE, list('-+.0123456789'))
    ComposeLoader.add_constructor('tag:yaml.org,2002:int', ComposeLoader.construct_yaml12_int)
    ComposeLoader.add_constructor('tag:yaml.org,2002:float', ComposeLoader.construct_yaml12_float)
    ComposeLoader.add_constructor('tag:yaml.org,2002:bool', ComposeLoader.construct_yaml12_bool)
    ComposeLoader.add_constructor('tag:yaml.org,2002:null', ComposeLoader.construct_yaml12_null)
    ComposeLoader.add_constructor('!reset', ComposeLoader.construct_reset)
    ComposeLoader.add_constructor('!override', ComposeLoader.construct_override)
    return ComposeLoader


if HAS_YAML:
    ComposeLoader = compose_loader(getattr(yaml, 'CSafeLoader', yaml.SafeLoader))
else:
    ComposeLoader = None  # pylint: disable=invalid-name


# --- small helpers ------------------------------------------------------------------------------------


def _err(service, key, problem):
    where = 'key %s' % _q(key) if service is None else 'service %s: key %s' % (_q(service), _q(key))
    return ComposeError('%s %s' % (where, problem))


def _is_false(value):
    return value is False or (isinstance(value, str) and value.strip().lower() in _FALSE_TEXT)


def _relative(path, directory):
    """``path`` made absolute against ``directory`` when it is a relative path (``~`` paths are left alone)."""
    if not isinstance(path, str) or not path or os.path.isabs(path) or path.startswith('~'):
        return path
    return os.path.normpath(os.path.join(directory, path))


def _rebase(document, directory):
    """Make the relative paths of a document read from another directory absolute (in place)."""
    services = document.get('services')
    if isinstance(services, dict):
        for definition in services.values():
            if not isinstance(definition, dict):
                continue
            volumes = definition.get('volumes')
            if isinstance(volumes, list):
                for index, item in enumerate(volumes):
                    if isinstance(item, str):
                        parts = item.split(':')
                        if len(parts) >= 2 and parts[0].startswith('.'):
                            volumes[index] = ':'.join([_relative(parts[0], directory)] + parts[1:])
                    elif isinstance(item, dict) and item.get('type') == 'bind':
                        item['source'] = _relative(item.get('source'), directory)
            env_file = definition.get('env_file')
            if isinstance(env_file, (str, dict)):
                env_file = definition['env_file'] = [env_file]
            if isinstance(env_file, list):
                for index, item in enumerate(env_file):
                    if isinstance(item, dict):
                        item['path'] = _relative(item.get('path'), directory)
                    else:
                        env_file[index] = _relative(item, directory)
            extends = definition.get('extends')
            if isinstance(extends, dict) and 'file' in extends:
                extends['file'] = _relative(extends['file'], directory)
    for kind in ('secrets', 'configs'):
        entries = document.get(kind)
        if isinstance(entries, dict):
            for options in entries.values():
                if isinstance(options, dict) and 'file' in options:
                    options['file'] = _relative(options['file'], directory)


# --- merging (extends, include with several files) -------------------------------------------------------


#: Service keys whose value the overriding definition replaces as a whole.
_REPLACED = frozenset(('command', 'entrypoint', 'healthcheck.test'))
#: Service keys that are NAME=VALUE lists or mappings, merged by name.
_BY_NAME = frozenset(('environment', 'labels', 'annotations', 'sysctls', 'deploy.labels', 'logging.options', 'build.args'))


def _as_name_map(value, split=('=', )):
    if isinstance(value, dict):
        return dict(value)
    result = {}
    for item in value:
        text = str(item)
        for separator in split:
            if separator in text:
                name, item_value = text.split(separator, 1)
                break
        else:
            name, item_value = text, None
        result[name] = item_value
    return result


def _as_option_map(value):
    """``depends_on``/``networks``: a list of names -> a mapping of names to their options."""
    if isinstance(value, dict):
        return dict(value)
    return dict((str(item), None) for item in value)


def _volume_key(item):
    if isinstance(item, str):
        parts = item.split(':')
        target = parts[0] if len(parts) == 1 else parts[1]
    elif isinstance(item, dict):
        target = item.get('target')
    else:
        return repr(item)
    return target.rstrip('/') or '/' if isinstance(target, str) else repr(target)


def _port_key(item):
    if isinstance(item, dict):
        return (str(item.get('host_ip') or ''), str(item.get('published') or ''), str(item.get('target')), str(item.get('protocol') or 'tcp'))
    return str(item).strip()


def _mount_key(item):
    if isinstance(item, dict):
        return str(item.get('target') or item.get('source'))
    return str(item)


_UNIQUE = {'volumes': _volume_key, 'ports': _port_key, 'secrets': _mount_key, 'configs': _mount_key}


def _merge_unique(base, override, key_of):
    result = list(base)
    index = dict((key_of(item), position) for position, item in enumerate(result))
    for item in override:
        key = key_of(item)
        if key in index:
            result[index[key]] = copy.deepcopy(item)
        else:
            index[key] = len(result)
            result.append(copy.deepcopy(item))
    return result


def _merge(base, override, path):
    """Compose merge of ``override`` onto ``base`` for the service key ``path`` (``healthcheck.test``...)."""
    if override is None:  # an empty key does not clear what it extends
        return copy.deepcopy(base)
    if path in _REPLACED or base is None:
        return copy.deepcopy(override)
    if path in _BY_NAME and isinstance(base, (dict, list)) and isinstance(override, (dict, list)):
        result = _as_name_map(base)
        result.update(_as_name_map(override))
        return result
    if path == 'extra_hosts' and isinstance(base, (dict, list)) and isinstance(override, (dict, list)):
        result = _as_name_map(base, ('=', ':'))
        result.update(_as_name_map(override, ('=', ':')))
        return ['%s=%s' % (name, value) if not isinstance(value, list) else '%s=%s' % (name, ','.join(map(str, value)))
                for name, value in result.items()]
    if path in _UNIQUE and isinstance(base, list) and isinstance(override, list):
        return _merge_unique(base, override, _UNIQUE[path])
    if path in ('depends_on', 'networks') and isinstance(base, (dict, list)) and isinstance(override, (dict, list)):
        if isinstance(base, list) and isinstance(override, list):
            return base + [item for item in override if item not in base]
        base, override = _as_option_map(base), _as_option_map(override)
    if path == 'logging' and isinstance(base, dict) and isinstance(override, dict):
        if base.get('driver') not in (None, override.get('driver')) and override.get('driver') is not None:
            return copy.deepcopy(override)
    if isinstance(base, dict) and isinstance(override, dict):
        return _merge_mapping(base, override, path + '.')
    if isinstance(base, list) and isinstance(override, list):
        return base + [copy.deepcopy(item) for item in override if item not in base]
    return copy.deepcopy(override)


def merge_service(base, override):
    """The service ``override`` extending (or overriding) ``base``, with the merge rules of Compose.

    Mappings merge key by key; ``command``, ``entrypoint`` and ``healthcheck.test`` are replaced;
    ``environment``, ``labels`` (and other NAME=VALUE keys) merge by name; ``ports``, ``volumes`` (by target),
    ``secrets`` and ``configs`` (by target) keep one entry per key, the overriding one; other lists are appended
    to, without duplicates; ``depends_on`` and ``networks`` merge by name.
    """
    return _merge_mapping(copy.deepcopy(base), override, '')


def _merge_mapping(base, override, prefix):
    """Merge key by key; a key tagged ``!reset`` removes the key, one tagged ``!override`` replaces its value."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, Reset):
            result.pop(key, None)
        elif key in result and not isinstance(key, OverrideKey):
            result[key] = _merge(result[key], value, '%s%s' % (prefix, key))
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_documents(base, override):
    """Two files of one ``include`` entry: the second overrides the first, as ``docker compose -f a -f b``."""
    result = dict(base)
    for key, value in override.items():
        if key == 'services' and isinstance(result.get(key), dict) and isinstance(value, dict) and not isinstance(key, OverrideKey):
            services = dict(result[key])
            for name, definition in value.items():
                if isinstance(definition, Reset):
                    services.pop(name, None)
                elif isinstance(services.get(name), dict) and isinstance(definition, dict) and not isinstance(name, OverrideKey):
                    services[name] = merge_service(services[name], definition)
                else:
                    services[name] = definition
            result[key] = services
        elif isinstance(value, Reset):
            result.pop(key, None)
        elif isinstance(result.get(key), dict) and isinstance(value, dict) and not isinstance(key, OverrideKey):
            result[key] = _merge(result[key], value, key)
        else:
            result[key] = value
    return result


# --- the preprocessing -------------------------------------------------------------------------------------


class _Context:
    def __init__(self, namespace, variables, base_dir, reader, file_exists, files_dir):
        self.namespace = namespace
        self.variables = variables
        self.base_dir = base_dir
        self.reader = reader
        self.file_exists = file_exists
        self.files_dir = files_dir
        self.warnings = []
        self.loaded = 0
        self.extended_files = {}

    def load(self, path, where, variables):
        """Read, parse and interpolate the Compose file ``path`` (absolute); its relative paths become absolute."""
        self.loaded += 1
        if self.loaded > MAX_FILES:
            raise ComposeError('key %s: more than %d files are read through include and extends' % (_q(where), MAX_FILES))
        try:
            text = self.reader(path)
        except ComposeError as exc:
            raise ComposeError('key %s: %s' % (_q(where), exc))
        document = load_yaml_text(text, path)
        if not isinstance(document, dict):
            raise ComposeError('key %s: %s must be a mapping (a Compose file), not %s' % (_q(where), path, _type_name(document)))
        return interpolate(document, variables, self.warnings)


def enabled_profiles(profiles=None, variables=None):
    """The profiles to enable: ``profiles`` if it names any, else those of ``COMPOSE_PROFILES`` in ``variables``.

    ``*`` enables every profile. Raise :class:`ComposeError` for a name that is not a profile name.
    """
    if profiles:
        names = list(profiles)
        where = 'profiles'
    else:
        names = str((variables or {}).get('COMPOSE_PROFILES') or '').split(',')
        where = 'COMPOSE_PROFILES'
    result = []
    for name in names:
        name = name.strip() if isinstance(name, str) else name
        if name == '':
            continue
        if not isinstance(name, str) or (name != '*' and not PROFILE_RE.match(name)):
            raise ComposeError('%s names %s, which is not a profile name (letters, digits, "_", "." and "-")' % (where, _q(name)))
        if name not in result:
            result.append(name)
    return result


def prepare_document(document, namespace, variables=None, base_dir=None, reader=None, profiles=None, files_dir=None,
                     file_exists=None):
    """Turn an interpolated Compose ``document`` into one that ``parse_stack`` can check service by service.

    :param document: the Compose document (a mapping), already interpolated; it is not changed.
    :param namespace: the namespace the document is deployed to (the Compose project).
    :param variables: interpolation variables (strings): for the included and extended files, for
        ``environment:`` secrets and configs and for ``COMPOSE_PROFILES``.
    :param base_dir: directory of the Compose file (relative paths); ``None`` refuses relative paths.
    :param reader: function reading a text file (included and extended files); defaults to reading the local file.
    :param profiles: profiles to enable (a list of names; ``*`` for all); when empty, ``COMPOSE_PROFILES``.
    :param files_dir: directory of this namespace where the caller writes the secrets and configs that are not files
        (``environment:``, ``content:``); ``None`` refuses them.
    :param file_exists: function telling whether a path is an existing file (``file:`` secrets and configs);
        defaults to :func:`os.path.isfile`.

    Return a dict: ``document`` (the new document, without ``include``, ``extends``, ``profiles``, ``secrets``,
    ``configs`` and ``name``), ``warnings`` (list of messages), ``profiles`` (the enabled profiles) and ``files``
    (list of dicts ``kind`` (``secret`` or ``config``), ``name``, ``path``, ``content``, ``mode``, ``uid``, ``gid``:
    the files the caller must write before creating the containers, under ``files_dir`` made mode 0700, each file
    with ``mode`` (0400 by default) and owned by ``uid``/``gid`` when they are not ``None``).
    """
    if not isinstance(document, dict):
        raise ComposeError('The definition must be a mapping with a services key (a Compose file), not %s.' % _type_name(document))
    variables = dict(variables or {})
    context = _Context(namespace, variables, base_dir, reader or _read_text_file, file_exists or os.path.isfile, files_dir)
    document = copy.deepcopy(document)
    enabled = enabled_profiles(profiles, variables)

    _check_name(document, context)
    _include(document, context, base_dir, variables, ())
    if 'include' in document:
        del document['include']
    _extends(document, context, base_dir)
    _strip_resets(document)
    _profiles(document, enabled)
    files = _secrets_and_configs(document, context)
    _plain_port_numbers(document)
    return dict(document=document, warnings=context.warnings, profiles=enabled, files=files)


def _check_name(document, context):
    if document.get('name') is None:
        document.pop('name', None)
        return
    name = document.pop('name')
    if not isinstance(name, str) or not name:
        raise _err(None, 'name', 'must be a project name (a string), not %s' % _type_name(name))
    if name != context.namespace:
        context.warnings.append('The definition is named %s; hna.cloudos.stack deploys it as the namespace %s and ignores that '
                                'name.' % (_q(name), _q(context.namespace)))


# --- include ------------------------------------------------------------------------------------------------


def _include(document, context, base_dir, variables, chain):
    value = document.get('include')
    if value is None:
        return
    if not isinstance(value, list):
        raise _err(None, 'include', 'must be a list of file paths or of mappings with path, not %s' % _type_name(value))
    for index, item in enumerate(value):
        where = 'include[%d]' % index
        env_files = None
        project_directory = None
        if isinstance(item, str):
            paths = [item]
        elif isinstance(item, dict):
            unknown = sorted(str(key) for key in item if key not in ('path', 'project_directory', 'env_file') and not str(key).startswith('x-'))
            if unknown:
                raise ComposeError('key %s is not supported by hna.cloudos.stack' % _q('%s.%s' % (where, unknown[0])))
            paths = item.get('path')
            if isinstance(paths, str):
                paths = [paths]
            if not isinstance(paths, list) or not paths or not all(isinstance(path, str) and path for path in paths):
                raise _err(None, where + '.path', 'must be a file path or a list of file paths, not %s' % (
                    _q(paths) if isinstance(paths, str) else _type_name(paths)))
            project_directory = item.get('project_directory')
            if project_directory is not None and (not isinstance(project_directory, str) or not project_directory):
                raise _err(None, where + '.project_directory', 'must be a directory path, not %s' % _type_name(project_directory))
            env_files = item.get('env_file')
            if isinstance(env_files, str):
                env_files = [env_files]
            if env_files is not None and (not isinstance(env_files, list) or not all(isinstance(path, str) and path for path in env_files)):
                raise _err(None, where + '.env_file', 'must be a file path or a list of file paths, not %s' % _type_name(env_files))
        else:
            raise _err(None, where, 'must be a file path or a mapping with path, not %s' % _type_name(item))

        paths = [_resolve_path(path, base_dir, None, where) for path in paths]
        directory = _resolve_path(project_directory, base_dir, None, where + '.project_directory') if project_directory else os.path.dirname(paths[0])
        included_variables = {}
        if env_files is None and context.file_exists(os.path.join(directory, '.env')):
            env_files = [os.path.join(directory, '.env')]  # as Compose: the .env file of the included project
        if env_files:
            try:
                included_variables = read_env_files(env_files, base_dir, context.reader)
            except ComposeError as exc:
                raise ComposeError('key %s: %s' % (_q(where + '.env_file'), exc))
        included_variables.update(variables)

        merged = None
        for path in paths:
            if path in chain:
                raise _err(None, where, 'includes %s, which includes itself: %s' % (_q(path), ' -> '.join(list(chain) + [path])))
            if len(chain) >= MAX_DEPTH:
                raise _err(None, where, 'nests include more than %d levels deep' % MAX_DEPTH)
            included = context.load(path, where, included_variables)
            _rebase(included, directory)
            _include(included, context, directory, included_variables, tuple(chain) + (path, ))
            included.pop('include', None)
            merged = included if merged is None else _merge_documents(merged, included)

        for key in merged:
            if not isinstance(key, str) or (key not in INCLUDED_TOP_LEVEL_KEYS and not key.startswith('x-')):
                raise _err(None, where, 'includes %s, whose top-level key %s is not supported by hna.cloudos.stack' % (
                    _q(paths[0]), _q(key)))
        for kind in RESOURCE_KEYS:
            entries = merged.get(kind)
            if entries is None:
                continue
            if not isinstance(entries, dict):
                raise _err(None, where, 'includes %s, whose key %s must be a mapping, not %s' % (_q(paths[0]), _q(kind), _type_name(entries)))
            target = document.get(kind)
            if target is None:
                target = document[kind] = {}
            elif not isinstance(target, dict):
                continue  # parse_stack refuses it with its own message
            for name, definition in entries.items():
                if isinstance(name, str) and name.startswith('x-'):
                    continue
                if name in target and target[name] != definition:
                    raise _err(None, where, 'includes %s, which defines the %s %s that is already defined differently' % (
                        _q(paths[0]), kind[:-1], _q(name)))
                target[name] = definition


# --- extends --------------------------------------------------------------------------------------------------


def _extends(document, context, base_dir):
    services = document.get('services')
    if not isinstance(services, dict):
        return
    done = {}
    for name in list(services):
        if isinstance(services[name], dict) and 'extends' in services[name]:
            services[name] = _resolve_extends(services, name, None, base_dir, context, done, ())


def _service_label(name, path):
    return name if path is None else '%s (%s)' % (name, path)


def _resolve_extends(services, name, path, base_dir, context, done, chain):
    """The definition of service ``name`` of ``services`` (read from ``path``, ``None`` for the main file) with its
    ``extends`` resolved."""
    key = (path, name)
    if key in done:
        return copy.deepcopy(done[key])
    definition = services[name]
    if not isinstance(definition, dict) or 'extends' not in definition:
        return definition
    if key in chain:
        cycle = [_service_label(item[1], item[0]) for item in chain[chain.index(key):]] + [_service_label(name, path)]
        raise _err(chain[0][1], 'extends', 'forms a cycle: %s' % ' -> '.join(cycle))
    if len(chain) >= MAX_DEPTH:
        raise _err(chain[0][1], 'extends', 'nests more than %d levels deep' % MAX_DEPTH)
    chain = tuple(chain) + (key, )
    value = definition['extends']
    if isinstance(value, str):
        value = dict(service=value)
    if not isinstance(value, dict):
        raise _err(name, 'extends', 'must be a service name or a mapping with service and file, not %s' % _type_name(value))
    unknown = sorted(str(item) for item in value if item not in ('service', 'file') and not str(item).startswith('x-'))
    if unknown:
        raise ComposeError('service %s: key %s is not supported by hna.cloudos.stack' % (_q(name), _q('extends.%s' % unknown[0])))
    target = value.get('service')
    if not isinstance(target, str) or not target:
        raise _err(name, 'extends.service', 'must name the service to extend, not %s' % _type_name(target))

    if value.get('file') is not None:
        if not isinstance(value['file'], str) or not value['file']:
            raise _err(name, 'extends.file', 'must be a file path, not %s' % _type_name(value['file']))
        other_path = _resolve_path(value['file'], base_dir, name, 'extends.file')
        if other_path not in context.extended_files:
            other = context.load(other_path, 'services.%s.extends.file' % name, context.variables)
            _rebase(other, os.path.dirname(other_path))
            context.extended_files[other_path] = other
        other_services = context.extended_files[other_path].get('services')
        if not isinstance(other_services, dict) or target not in other_services:
            raise _err(name, 'extends.service', 'names %s, which is not a service of %s' % (_q(target), other_path))
        base = _resolve_extends(other_services, target, other_path, os.path.dirname(other_path), context, done, chain)
    else:
        if target not in services:
            raise _err(name, 'extends.service', 'names %s, which is not a service of %s' % (
                _q(target), 'this file' if path is None else path))
        base = _resolve_extends(services, target, path, base_dir, context, done, chain)
    if not isinstance(base, dict):
        raise _err(name, 'extends.service', 'names %s, whose definition is %s, not a mapping' % (_q(target), _type_name(base)))
    local = dict((item, item_value) for item, item_value in definition.items() if item != 'extends')
    result = merge_service(base, local)
    done[key] = result
    return copy.deepcopy(result)


# --- profiles ---------------------------------------------------------------------------------------------------


def _profiles(document, enabled):
    services = document.get('services')
    if not isinstance(services, dict):
        return
    everything = '*' in enabled
    active = {}
    inactive = {}
    for name, definition in services.items():
        if isinstance(definition, dict) and 'profiles' in definition:
            value = definition.pop('profiles')
            if value is None:
                value = []
            if not isinstance(value, list):
                raise _err(name, 'profiles', 'must be a list of profile names, not %s' % _type_name(value))
            for index, profile in enumerate(value):
                if not isinstance(profile, str) or not PROFILE_RE.match(profile):
                    raise _err(name, 'profiles[%d]' % index, 'is not a profile name (letters, digits, "_", "." and "-"): %s' % (
                        _q(profile) if isinstance(profile, str) else _type_name(profile)))
            if value and not everything and not set(value) & set(enabled):
                inactive[name] = value
                continue
        active[name] = definition
    enabled_text = ', '.join(enabled) if enabled else 'none'
    for name, definition in active.items():
        if not isinstance(definition, dict):
            continue
        depends_on = definition.get('depends_on')
        if isinstance(depends_on, list):
            needs = [(item, None) for item in depends_on]
        elif isinstance(depends_on, dict):
            needs = list(depends_on.items())
        else:
            continue
        for need, options in needs:
            if not isinstance(need, str) or need not in inactive:
                continue
            if isinstance(options, dict) and _is_false(options.get('required')):
                del depends_on[need]
                continue
            raise _err(name, 'depends_on', 'names %s, which is only active with the profile%s %s (enabled: %s); enable one of them '
                                           'or make the dependency required: false' % (
                                               _q(need), 's' if len(inactive[need]) > 1 else '',
                                               ', '.join(_q(profile) for profile in inactive[need]), enabled_text))
    document['services'] = active


def _plain_port_numbers(document):
    """Port numbers as plain integers: ``ports: [0x50]`` is the port 80 (the engine gets ``str()`` of a port)."""
    services = document.get('services')
    if not isinstance(services, dict):
        return
    for definition in services.values():
        ports = definition.get('ports') if isinstance(definition, dict) else None
        if not isinstance(ports, list):
            continue
        for index, item in enumerate(ports):
            if isinstance(item, LiteralInt):
                ports[index] = int(item)
            elif isinstance(item, dict):
                for key in ('target', 'published'):
                    if isinstance(item.get(key), LiteralInt):
                        item[key] = int(item[key])


# --- secrets and configs ----------------------------------------------------------------------------------------


def _file_mode(value, service, key):
    """``mode`` of a secret or config: ``0440`` (an octal number, as Compose reads it), ``0o440`` or ``"0440"``."""
    text = value.text if isinstance(value, LiteralInt) else value
    if isinstance(text, str):
        text = text.strip()
        try:
            if text.startswith('0o'):
                mode = int(text[2:], 8)
            elif text.startswith('0') and len(text) > 1:
                mode = int(text, 8)
            else:
                mode = int(text, 10)
        except ValueError:
            raise _err(service, key, 'must be a file mode such as 0400 or 0440, not %s' % _q(text))
    elif isinstance(text, int) and not isinstance(text, bool):
        mode = text
    else:
        raise _err(service, key, 'must be a file mode such as 0400 or 0440, not %s' % _type_name(value))
    if mode < 0 or mode > 0o777:
        raise _err(service, key, 'must be a file mode between 0 and 0777, not %s' % _q(str(value)))
    return mode


def _id(value, service, key):
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 2 ** 31 - 1:
        raise _err(service, key, 'must be a numeric user or group ID, not %s' % (_q(value) if isinstance(value, str) else _type_name(value)))
    return int(value)


def _declared(document, kind, context):
    """The top-level ``secrets`` or ``configs``: name -> dict(file=path) or dict(content=text, source=key)."""
    singular = kind[:-1]
    value = document.pop(kind, None)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _err(None, kind, 'must be a mapping of %s names to their definitions, not %s' % (singular, _type_name(value)))
    sources = ('file', 'environment', 'content') if kind == 'configs' else ('file', 'environment')
    declared = {}
    for name, options in value.items():
        if isinstance(name, str) and name.startswith('x-'):
            continue
        if not isinstance(name, str) or not RESOURCE_NAME_RE.match(name):
            raise ComposeError('%s %s: the name must start with a letter or digit and contain only letters, digits, "_", "." and "-" '
                               '(at most 128 characters)' % (singular, _q(name)))
        where = '%s.%s' % (kind, name)
        if not isinstance(options, dict):
            raise _err(None, where, 'must be a mapping with %s, not %s' % (' or '.join(sources), _type_name(options)))
        external = options.get('external')
        if external is not None and not _is_false(external):
            raise ComposeError('key %s is not supported by hna.cloudos.stack: external %s are Docker Swarm objects; '
                               'use %s' % (_q(where + '.external'), kind, ' or '.join(sources)))
        unknown = sorted(str(key) for key in options if key not in sources + ('external', 'name') and not str(key).startswith('x-'))
        if unknown:
            raise ComposeError('key %s is not supported by hna.cloudos.stack' % _q('%s.%s' % (where, unknown[0])))
        given = [source for source in sources if options.get(source) is not None]
        if len(given) != 1:
            raise _err(None, where, 'must have exactly one of %s%s' % (
                ', '.join(sources), '' if not given else ', not %s' % ' and '.join(given)))
        source = given[0]
        item = options[source]
        if source == 'file':
            if not isinstance(item, str) or not item:
                raise _err(None, where + '.file', 'must be a file path, not %s' % _type_name(item))
            path = _resolve_path(item, context.base_dir, None, where + '.file')
            if not context.file_exists(path):
                raise _err(None, where + '.file', 'names %s, which is not an existing file' % _q(path))
            declared[name] = dict(file=path)
        elif source == 'environment':
            if not isinstance(item, str) or not item:
                raise _err(None, where + '.environment', 'must name an interpolation variable, not %s' % _type_name(item))
            if item not in context.variables:
                raise _err(None, where + '.environment', 'names the variable %s, which is not set; set it in env or env_files' % _q(item))
            declared[name] = dict(content=context.variables[item], source=where + '.environment')
        else:
            if isinstance(item, (dict, list)) or isinstance(item, bool):
                raise _err(None, where + '.content', 'must be text, not %s' % _type_name(item))
            declared[name] = dict(content=str(item), source=where + '.content')
    return declared


def _secrets_and_configs(document, context):
    declared = dict(secrets=_declared(document, 'secrets', context), configs=_declared(document, 'configs', context))
    files = {}
    services = document.get('services')
    if not isinstance(services, dict):
        return []
    for service, definition in services.items():
        if not isinstance(definition, dict):
            continue
        mounts = []
        for kind in ('secrets', 'configs'):
            if kind not in definition:
                continue
            entries = definition.pop(kind)
            if entries is None:
                continue
            if not isinstance(entries, list):
                raise _err(service, kind, 'must be a list of %s names or of mappings with source, not %s' % (kind[:-1], _type_name(entries)))
            for index, entry in enumerate(entries):
                mounts.append(_service_mount(service, kind, index, entry, declared[kind], context, files))
        if not mounts:
            continue
        volumes = definition.get('volumes')
        if volumes is None:
            volumes = definition['volumes'] = []
        if not isinstance(volumes, list):
            raise _err(service, 'volumes', 'must be a list, not %s' % _type_name(volumes))
        volumes.extend(mounts)
    return [files[key] for key in sorted(files)]


def _service_mount(service, kind, index, entry, declared, context, files):
    singular = kind[:-1]
    where = '%s[%d]' % (kind, index)
    options = {}
    if isinstance(entry, str):
        source = entry
    elif isinstance(entry, dict):
        options = entry
        unknown = sorted(str(key) for key in entry if key not in ('source', 'target', 'uid', 'gid', 'mode') and not str(key).startswith('x-'))
        if unknown:
            raise ComposeError('service %s: key %s is not supported by hna.cloudos.stack' % (_q(service), _q('%s.%s' % (where, unknown[0]))))
        source = entry.get('source')
        if not isinstance(source, str) or not source:
            raise _err(service, where + '.source', 'must name a %s, not %s' % (singular, _type_name(source)))
    else:
        raise _err(service, where, 'must be a %s name or a mapping with source, not %s' % (singular, _type_name(entry)))
    if source not in declared:
        raise _err(service, where, 'names the %s %s, which is not declared in the top-level %s' % (singular, _q(source), kind))

    target = options.get('target')
    if target is None or target == '':
        target = os.path.join(SECRET_DIR, source) if kind == 'secrets' else '/' + source
    elif not isinstance(target, str):
        raise _err(service, where + '.target', 'must be a path, not %s' % _type_name(target))
    elif not target.startswith('/'):
        target = os.path.join(SECRET_DIR, target) if kind == 'secrets' else '/' + target

    origin = declared[source]
    honoured = [key for key in ('uid', 'gid', 'mode') if options.get(key) is not None]
    if 'file' in origin:
        if honoured:
            problem = 'cannot be honoured: the %s is bind-mounted from %s, which keeps its own owner and mode; set them on that file ' \
                      'and remove %s' % (singular, origin['file'], honoured[0])
            raise _err(service, '%s.%s' % (where, honoured[0]), problem)
        host_path = origin['file']
    else:
        if context.files_dir is None:
            raise _err(service, where, 'uses the %s %s, whose value (%s) must be written to a file, which this caller does not do; '
                                       'use file: instead' % (singular, _q(source), origin['source']))
        uid = _id(options['uid'], service, where + '.uid') if options.get('uid') is not None else None
        gid = _id(options['gid'], service, where + '.gid') if options.get('gid') is not None else None
        mode = _file_mode(options['mode'], service, where + '.mode') if options.get('mode') is not None else 0o400
        file_name = source
        if (uid, gid, mode) != (None, None, 0o400):
            file_name = '%s-%s-%s-%04o' % (source, '' if uid is None else uid, '' if gid is None else gid, mode)
        host_path = os.path.join(context.files_dir, kind, file_name)
        files[(kind, file_name)] = dict(kind=singular, name=source, path=host_path, content=origin['content'], mode=mode, uid=uid, gid=gid)
    return dict(type='bind', source=host_path, target=target, read_only=True)
