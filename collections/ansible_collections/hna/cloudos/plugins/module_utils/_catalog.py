# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Entries of the trusted app catalog: what one app version is, which parameters it takes, and the
Compose document it becomes (docs/design/app-store.md).

An entry (one YAML file per app and version) is a Compose fragment plus typed parameters:

* ``image``: ``repository`` (relative to the catalog's registry), ``tag`` and ``digest`` (``sha256:`` and 64
  hex digits, written by the publishing playbook; empty until then). The services of ``compose`` name their
  image ``${image}``, which :func:`render` replaces with ``<registry>/<repository>@<digest>``: an app always
  runs the digest the catalog pins, never what the tag points to today.
* ``params``: name -> ``type`` (``str``, ``int``, ``bool``, ``port``, ``memory``), ``default``, ``required``,
  ``choices``, ``min``/``max`` (int), ``pattern`` (str), ``secret``, ``description`` and ``example`` (a value for
  the docs and the tests; a required parameter that is not secret should have one).
* ``compose``: the Compose document (``services``, ``volumes``...) with ``${param}`` placeholders, interpolated
  with the checked values. A secret parameter is used only as ``secrets.<name>.environment``: its value
  becomes a file under /run/secrets, so it is in no environment variable, label, command line or diff.
* ``upgrades_from``: the versions of the same app that this one may replace in place (keeping the data
  volumes, whose names do not depend on the version).

Every problem is one :class:`CatalogError` line naming the entry, the parameter or key, and what to do.
"""

from __future__ import annotations

import copy
import os
import re

from ansible_collections.hna.cloudos.plugins.module_utils._compose import (
    ComposeError,
    interpolate,
    interpolate_string,
    parse_memory,
)

ENTRY_FORMAT = 1
ENTRY_KEYS = frozenset(('format', 'name', 'version', 'description', 'image', 'params', 'compose', 'upgrades_from',
                        'docs', 'reach'))
IMAGE_KEYS = frozenset(('repository', 'tag', 'digest'))
PARAM_KEYS = frozenset(('type', 'default', 'required', 'choices', 'min', 'max', 'pattern', 'secret', 'description', 'example'))
PARAM_TYPES = ('str', 'int', 'bool', 'port', 'memory')
NAME_RE = re.compile(r'^[a-z][a-z0-9-]{0,62}$')
VERSION_RE = re.compile(r'^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$')
PARAM_RE = re.compile(r'^[a-z][a-z0-9_]{0,62}$')
REPOSITORY_RE = re.compile(r'^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$')
DIGEST_RE = re.compile(r'^sha256:[0-9a-f]{64}$')
PLACEHOLDER_RE = re.compile(r'\$\{([A-Za-z_][A-Za-z0-9_]*)')
#: Placeholders every entry may use besides its parameters.
BUILTINS = ('image', 'app', 'namespace')


class CatalogError(Exception):
    """One line naming the entry and what is wrong with it or with the parameters given."""


def _q(value):
    return "'%s'" % value


def _type_name(value):
    if value is None:
        return 'nothing'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, int):
        return 'an integer'
    if isinstance(value, float):
        return 'a number'
    if isinstance(value, str):
        return 'the string %s' % _q(value)
    if isinstance(value, dict):
        return 'a mapping'
    if isinstance(value, list):
        return 'a list'
    return type(value).__name__


def _strings(node, path=''):
    """Yield ``(path, text)`` for every string value of ``node`` (keys are not values)."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, '%s.%s' % (path, key) if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, '%s[%d]' % (path, index))


def entry_label(entry):
    return 'catalog entry %s %s' % (entry.get('name', '?'), entry.get('version', '?'))


def check_entry(entry, source='the catalog entry'):
    """Check the shape of ``entry`` (a mapping read from its file); return a normalised deep copy."""
    if not isinstance(entry, dict):
        raise CatalogError('%s: must be a mapping, not %s' % (source, _type_name(entry)))
    entry = copy.deepcopy(entry)
    unknown = sorted(str(key) for key in entry if key not in ENTRY_KEYS)
    if unknown:
        raise CatalogError('%s: unknown key %s (known: %s)' % (source, _q(unknown[0]), ', '.join(sorted(ENTRY_KEYS))))
    if entry.get('format', ENTRY_FORMAT) != ENTRY_FORMAT:
        raise CatalogError('%s: format %s is not one this collection reads (%d)' % (source, entry.get('format'), ENTRY_FORMAT))
    name, version = entry.get('name'), entry.get('version')
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise CatalogError('%s: name must be lower-case letters, digits and "-", starting with a letter, not %s'
                           % (source, _type_name(name)))
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise CatalogError('%s: version must be a string of letters, digits, ".", "_" and "-" (quote it: "7.0"), not %s'
                           % (source, _type_name(version)))
    label = entry_label(entry)
    entry['image'] = _check_image(entry.get('image'), label)
    entry['params'] = dict((pname, _check_param(pname, spec, label)) for pname, spec in _mapping(entry.get('params'), label, 'params').items())
    clash = sorted(set(entry['params']) & set(BUILTINS))
    if clash:
        raise CatalogError('%s: parameter %s has the name of a value every entry gets; rename it' % (label, _q(clash[0])))
    compose = entry.get('compose')
    if not isinstance(compose, dict) or not isinstance(compose.get('services'), dict) or not compose['services']:
        raise CatalogError('%s: compose must be a Compose document with at least one service' % label)
    _check_placeholders(entry, label)
    upgrades = entry.get('upgrades_from', [])
    if not isinstance(upgrades, list) or not all(isinstance(item, str) and VERSION_RE.match(item) for item in upgrades):
        raise CatalogError('%s: upgrades_from must be a list of version strings' % label)
    entry['upgrades_from'] = upgrades
    for key in ('description', 'docs'):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise CatalogError('%s: %s must be text' % (label, key))
    entry['reach'] = _mapping(entry.get('reach'), label, 'reach')
    entry['format'] = ENTRY_FORMAT
    return entry


def secret_params(entry):
    """The names of the entry's secret parameters (a set; empty for no entry, as with ``state: absent``)."""
    return set(name for name, spec in ((entry or {}).get('params') or {}).items() if spec.get('secret'))


def _mapping(value, label, key):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CatalogError('%s: %s must be a mapping, not %s' % (label, key, _type_name(value)))
    return value


def _check_image(image, label):
    image = _mapping(image, label, 'image')
    unknown = sorted(str(key) for key in image if key not in IMAGE_KEYS)
    if unknown:
        raise CatalogError('%s: unknown key image.%s' % (label, unknown[0]))
    repository, tag, digest = image.get('repository'), image.get('tag'), image.get('digest') or ''
    if not isinstance(repository, str) or not REPOSITORY_RE.match(repository):
        raise CatalogError('%s: image.repository must be a repository path such as cloudos/redis, not %s' % (label, _type_name(repository)))
    if not isinstance(tag, str) or not VERSION_RE.match(tag):
        raise CatalogError('%s: image.tag must be a tag string (quote it: "7.0"), not %s' % (label, _type_name(tag)))
    if not isinstance(digest, str) or (digest and not DIGEST_RE.match(digest)):
        raise CatalogError('%s: image.digest must be empty or sha256: and 64 hex digits, not %s' % (label, _type_name(digest)))
    return dict(repository=repository, tag=tag, digest=digest)


def _check_param(name, spec, label):
    if not isinstance(name, str) or not PARAM_RE.match(name):
        raise CatalogError('%s: parameter name %s must be lower-case letters, digits and "_"' % (label, _q(name)))
    where = '%s: parameter %s' % (label, _q(name))
    spec = _mapping(spec, label, 'params.%s' % name)
    unknown = sorted(str(key) for key in spec if key not in PARAM_KEYS)
    if unknown:
        raise CatalogError('%s: unknown key %s (known: %s)' % (where, _q(unknown[0]), ', '.join(sorted(PARAM_KEYS))))
    kind = spec.get('type', 'str')
    if kind not in PARAM_TYPES:
        raise CatalogError('%s: type must be one of %s, not %s' % (where, ', '.join(PARAM_TYPES), _type_name(kind)))
    out = dict(type=kind, required=bool(spec.get('required', False)), secret=bool(spec.get('secret', False)),
               description=spec.get('description', ''))
    for key in ('min', 'max'):
        if spec.get(key) is not None:
            if kind != 'int' or isinstance(spec[key], bool) or not isinstance(spec[key], int):
                raise CatalogError('%s: %s is for int parameters and must be an integer' % (where, key))
            out[key] = spec[key]
    if spec.get('pattern') is not None:
        if kind != 'str':
            raise CatalogError('%s: pattern is for str parameters' % where)
        try:
            out['pattern'] = re.compile(spec['pattern'])
        except (re.error, TypeError) as exc:
            raise CatalogError('%s: pattern is not a regular expression (%s)' % (where, exc))
    if spec.get('choices') is not None:
        if not isinstance(spec['choices'], list) or not spec['choices']:
            raise CatalogError('%s: choices must be a non-empty list' % where)
        out['choices'] = [_coerce(out, choice, '%s: choice' % where) for choice in spec['choices']]
    if out['secret'] and kind != 'str':
        raise CatalogError('%s: a secret parameter must be of type str' % where)
    if spec.get('example') is not None:
        if out['secret']:
            raise CatalogError('%s: a secret parameter has no example' % where)
        out['example'] = _coerce(out, spec['example'], '%s: example' % where)
    if 'default' in spec and spec['default'] is not None:
        if out['secret']:
            raise CatalogError('%s: a secret parameter has no default; make it required or leave it out' % where)
        out['default'] = _coerce(out, spec['default'], '%s: default' % where)
    elif not out['required'] and not out['secret']:
        raise CatalogError('%s: give it a default or make it required' % where)
    return out


def _check_placeholders(entry, label):
    """Every ``${name}`` is a parameter or a built-in; a secret parameter appears only as a secret's source."""
    known = set(entry['params']) | set(BUILTINS)
    secrets = secret_params(entry)
    compose = entry['compose']
    sources = set()
    for sname, sdef in _mapping(compose.get('secrets'), label, 'compose.secrets').items():
        if isinstance(sdef, dict) and isinstance(sdef.get('environment'), str):
            sources.add(sdef['environment'])
    for key in ('services', 'volumes'):
        for name in _mapping(compose.get(key), label, 'compose.%s' % key):
            for used in PLACEHOLDER_RE.findall(str(name)):
                if used not in ('app', 'namespace'):
                    raise CatalogError('%s: the name compose.%s.%s may use ${app} and ${namespace} only' % (label, key, name))
    for path, text in list(_strings(compose, 'compose')) + list(_strings(entry.get('reach') or {}, 'reach')):
        for name in PLACEHOLDER_RE.findall(text):
            if name not in known:
                raise CatalogError('%s: %s uses ${%s}, which is no parameter of the entry' % (label, path, name))
            if name in secrets:
                raise CatalogError('%s: %s puts the secret parameter %s into the document; give it to the '
                                   'service as a secret (secrets.<name>.environment: %s)' % (label, path, _q(name), name))
    unused = sorted(secrets - sources)
    if unused:
        raise CatalogError('%s: secret parameter %s is not the source of any compose secret' % (label, _q(unused[0])))
    unknown_sources = sorted(sources - secrets)
    if unknown_sources:
        raise CatalogError('%s: compose secret source %s must be a secret parameter of the entry' % (label, _q(unknown_sources[0])))


def _coerce(spec, value, where):
    """``value`` as the parameter's type, refusing what is not clearly of that type (no "yes" for a bool)."""
    kind = spec['type']
    if kind in ('int', 'port'):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and re.match(r'^[0-9]+$', value):
                value = int(value)
            else:
                raise CatalogError('%s: expected an integer, got %s' % (where, _type_name(value)))
        low, high = (1, 65535) if kind == 'port' else (spec.get('min'), spec.get('max'))
        if (low is not None and value < low) or (high is not None and value > high):
            raise CatalogError('%s: %d is out of range (%s to %s)' % (where, value, low if low is not None else '-inf',
                                                                      high if high is not None else 'inf'))
        return value
    if kind == 'bool':
        if not isinstance(value, bool):
            raise CatalogError('%s: expected true or false, got %s' % (where, _type_name(value)))
        return value
    if not isinstance(value, str):
        raise CatalogError('%s: expected a string, got %s' % (where, 'a secret value' if spec.get('secret') else _type_name(value)))
    if kind == 'memory':
        try:
            parse_memory(value)
        except ComposeError:
            raise CatalogError('%s: expected a memory size such as 512m or 1g, got %s' % (where, _type_name(value)))
        return value
    if spec.get('pattern') is not None and not spec['pattern'].match(value):
        raise CatalogError('%s: %s does not match %s' % (where, 'the value' if spec.get('secret') else _q(value),
                                                         spec['pattern'].pattern))
    return value


def check_params(entry, given):
    """Return the values of every parameter of ``entry`` from ``given`` (a mapping) and the defaults.

    Refuses an unknown name, a value of the wrong type or out of range, a value not among the choices and a
    missing required parameter, each with one line naming the parameter; a secret value is never quoted.
    """
    label = entry_label(entry)
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise CatalogError('%s: params must be a mapping of parameter names to values, not %s' % (label, _type_name(given)))
    unknown = sorted(str(key) for key in given if key not in entry['params'])
    if unknown:
        raise CatalogError('%s: unknown parameter %s (parameters: %s)' % (label, _q(unknown[0]), ', '.join(sorted(entry['params'])) or 'none'))
    values = {}
    for name, spec in sorted(entry['params'].items()):
        where = '%s: parameter %s' % (label, _q(name))
        if given.get(name) is not None:
            value = _coerce(spec, given[name], where)
            if 'choices' in spec and value not in spec['choices']:
                raise CatalogError('%s: %s is not one of %s' % (where, _q(value), ', '.join(str(c) for c in spec['choices'])))
            values[name] = value
        elif 'default' in spec:
            values[name] = spec['default']
        elif spec['required']:
            raise CatalogError('%s is required%s: give it in params' % (where, ' (a secret)' if spec['secret'] else ''))
    return values


def image_reference(entry, registry, require_digest=True):
    """``<registry>/<repository>@<digest>``; without a digest, refused unless ``require_digest`` is false."""
    image = entry['image']
    base = '%s/%s' % (registry.rstrip('/'), image['repository']) if registry else image['repository']
    if image['digest']:
        return '%s@%s' % (base, image['digest'])
    if require_digest:
        raise CatalogError('%s: the entry pins no digest yet; publish the catalog (playbooks/app_catalog_publish.yml) '
                           'or allow unpinned images explicitly' % entry_label(entry))
    return '%s:%s' % (base, image['tag'])


def render(entry, values, namespace, app=None, registry=None, require_digest=True):
    """Return what the stack machinery (``_compose.parse_stack``) deploys for ``entry`` with ``values``.

    A dict: ``document`` (the entry's Compose document, its service and volume names made with the app's name,
    still to be interpolated by ``parse_stack``), ``variables`` (the interpolation variables: every parameter as a
    string, the secret ones read only by the ``environment:`` secrets, which become files), ``reach`` (how to
    reach the app, interpolated) and ``image`` (the pinned reference).
    """
    app = app or entry['name']
    secrets = secret_params(entry)
    public = dict(image=image_reference(entry, registry, require_digest), app=app, namespace=namespace)
    for name, value in values.items():
        if name not in secrets:
            public[name] = ('true' if value else 'false') if isinstance(value, bool) else str(value)
    document = copy.deepcopy(entry['compose'])
    names = dict(app=app, namespace=namespace)
    try:
        # The names of the services and volumes may carry the app's name (two apps in one namespace).
        for key in ('services', 'volumes'):
            if isinstance(document.get(key), dict):
                document[key] = dict((interpolate_string(name, names, 'compose.%s' % key), value)
                                     for name, value in document[key].items())
        reach = interpolate(entry['reach'], public)
    except ComposeError as exc:
        raise CatalogError('%s: %s' % (entry_label(entry), exc))
    variables = dict(public)
    variables.update((name, values[name]) for name in secrets if name in values)
    return dict(document=document, variables=variables, reach=reach, image=public['image'])


def check_upgrade(entry, installed_version):
    """Refuse replacing ``installed_version`` of the same app by ``entry`` unless the entry declares that path."""
    if installed_version in (None, '', entry['version']):
        return
    if installed_version not in entry['upgrades_from']:
        raise CatalogError('%s: cannot replace version %s in place (upgrades_from: %s); deploy it beside the old one '
                           'and move the data yourself' % (entry_label(entry), _q(installed_version),
                                                           ', '.join(entry['upgrades_from']) or 'none'))


def describe_entry(entry):
    """What ``hna.cloudos.app_catalog_info`` returns for one checked entry (a secret has no default nor example)."""
    params = {}
    for name, spec in sorted(entry['params'].items()):
        described = dict((key, spec.get(key)) for key in ('type', 'required', 'secret', 'description'))
        described.update((key, spec[key]) for key in ('default', 'choices', 'min', 'max', 'example')
                         if spec.get(key) is not None)
        if spec.get('pattern') is not None:
            described['pattern'] = spec['pattern'].pattern  # the text, not the compiled expression
        params[name] = described
    image = entry['image']
    return dict(
        version=entry['version'],
        description=entry.get('description') or '',
        image=dict(repository=image['repository'], tag=image['tag'], digest=image['digest'] or None),
        pinned=bool(image['digest']),
        params=params,
        required=sorted(name for name, spec in entry['params'].items() if spec.get('required')),
        secrets=sorted(secret_params(entry)),
        services=sorted(entry['compose']['services']),
        upgrades_from=list(entry['upgrades_from']),
        reach=dict(entry['reach']),
    )


def _version_key(version):
    """Sort key of a version string: its numeric parts as numbers (``7.10`` after ``7.9``)."""
    return [(0, int(part), '') if part.isdigit() else (1, 0, part) for part in re.split(r'[._-]', version)]


def load_entry_file(path):
    """The parsed YAML of one catalog entry file (PyYAML's safe loader; its errors and ``OSError`` pass through)."""
    import yaml  # pylint: disable=import-outside-toplevel  # PyYAML only where a catalog file is read
    with open(path, 'rb') as handle:
        return yaml.safe_load(handle)


def list_catalog(directory, name=None, version=None):
    """Every entry of the catalog ``directory`` (``<app>/<version>.yml``), checked and described.

    Return ``(apps, problems)``: ``apps`` a list of
    ``{name, versions: [...]}`` sorted by name, the versions oldest first; ``problems`` one line per entry
    that could not be read or checked (that entry is left out, the others are listed). ``name`` and
    ``version`` keep only that app and that version.
    """
    if not os.path.isdir(directory):
        raise CatalogError('the catalog %s is not a directory: give catalog_path, a directory of <app>/<version>.yml files'
                           % directory)
    apps, problems = [], []
    for app_name in sorted(os.listdir(directory)):
        app_dir = os.path.join(directory, app_name)
        if not os.path.isdir(app_dir) or app_name.startswith('.') or (name is not None and app_name != name):
            continue
        versions = []
        for file_name in sorted(os.listdir(app_dir)):
            if not file_name.endswith('.yml') or (version is not None and file_name[:-4] != version):
                continue
            path = os.path.join(app_dir, file_name)
            source = 'catalog entry %s/%s' % (app_name, file_name)
            try:
                entry = check_entry(load_entry_file(path), source)
                if entry['name'] != app_name or entry['version'] != file_name[:-4]:
                    raise CatalogError('%s: it says it is %s %s; the file must be <name>/<version>.yml'
                                       % (source, entry['name'], entry['version']))
            except CatalogError as exc:
                problems.append(str(exc))
                continue
            except Exception as exc:  # pylint: disable=broad-except
                # A file that is no YAML: the loader's first line names the place.
                problems.append('%s: cannot be read: %s' % (source, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
                continue
            described = describe_entry(entry)
            described['path'] = path
            versions.append(described)
        if versions:
            versions.sort(key=lambda item: _version_key(item['version']))
            apps.append(dict(name=app_name, versions=versions, latest=versions[-1]['version']))
    return apps, problems
