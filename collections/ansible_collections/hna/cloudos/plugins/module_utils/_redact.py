# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Keep the values of environment variables and build arguments out of everything a module returns.

Environment variables carry passwords and keys (``MYSQL_ROOT_PASSWORD``, ``API_TOKEN``), so by
default a module shows only their names: in plans, differences, ``--diff`` output, the facts of a
container, and the ``invocation`` that ``-vvv`` prints. A change shows as ``(changed)``, a new variable
as ``(added)``; the user may name variables whose values are safe to show (for example ``TZ`` or
``LOG_LEVEL``).

Ansible's ``no_log`` is not used for these options: it hides a value by replacing every occurrence of
its text anywhere in the output, which for short values such as ``1`` or ``true`` would mangle the
whole result.
"""

from __future__ import annotations

HIDDEN = '(hidden)'
CHANGED = '(changed)'
ADDED = '(added)'

#: Fields of differences and diffs whose values are maps of secrets.
SECRET_FIELDS = ('env', 'build_args')


def redact_map(values, visible=()):
    """Return ``values`` (a dict) with every value hidden but those of the keys in ``visible``."""
    if not isinstance(values, dict):
        return values
    return dict((key, value if key in visible else HIDDEN) for key, value in values.items())


def redact_change(before, after, visible=()):
    """Return ``(before, after)`` of a changed map with the values hidden, changes marked.

    A key in both with another value shows ``(hidden)`` before and ``(changed)`` after; a new key
    ``(added)``; a removed key is only in ``before``. Keys in ``visible`` keep their values.
    """
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    shown_before, shown_after = {}, {}
    for key, value in before.items():
        shown_before[key] = value if key in visible else HIDDEN
    for key, value in after.items():
        if key in visible:
            shown_after[key] = value
        elif key not in before:
            shown_after[key] = ADDED
        elif before[key] != value:
            shown_after[key] = CHANGED
        else:
            shown_after[key] = HIDDEN
    return shown_before, shown_after


def redact_differences(differences, visible=()):
    """Return a copy of a list of ``{field, before, after, ...}`` differences with secret maps redacted."""
    result = []
    for difference in differences or []:
        difference = dict(difference)
        if difference.get('field') in SECRET_FIELDS:
            difference['before'], difference['after'] = redact_change(difference.get('before'), difference.get('after'), visible)
        result.append(difference)
    return result


def redact_diff(diff, visible=()):
    """Return a copy of a ``{before, after}`` diff with its ``env``/``build_args`` maps redacted.

    Those maps are found at the top of ``before``/``after`` (one container) or one level down (a
    stack: one entry per service).
    """
    if not isinstance(diff, dict):
        return diff
    result = dict(diff)
    result['before'], result['after'] = _redact_sides(diff.get('before'), diff.get('after'), visible, depth=1)
    return result


def _redact_sides(before, after, visible, depth):
    if not isinstance(before, dict) and not isinstance(after, dict):
        return before, after
    before = dict(before) if isinstance(before, dict) else before
    after = dict(after) if isinstance(after, dict) else after
    sides = [side for side in (before, after) if isinstance(side, dict)]
    for field in SECRET_FIELDS:
        if any(field in side for side in sides):
            shown_before, shown_after = redact_change((before or {}).get(field) if isinstance(before, dict) else None,
                                                      (after or {}).get(field) if isinstance(after, dict) else None, visible)
            if isinstance(before, dict) and field in before:
                before[field] = shown_before
            if isinstance(after, dict) and field in after:
                after[field] = shown_after
    if depth > 0:
        for key in set().union(*[set(side) for side in sides]):
            if key in SECRET_FIELDS:
                continue
            nested_before = before.get(key) if isinstance(before, dict) else None
            nested_after = after.get(key) if isinstance(after, dict) else None
            if isinstance(nested_before, dict) or isinstance(nested_after, dict):
                nested_before, nested_after = _redact_sides(nested_before, nested_after, visible, depth - 1)
                if isinstance(before, dict) and key in before:
                    before[key] = nested_before
                if isinstance(after, dict) and key in after:
                    after[key] = nested_after
    return before, after


def redact_facts(facts, visible=()):
    """Return container facts (see ``container_facts``) with the values of ``env`` hidden."""
    if not facts or not isinstance(facts.get('env'), dict):
        return facts
    facts = dict(facts)
    facts['env'] = redact_map(facts['env'], visible)
    return facts


def redacted_params(params, secret_maps=('env', ), visible=()):
    """Return the module parameters with the values of the maps named in ``secret_maps`` hidden.

    Pass the result as ``invocation={'module_args': ...}`` to ``exit_json``/``fail_json``, so that
    ``-vvv`` shows the names but not the values.
    """
    shown = dict(params)
    for name in secret_maps:
        path = name.split('.')
        shown = _redact_path(shown, path, visible)
    return shown


def _redact_path(container, path, visible):
    if not isinstance(container, dict) or path[0] not in container:
        return container
    container = dict(container)
    if len(path) == 1:
        container[path[0]] = redact_map(container[path[0]], visible)
    else:
        container[path[0]] = _redact_path(container[path[0]], path[1:], visible)
    return container


def keep_output_unmasked(module, option_names):
    """Stop Ansible from masking the values of the ``no_log`` options ``option_names`` in the output.

    Those options are marked ``no_log`` so that Ansible never logs their values (syslog, journal),
    but Ansible would also replace every occurrence of each value in the whole result, which for
    short values such as ``1`` mangles it. The modules redact these values themselves instead (see
    :func:`redacted_params`), so their values are taken out of the module's masking list. A name may
    be a dotted path to a suboption, such as ``build.args``.
    """
    for name in option_names:
        value = module.params
        for part in name.split('.'):
            value = value.get(part) if isinstance(value, dict) else None
        values = value.values() if isinstance(value, dict) else (value if isinstance(value, (list, tuple)) else [value])
        for item in values:
            if item is not None:
                module.no_log_values.discard(item if isinstance(item, str) else str(item))


def hide_values(text, values):
    """Return ``text`` with every occurrence of each of ``values`` (secret strings) replaced by ``(hidden)``.

    For the free text a module returns that may quote a secret (the output of a build, an error message):
    the longest values are replaced first, empty values are ignored.
    """
    if not isinstance(text, str):
        return text
    for value in sorted(set(value for value in values if value), key=len, reverse=True):
        text = text.replace(value, HIDDEN)
    return text


def redact_compose_environment(document, visible=()):
    """Return a Compose document (mapping) with the values of every service's ``environment`` hidden."""
    if not isinstance(document, dict) or not isinstance(document.get('services'), dict):
        return document
    document = dict(document)
    services = {}
    for name, service in document['services'].items():
        if isinstance(service, dict) and service.get('environment') is not None:
            service = dict(service)
            environment = service['environment']
            if isinstance(environment, dict):
                service['environment'] = redact_map(environment, visible)
            elif isinstance(environment, list):
                service['environment'] = [
                    item if not isinstance(item, str) or '=' not in item or item.split('=', 1)[0] in visible
                    else '%s=%s' % (item.split('=', 1)[0], HIDDEN) for item in environment]
        services[name] = service
    document['services'] = services
    return document
