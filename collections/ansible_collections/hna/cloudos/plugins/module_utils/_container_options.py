# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one table of container options.

Every option of a container is declared once, in :data:`OPTIONS`, as an :class:`Option`: its
argument-spec entry (the module option, which is also the field of the container spec), its Compose
key and how a Compose value becomes a module value, the normaliser to the spec value, how the value
is read back from an inspected container, what the container is expected to hold (with the defaults
of the image and of the engine filled in), how it is written into the create request, and the body
of the in-place update (``None`` when a change needs a new container).

:func:`container_argument_spec`, :func:`container_spec`, :func:`compare`, :func:`create_config` and
:func:`update_body` walk the table; the modules, the Compose import and the container engine all
use them, so adding an option is one entry here (plus its documentation in the
``hna.cloudos.container_options`` doc fragment and its tests).

The shared parsers of sizes, durations, ports and image references live here too. Nothing in this
file talks to the Docker engine.
"""

from __future__ import annotations

import copy
import ipaddress
import math
import re
import shlex

from ansible_collections.hna.cloudos.plugins.module_utils import _namespace
from ansible_collections.hna.cloudos.plugins.module_utils._namespace import (  # noqa: F401  pylint: disable=unused-import
    LABEL_ENGINE_PREFIX,
    LABEL_MANAGED,
    LABEL_NAMESPACE,
    LABEL_PREFIX,
    LABEL_REPLICA,
    LABEL_SERVICE,
    LABEL_SPEC_HASH,
    LABEL_STACK,
)

#: Written by earlier versions at creation; still found on old containers, never compared.
_OLD_LABELS = (LABEL_SPEC_HASH, )

RESTART_POLICIES = ('no', 'always', 'unless-stopped', 'on-failure')
MOUNT_TYPES = ('volume', 'bind', 'tmpfs')
PROTOCOLS = ('tcp', 'udp', 'sctp')
#: Network modes that are not networks a container can be connected to or disconnected from.
SPECIAL_NETWORK_MODES = ('host', 'none')
DEFAULT_LOG_DRIVER = 'json-file'
#: What the engine gives a container without a declared shm_size.
DEFAULT_SHM_SIZE = 64 * 1024 ** 2
#: IPC modes the engine gives a container without a declared ipc (its default-ipc-mode).
DEFAULT_IPC_MODES = ('', 'private', 'shareable')
#: The CFS period used for CPU limits (as ``docker run --cpus``).
CPU_PERIOD = 100000
MAX_INT64 = 2 ** 63 - 1

HOSTNAME_RE = re.compile(r'^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$')
SIGNAL_RE = re.compile(r'^(?:SIG[A-Z0-9+-]+|[A-Z][A-Z0-9+-]*|\d{1,2})$')
IMAGE_ID_RE = re.compile(r'^(?:sha256:)?[a-f0-9]{64}$')
_PATH_COMPONENT = r'[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
_DOMAIN_RE = re.compile(r'^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$',
                        re.ASCII)
_REPOSITORY_RE = re.compile(r'^%s(?:/%s)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$' % (_PATH_COMPONENT, _PATH_COMPONENT), re.ASCII)
_SIZE_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([bkmgtp]?)(?:i?b)?\s*$', re.IGNORECASE)
_SIZE_UNITS = {'': 1, 'b': 1, 'k': 1024, 'm': 1024 ** 2, 'g': 1024 ** 3, 't': 1024 ** 4, 'p': 1024 ** 5}
_DURATION_PART_RE = re.compile(r'(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)')
_DURATION_UNITS = {'ns': 1, 'us': 1000, '\u00b5s': 1000, 'ms': 10 ** 6, 's': 10 ** 9, 'm': 60 * 10 ** 9, 'h': 3600 * 10 ** 9}
_VOLUME_NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.-]*$')
_ENV_NAME_RE = re.compile(r'^[^=\s]+$')
_CONTAINER_NAME_RE = re.compile(r'^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$')
_ULIMIT_NAME_RE = re.compile(r'^[a-z]+$')
_SYSCTL_RE = re.compile(r'^[a-zA-Z0-9_][a-zA-Z0-9_./-]*$')


class SpecError(ValueError):
    """A value of the spec (an option of the module) is not valid; the message names the option.

    ``option`` and ``problem`` (when set) let a caller such as the Compose import name the value its own way.
    """

    def __init__(self, msg, option=None, problem=None):
        super().__init__(msg)
        self.option = option
        self.problem = problem


def _bad(option, problem):
    """Return a :class:`SpecError` ``<option>: <problem>.``"""
    return SpecError('%s: %s.' % (option, problem), option=option, problem=problem)


def _q(value):
    """Quote a user-supplied value for a message, on one line and short."""
    text = value if isinstance(value, str) else repr(value)
    text = ' '.join(text.split())
    if len(text) > 80:
        text = text[:77] + '...'
    return "'%s'" % text


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- the shared parsers ------------------------------------------------------------------------------


def parse_size(value, option='memory', minimum=None):
    """Return a size such as ``512m``, ``1g``, ``1.5GiB``, ``64MB`` or ``1048576`` in bytes (binary units, as Docker).

    ``None``, ``''`` and ``0`` mean no limit and give ``None``. ``minimum`` (bytes) refuses smaller sizes.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    hint = 'must be a size such as 512m or 1g (a number of bytes or a number with the unit b, k, m, g or t), not %s'
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _bad(option, hint % _q(value))
    if _is_number(value):
        number, unit = value, ''
    else:
        match = _SIZE_RE.match(value)
        if not match:
            raise _bad(option, ('must not be negative, not %s' % _q(value)) if value.strip().startswith('-') else hint % _q(value))
        number, unit = float(match.group(1)), match.group(2).lower()
    if number < 0:
        raise _bad(option, 'must not be negative, not %s' % _q(value))
    number = number * _SIZE_UNITS[unit]
    if not math.isfinite(number) or number > MAX_INT64:
        raise _bad(option, 'is too large: %s' % _q(value))
    result = int(number)
    if not result:
        return None
    if minimum is not None and result < minimum:
        raise _bad(option, 'must be at least %s, not %s' % (format_size(minimum), _q(value)))
    return result


def format_size(amount):
    """Return bytes as Docker writes them: ``4g``, ``512m``, ``100b``."""
    for unit, size in (('t', 1024 ** 4), ('g', 1024 ** 3), ('m', 1024 ** 2), ('k', 1024)):
        if amount >= size and amount % size == 0:
            return '%d%s' % (amount // size, unit)
    return '%db' % amount


def parse_duration(value, option='duration'):
    """Return a duration such as ``30s``, ``1m30s``, ``500ms``, ``.5s`` or ``1h`` in nanoseconds.

    A bare number is a number of seconds. ``None`` and ``''`` give ``None``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    hint = 'must be a duration such as 10s, 1m30s or 500ms (units h, m, s, ms, us, ns), not %s'
    if _is_number(value):
        seconds = value
    elif isinstance(value, str):
        text = value.strip()
        if re.match(r'^\d+(?:\.\d+)?$', text):
            seconds = float(text) if '.' in text else int(text)
        else:
            position, total = 0, 0.0
            for match in _DURATION_PART_RE.finditer(text):
                if match.start() != position:
                    break
                total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
                position = match.end()
            if position != len(text):
                raise _bad(option, hint % _q(value))
            seconds = total / 1e9
    else:
        raise _bad(option, hint % _q(value))
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise _bad(option, hint % _q(value))
    if seconds < 0:
        raise _bad(option, 'must not be negative, not %s' % _q(value))
    if seconds > MAX_INT64 / 1e9:
        raise _bad(option, 'is too long: %s' % _q(value))
    return int(round(seconds * 10 ** 9)) if isinstance(seconds, float) else seconds * 10 ** 9


def _port_number(text, option, allow_range=True):
    """``80`` -> [80]; ``'8000-8002'`` -> [8000, 8001, 8002]."""
    if _is_int(text):
        low = high = text
    else:
        text = str(text).strip()
        low_text, sep, high_text = text.partition('-')
        for part in (low_text, high_text) if sep else (low_text, ):
            if not (part.isdigit() and part.isascii()):
                raise _bad(option, 'has the port %s, which is not a number' % _q(part or text))
        low = int(low_text)
        high = int(high_text) if sep else low
        if sep and not allow_range:
            raise _bad(option, 'is a range %s; give one port' % _q(text))
    for number in (low, high):
        if not 1 <= number <= 65535:
            raise _bad(option, 'has the port %s, outside 1-65535' % _q(number))
    if high < low:
        raise _bad(option, 'has the port range %s, which ends before it starts' % _q(text))
    return list(range(low, high + 1))


def _host_ip(text, option):
    text = str(text or '').strip()
    if text.startswith('[') and text.endswith(']'):
        text = text[1:-1]
    if text in ('', '0.0.0.0'):
        return ''
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise _bad(option, 'has the host IP %s, which is not an IP address' % _q(text))


def _protocol(value, option):
    protocol = str(value or 'tcp').lower()
    if protocol not in PROTOCOLS:
        raise _bad(option, 'has the protocol %s; use tcp, udp or sctp' % _q(value))
    return protocol


def _expand_ports(container_ports, host_ports, protocol, host_ip, option):
    if host_ports is None:
        return [dict(container_port=port, protocol=protocol, host_ip=host_ip, host_port=None) for port in container_ports]
    if len(host_ports) != len(container_ports):
        raise _bad(option, 'maps %d host ports to %d container ports; the ranges must have the same length' % (
            len(host_ports), len(container_ports)))
    return [dict(container_port=c, protocol=protocol, host_ip=host_ip, host_port=h) for c, h in zip(container_ports, host_ports)]


def parse_port(value, option='ports'):
    """Return the published ports of one entry as a list of ``{container_port, protocol, host_ip, host_port}``.

    Accepts ``80``, ``"8080:80"``, ``"127.0.0.1:8080:80/tcp"``, ``"127.0.0.1::80"`` (any free host port),
    ``"[::1]:8080:80"``, ranges such as ``"8000-8001:80-81"``, and dictionaries: the module's
    (``container_port``, ``host_port``, ``host_ip``, ``protocol``) or Compose's long syntax (``target``,
    ``published``, ``host_ip``, ``protocol``, ``mode``). ``host_ip`` ``""`` means every address;
    ``host_port`` ``None`` lets the engine choose a free port.
    """
    if isinstance(value, dict):
        if 'target' in value or 'published' in value or 'mode' in value:
            allowed, target_key, published_key = ('target', 'published', 'host_ip', 'protocol', 'mode'), 'target', 'published'
        else:
            allowed, target_key, published_key = ('container_port', 'host_port', 'host_ip', 'protocol'), 'container_port', 'host_port'
        unknown = sorted(str(key) for key in value if key not in allowed)
        if unknown:
            raise _bad(option, 'has the unknown key %s' % _q(unknown[0]))
        if value.get(target_key) in (None, ''):
            raise _bad(option, 'has no %s (the container port)' % target_key)
        if value.get('mode', 'host') not in ('host', 'ingress'):
            raise _bad(option, 'has the mode %s, which must be host or ingress' % _q(value.get('mode')))
        target = _port_number(value[target_key], option, allow_range=False)
        published = value.get(published_key)
        host_ports = None if published in (None, '', 0) else _port_number(published, option, allow_range=False)
        return _expand_ports(target, host_ports, _protocol(value.get('protocol'), option), _host_ip(value.get('host_ip'), option), option)
    if _is_int(value):
        return _expand_ports(_port_number(value, option), None, 'tcp', '', option)
    if not isinstance(value, str):
        raise _bad(option, 'must be a port mapping such as 127.0.0.1:8080:80/tcp, not %s' % _q(value))
    text = value.strip()
    protocol = 'tcp'
    if '/' in text:
        text, protocol = text.rsplit('/', 1)
        protocol = _protocol(protocol, option)
    host_ip = ''
    if text.startswith('['):
        end = text.find(']')
        if end < 0:
            raise _bad(option, 'has an IPv6 host address without "]": %s' % _q(value))
        host_ip = _host_ip(text[:end + 1], option)
        text = text[end + 1:]
        if not text.startswith(':'):
            raise _bad(option, 'is not [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]: %s' % _q(value))
        parts = [None] + text[1:].split(':')
    else:
        parts = text.split(':')
    if len(parts) == 1:
        return _expand_ports(_port_number(parts[0], option), None, protocol, host_ip, option)
    if len(parts) == 2:
        host_ports = _port_number(parts[0], option) if parts[0] else None
        return _expand_ports(_port_number(parts[1], option), host_ports, protocol, host_ip, option)
    if len(parts) == 3:
        if parts[0] is not None:
            host_ip = _host_ip(parts[0], option)
        host_ports = _port_number(parts[1], option) if parts[1] else None
        return _expand_ports(_port_number(parts[2], option), host_ports, protocol, host_ip, option)
    raise _bad(option, 'is not [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], for example 127.0.0.1:8080:80/tcp: %s' % _q(value))


def valid_image_reference(image):
    """Tell whether ``image`` is a reference the Docker engine accepts (``[registry/]path[:tag][@digest]`` or an ID)."""
    if not isinstance(image, str) or not image or len(image) > 512:
        return False
    if IMAGE_ID_RE.match(image):
        return True
    first, sep, rest = image.partition('/')
    if sep and ('.' in first or ':' in first or first == 'localhost') and _DOMAIN_RE.match(first):
        return bool(_REPOSITORY_RE.match(rest))
    return bool(_REPOSITORY_RE.match(image))


def parse_image(value, option='image'):
    """Return an image reference, or ``None``; refuse what the engine would refuse."""
    if value is None:
        return None
    if not isinstance(value, str) or not valid_image_reference(value.strip()):
        raise _bad(option, 'is not a valid image reference: %s. Use [REGISTRY/]REPOSITORY[:TAG][@DIGEST] in lower case, '
                           'for example nginx:1.25' % _q(value))
    return value.strip()


def parse_hostname(value, option='hostname'):
    value = _optional_text(value, option)
    if value is not None and (not HOSTNAME_RE.match(value) or len(value) > 253):
        raise _bad(option, 'is not a valid host name: %s (letters, digits and "-", in parts separated by ".")' % _q(value))
    return value


def parse_command(value, option='command'):
    """Return a command as a list; a string is split like a shell would (without running one)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise _bad(option, 'cannot be split into words (%s): %s' % (exc, _q(value)))
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, (dict, list, tuple)) or item is None:
                raise _bad(option, 'must be a string or a list of strings, not a list holding %s' % _q(item))
        return [str(item) for item in value]
    raise _bad(option, 'must be a string or a list of strings, not %s' % _q(value))


def parse_volume(value, option='volumes'):
    """Return a mount for a short volume syntax: ``NAME:/path[:ro|rw]``, ``/host/path:/path[:ro|rw]`` or ``/path``."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError('%s: %r is not a volume. Use NAME:/PATH[:ro], /HOST/PATH:/PATH[:ro] or /PATH.' % (option, value))
    parts = value.strip().split(':')
    read_only = False
    if len(parts) == 3:
        if parts[2] not in ('ro', 'rw'):
            raise SpecError('%s: %r: the mode %r is not ro or rw.' % (option, value, parts[2]))
        read_only = parts[2] == 'ro'
        parts = parts[:2]
    if len(parts) == 1:
        return normalise_mount(dict(type='volume', source=None, target=parts[0], read_only=read_only), option, value)
    if len(parts) != 2:
        raise SpecError('%s: %r is not a volume. Use NAME:/PATH[:ro], /HOST/PATH:/PATH[:ro] or /PATH.' % (option, value))
    source, target = parts
    kind = 'bind' if source.startswith(('/', '.', '~')) else 'volume'
    return normalise_mount(dict(type=kind, source=source, target=target, read_only=read_only), option, value)


def normalise_mount(value, option='mounts', shown=None):
    """Check a mount dictionary and return it as ``{type, source, target, read_only}``."""
    shown = value if shown is None else shown
    if not isinstance(value, dict):
        raise SpecError('%s: %r is not a mount.' % (option, shown))
    kind = value.get('type') or 'volume'
    if kind not in MOUNT_TYPES:
        raise SpecError('%s: %r: the type %r is not one of %s.' % (option, shown, kind, ', '.join(MOUNT_TYPES)))
    target = value.get('target')
    if not isinstance(target, str) or not target.startswith('/'):
        raise SpecError('%s: %r: the target %r must be an absolute path in the container.' % (option, shown, target))
    source = value.get('source') or None
    if kind == 'bind':
        if not source or not source.startswith('/'):
            raise SpecError('%s: %r: the source of a bind mount must be an absolute path on the Docker host, not %r.'
                            % (option, shown, source))
        source = source.rstrip('/') or '/'
    elif kind == 'volume':
        if source is not None and not _VOLUME_NAME_RE.match(source):
            raise SpecError('%s: %r: %r is not a valid volume name.' % (option, shown, source))
    elif source is not None:
        raise SpecError('%s: %r: a tmpfs mount has no source.' % (option, shown))
    result = dict(type=kind, source=source, target=target.rstrip('/') or '/', read_only=bool(value.get('read_only')))
    if value.get('no_copy'):
        if kind != 'volume':
            raise SpecError('%s: %r: no_copy applies to volumes only, not to a %s mount.' % (option, shown, kind))
        # Only set when true, so that mounts without it compare and show as before.
        result['no_copy'] = True
    return result


HEALTHCHECK_KEYS = ('test', 'interval', 'timeout', 'retries', 'start_period', 'start_interval')
_HEALTHCHECK_DURATIONS = ('interval', 'timeout', 'start_period', 'start_interval')


def normalise_healthcheck(value, option='healthcheck'):
    """Return a health check ``{test, interval, timeout, retries, start_period, start_interval}`` (durations in ns) or ``None``.

    ``{'disable': True}`` (or a test of ``['NONE']``) turns off the image's health check.
    A string test runs with the container's shell (``CMD-SHELL``); a list runs directly (``CMD``).
    Durations left out are those of the image (or Docker's defaults).
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SpecError('%s: %r is not a dictionary.' % (option, value))
    unknown = set(value) - set(HEALTHCHECK_KEYS) - {'disable'}
    if unknown:
        raise SpecError('%s: unknown keys %s.' % (option, ', '.join(sorted(unknown))))
    if value.get('disable'):
        return dict((key, ['NONE'] if key == 'test' else None) for key in HEALTHCHECK_KEYS)
    test = value.get('test')
    if isinstance(test, str):
        test = ['CMD-SHELL', test] if test.strip() else None
    elif isinstance(test, (list, tuple)):
        test = [str(item) for item in test]
        if not test:
            test = None
        elif test[0] not in ('CMD', 'CMD-SHELL', 'NONE'):
            test = ['CMD'] + test
    elif test is not None:
        raise SpecError('%s.test: %r is neither a string nor a list.' % (option, test))
    retries = value.get('retries')
    if retries is not None:
        try:
            retries = int(retries)
        except (TypeError, ValueError):
            retries = -1
        if retries < 0:
            raise SpecError('%s.retries: %r is not a whole number of 0 or more.' % (option, value.get('retries')))
    result = dict(test=test, retries=retries or None)
    for key in _HEALTHCHECK_DURATIONS:
        result[key] = parse_duration(value.get(key), '%s.%s' % (option, key))
    return result


def normalise_restart_policy(value, max_retries=None, option='restart_policy'):
    """Return ``{name, max_retries}``; accepts ``always``, ``on-failure:3`` or a dictionary."""
    if value is None:
        value = 'no'
    if isinstance(value, dict):
        max_retries = value.get('max_retries', max_retries)
        value = value.get('name') or 'no'
    if isinstance(value, bool):
        value = 'no' if value is False else 'always'
    name = str(value).strip()
    if ':' in name:
        name, count = name.split(':', 1)
        try:
            max_retries = int(count)
        except ValueError:
            raise SpecError('%s: %r: %r is not a number of retries.' % (option, value, count))
    if name not in RESTART_POLICIES:
        raise SpecError('%s: %r is not one of %s.' % (option, value, ', '.join(RESTART_POLICIES)))
    if name != 'on-failure':
        max_retries = 0
    return dict(name=name, max_retries=int(max_retries or 0))


def string_map(value, option, keys_only=False):
    """Return a ``{str: str}`` map from a dictionary or a list of ``KEY=VALUE`` strings."""
    if value is None:
        return {}
    if isinstance(value, (list, tuple)):
        result = {}
        for item in value:
            key, sep, val = str(item).partition('=')
            result[key] = val
        value = result
    if not isinstance(value, dict):
        raise SpecError('%s: %r is neither a dictionary nor a list of KEY=VALUE.' % (option, value))
    result = {}
    for key, val in value.items():
        key = str(key)
        if not _ENV_NAME_RE.match(key):
            raise SpecError('%s: %r is not a valid name.' % (option, key))
        if isinstance(val, bool):
            raise SpecError('%s: the value of %s is the boolean %s; quote it (for example "%s") so that the exact text is used.'
                            % (option, key, val, str(val).lower()))
        if val is None:
            val = ''
        if isinstance(val, (dict, list)):
            raise SpecError('%s: the value of %s must be a string, not %r.' % (option, key, val))
        result[key] = str(val)
    return result


def normalise_networks(value, option='networks'):
    """Return the networks as a list of ``{name, aliases, ipv4_address}``, one entry per network name."""
    result = []
    seen = {}
    for item in value or []:
        if isinstance(item, str):
            item = dict(name=item)
        if not isinstance(item, dict) or not item.get('name'):
            raise SpecError('%s: %r has no name.' % (option, item))
        unknown = set(item) - {'name', 'aliases', 'ipv4_address'}
        if unknown:
            raise SpecError('%s: unknown keys %s in the entry for %s.' % (option, ', '.join(sorted(unknown)), item['name']))
        address = item.get('ipv4_address') or None
        if address is not None:
            try:
                address = str(ipaddress.IPv4Address(str(address)))
            except ValueError:
                raise SpecError('%s: ipv4_address %r of network %s is not an IPv4 address.' % (option, item.get('ipv4_address'), item['name']))
        aliases = item.get('aliases') or []
        if isinstance(aliases, str):
            aliases = [aliases]
        name = str(item['name'])
        if name in seen:
            entry = seen[name]
            entry['aliases'] = sorted(set(entry['aliases']) | set(str(a) for a in aliases))
            entry['ipv4_address'] = entry['ipv4_address'] or address
            continue
        entry = dict(name=name, aliases=sorted(set(str(a) for a in aliases)), ipv4_address=address)
        seen[name] = entry
        result.append(entry)
    if len(result) > 1 and any(entry['name'] in SPECIAL_NETWORK_MODES for entry in result):
        raise SpecError('%s: the %s network cannot be combined with other networks.' % (
            option, [entry['name'] for entry in result if entry['name'] in SPECIAL_NETWORK_MODES][0]))
    for entry in result:
        if entry['name'] in SPECIAL_NETWORK_MODES + ('bridge', ) and (entry['aliases'] or entry['ipv4_address']):
            raise SpecError('%s: aliases and ipv4_address need a user-defined network, not %s.' % (option, entry['name']))
    return result


def namespace_aliases(namespace, service):
    """Return the aliases of a service on its namespace network (see ``_namespace.service_aliases``)."""
    return list(_namespace.service_aliases(namespace, service))


# --- small normalisers -------------------------------------------------------------------------------


def _optional_text(value, option):
    if value is None:
        return None
    if isinstance(value, (dict, list, tuple, bool)):
        raise _bad(option, 'must be a string, not %s' % _q(value))
    return str(value) or None


def _bool_or_none(value, option):
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ('true', 'yes', 'on', '1', 'false', 'no', 'off', '0'):
        return value.strip().lower() in ('true', 'yes', 'on', '1')
    raise _bad(option, 'must be true or false, not %s' % _q(value))


def _string_list(value, option):
    """A list of strings (a single string counts as a list of one); ``None`` gives ``[]``."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise _bad(option, 'must be a list of strings, not %s' % _q(value))
    result = []
    for item in value:
        if item is None or isinstance(item, (dict, list, tuple, bool)):
            raise _bad(option, 'must be a list of strings, not a list holding %s' % _q(item))
        result.append(str(item).strip())
    return result


def _capabilities(value, option):
    result = set()
    for item in _string_list(value, option):
        name = item.upper()
        if not re.match(r'^[A-Z_0-9]+$', name):
            raise _bad(option, 'has %s, which is not a capability such as NET_ADMIN or CAP_NET_ADMIN' % _q(item))
        if name != 'ALL' and not name.startswith('CAP_'):
            name = 'CAP_' + name
        result.add(name)
    return sorted(result)


def _capabilities_actual(values):
    return _capabilities(values or [], 'capabilities')


def _ulimits(value, option):
    """``{nofile: 1024}``, ``{nofile: {soft: 1024, hard: 2048}}`` or ``['nofile=1024:2048']`` -> sorted list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = {}
        for item in value:
            if isinstance(item, dict) and 'name' in item:
                items[item['name']] = dict((k, v) for k, v in item.items() if k != 'name')
                continue
            name, sep, limits = str(item).partition('=')
            if not sep:
                raise _bad(option, 'has %s; write NAME=SOFT[:HARD], for example nofile=1024:2048' % _q(item))
            soft, sep, hard = limits.partition(':')
            items[name.strip()] = dict(soft=soft, hard=hard if sep else soft)
        value = items
    if not isinstance(value, dict):
        raise _bad(option, 'must be a mapping such as {nofile: 1024} or {nofile: {soft: 1024, hard: 2048}}, not %s' % _q(value))
    result = []
    for name, limits in value.items():
        name = str(name)
        if not _ULIMIT_NAME_RE.match(name):
            raise _bad(option, 'has the limit %s, which is not a ulimit name such as nofile or nproc' % _q(name))
        if isinstance(limits, dict):
            unknown = sorted(str(key) for key in limits if key not in ('soft', 'hard'))
            if unknown:
                raise _bad(option, 'has the unknown key %s for %s; use soft and hard' % (_q(unknown[0]), name))
            soft, hard = limits.get('soft'), limits.get('hard')
            if soft is None and hard is None:
                raise _bad(option, 'gives neither soft nor hard for %s' % name)
            soft = hard if soft is None else soft
            hard = soft if hard is None else hard
        else:
            soft = hard = limits
        numbers = []
        for number in (soft, hard):
            if isinstance(number, bool):
                number = None
            try:
                number = int(str(number).strip())
            except (TypeError, ValueError):
                raise _bad(option, 'has %s for %s, which is not a whole number' % (_q(number), name))
            if number < -1:
                raise _bad(option, 'has %s for %s, which is negative' % (number, name))
            numbers.append(number)
        if numbers[1] != -1 and (numbers[0] == -1 or numbers[0] > numbers[1]):
            raise _bad(option, 'has a soft limit %s above the hard limit %s for %s' % (numbers[0], numbers[1], name))
        result.append(dict(name=name, soft=numbers[0], hard=numbers[1]))
    return sorted(result, key=lambda item: item['name'])


def _devices(value, option):
    result = []
    for item in _string_list(value, option):
        parts = item.split(':')
        if len(parts) > 3 or not parts[0].startswith('/'):
            raise _bad(option, 'has %s; write /HOST/DEVICE[:/CONTAINER/DEVICE[:PERMISSIONS]], for example /dev/fuse' % _q(item))
        host = parts[0]
        container = host
        permissions = 'rwm'
        if len(parts) >= 2:
            if parts[1].startswith('/'):
                container = parts[1]
                if len(parts) == 3:
                    permissions = parts[2]
            elif len(parts) == 2:
                permissions = parts[1]
            else:
                raise _bad(option, 'has %s; the path in the container must be absolute' % _q(item))
        if not permissions or not set(permissions) <= set('rwm'):
            raise _bad(option, 'has %s; the permissions are made of r, w and m' % _q(item))
        result.append(dict(path_on_host=host, path_in_container=container, permissions=permissions))
    return sorted(result, key=lambda d: (d['path_in_container'], d['path_on_host']))


def _extra_hosts(value, option):
    """``{host: ip}`` or ``['host:ip', 'host=ip']`` -> sorted ``['host:ip']``."""
    if value is None:
        return []
    pairs = []
    if isinstance(value, dict):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        for item in _string_list(value, option):
            if '=' in item:
                host, sep, address = item.partition('=')
            else:
                host, sep, address = item.partition(':')
            if not sep:
                raise _bad(option, 'has %s; write HOST:IP or HOST=IP' % _q(item))
            pairs.append((host, address))
    result = set()
    for host, address in pairs:
        host = str(host).strip()
        address = str(address).strip()
        if address.startswith('[') and address.endswith(']'):
            address = address[1:-1]
        if not HOSTNAME_RE.match(host):
            raise _bad(option, 'has the host name %s, which is not valid' % _q(host))
        if address != 'host-gateway':
            try:
                address = str(ipaddress.ip_address(address))
            except ValueError:
                raise _bad(option, 'has %s for %s, which is not an IP address (or host-gateway)' % (_q(address), host))
        result.add('%s:%s' % (host, address))
    return sorted(result)


def _extra_hosts_actual(values):
    result = set()
    for item in values or []:
        host, sep, address = item.partition(':')
        result.add('%s:%s' % (host, address))
    return sorted(result)


def _dns(value, option):
    result = []
    for item in _string_list(value, option):
        try:
            result.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise _bad(option, 'has %s, which is not an IP address' % _q(item))
    return result


def _dns_search(value, option):
    result = []
    for item in _string_list(value, option):
        if item != '.' and not HOSTNAME_RE.match(item):
            raise _bad(option, 'has %s, which is not a domain name' % _q(item))
        result.append(item)
    return result


def _tmpfs(value, option):
    """``{'/run': 'size=64m'}`` or ``['/run:size=64m', '/tmp']`` -> ``{target: options}``."""
    if value is None:
        return {}
    if isinstance(value, dict):
        items = [(str(k), '' if v is None else str(v)) for k, v in value.items()]
    else:
        items = []
        for item in _string_list(value, option):
            target, sep, options = item.partition(':')
            items.append((target, options))
    result = {}
    for target, options in items:
        if not target.startswith('/'):
            raise _bad(option, 'has %s; the path in the container must be absolute' % _q(target))
        result[target.rstrip('/') or '/'] = options
    return result


def _sysctls(value, option):
    result = string_map(value, option)
    for key in result:
        if not _SYSCTL_RE.match(key):
            raise _bad(option, 'has %s, which is not a kernel parameter such as net.core.somaxconn' % _q(key))
    return result


def _mode(value, option, allowed):
    value = _optional_text(value, option)
    if value is None:
        return None
    if value in allowed or value.startswith('container:') and len(value) > len('container:'):
        return value
    raise _bad(option, 'must be %s or container:NAME, not %s' % (' or '.join(allowed), _q(value)))


def _expose(value, option):
    if value is None:
        value = []
    elif isinstance(value, (int, str)) and not isinstance(value, bool):
        value = [value]
    result = set()
    for item in (value if isinstance(value, (list, tuple)) else [value]):
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise _bad(option, 'must be a list of ports such as 80, 8000-8010 or 53/udp, not %s' % _q(item))
        text, sep, protocol = str(item).strip().partition('/')
        protocol = _protocol(protocol if sep else 'tcp', option)
        for number in _port_number(text, option):
            result.add('%d/%s' % (number, protocol))
    return sorted(result, key=_port_text_key)


def _port_text_key(text):
    number, sep, protocol = text.partition('/')
    return (int(number) if number.isdigit() else 0, protocol)


def _stop_timeout(value, option):
    if value is None:
        return None
    if isinstance(value, bool):
        raise _bad(option, 'must be a whole number of seconds, not %s' % _q(value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _bad(option, 'must be a whole number of seconds, not %s' % _q(value))
    if number < 0 or number > 2 ** 31 - 1:
        raise _bad(option, 'must be between 0 and 2147483647 seconds, not %s' % number)
    return number


def _absolute_path(value, option):
    value = _optional_text(value, option)
    if value is not None and not value.startswith('/'):
        raise _bad(option, 'must be an absolute path, not %s' % _q(value))
    return value


def _stop_signal(value, option):
    value = _optional_text(value, option)
    if value is not None and not SIGNAL_RE.match(value):
        raise _bad(option, 'is not a signal name such as SIGTERM: %s' % _q(value))
    return value


def _cpus(value, option):
    if value is None:
        return None
    if isinstance(value, bool):
        raise _bad(option, 'must be a number of CPUs such as 0.5 or 2, not %s' % _q(value))
    try:
        cpus = float(value)
    except (TypeError, ValueError):
        raise _bad(option, 'must be a number of CPUs such as 0.5 or 2, not %s' % _q(value))
    if not math.isfinite(cpus) or cpus < 0:
        raise _bad(option, 'must be a number of CPUs of 0 or more, not %s' % _q(value))
    if 0 < cpus < 0.01:
        raise _bad(option, 'must be at least 0.01, not %s' % _q(value))
    return cpus or None


# --- what the engine holds, in spec terms -----------------------------------------------------------


def env_map(items):
    result = {}
    for item in items or []:
        key, sep, val = item.partition('=')
        result[key] = val
    return result


def _port_key(port):
    return (port['container_port'], port['protocol'], port['host_ip'], port['host_port'] or 0)


def actual_ports(host_config):
    result = []
    for key, bindings in sorted((host_config.get('PortBindings') or {}).items()):
        number, sep, protocol = key.partition('/')
        for binding in bindings or [{}]:
            binding = binding or {}
            host_ip = binding.get('HostIp') or ''
            if host_ip == '0.0.0.0':
                host_ip = ''
            host_port = binding.get('HostPort') or ''
            result.append(dict(container_port=int(number), protocol=protocol or 'tcp', host_ip=host_ip,
                               host_port=int(host_port) if host_port.isdigit() and int(host_port) else None))
    return sorted(result, key=_port_key)


def actual_mounts(host_config):
    """The mounts of a container (``Mounts`` and ``Binds``; the ``Tmpfs`` option is separate)."""
    result = {}
    for mount in host_config.get('Mounts') or []:
        kind = (mount.get('Type') or 'volume').lower()
        target = (mount.get('Target') or '').rstrip('/') or '/'
        source = mount.get('Source') or None
        if kind == 'bind' and source:
            source = source.rstrip('/') or '/'
        result[target] = dict(type=kind, source=source, target=target, read_only=bool(mount.get('ReadOnly')))
        if (mount.get('VolumeOptions') or {}).get('NoCopy'):
            result[target]['no_copy'] = True
    for bind in host_config.get('Binds') or []:
        parts = bind.split(':')
        if len(parts) < 2:
            continue
        source, target = parts[0], parts[1].rstrip('/') or '/'
        options = parts[2].split(',') if len(parts) > 2 else []
        result[target] = dict(type='bind' if source.startswith('/') else 'volume', source=source, target=target,
                              read_only='ro' in options)
    return sorted(result.values(), key=lambda m: m['target'])


def actual_networks(container):
    """Return the container's networks as ``{name: {aliases, ipv4_address, engine_added}}``."""
    networks = (container.get('NetworkSettings') or {}).get('Networks') or {}
    name = (container.get('Name') or '').lstrip('/')
    engine_added = {(container.get('Id') or '')[:12], name}
    hostname = ((container.get('Config') or {}).get('Hostname') or '')
    if hostname:
        # The engine also adds the container's host name as an alias.
        engine_added.add(hostname)
    result = {}
    for net_name, endpoint in networks.items():
        endpoint = endpoint or {}
        aliases = [alias for alias in endpoint.get('Aliases') or [] if alias]
        ipam = endpoint.get('IPAMConfig') or {}
        result[net_name] = dict(aliases=aliases, engine_added=engine_added, ipv4_address=ipam.get('IPv4Address') or None)
    return result


def network_mode(container):
    return ((container.get('HostConfig') or {}).get('NetworkMode') or 'default')


def desired_networks(spec):
    """Return the networks the container must be on: the declared ones, or the default ``bridge``."""
    return spec['networks'] or [dict(name='bridge', aliases=[], ipv4_address=None)]


def _nanos(value):
    return int(value or 0)


def _healthcheck_tuple(health, with_start_interval=False):
    """Return a comparable form of an engine health check (``Config.Healthcheck``)."""
    health = health or {}
    test = list(health.get('Test') or [])
    if not test:
        return None
    if test[0] == 'NONE':
        return (('NONE', ), 0, 0, 0, 0, 0)
    return (tuple(test), _nanos(health.get('Interval')), _nanos(health.get('Timeout')), int(health.get('Retries') or 0),
            _nanos(health.get('StartPeriod')), _nanos(health.get('StartInterval')) if with_start_interval else 0)


def _healthcheck_view(health_tuple):
    if health_tuple is None:
        return None
    test, interval, timeout, retries, start_period, start_interval = health_tuple
    return dict(test=list(test), interval=interval or None, timeout=timeout or None, retries=retries or None,
                start_period=start_period or None, start_interval=start_interval or None)


def expected_healthcheck(spec_health, image_health, with_start_interval=False):
    """Return the health check a container created with ``spec_health`` has, as the engine merges it with the image's."""
    if spec_health is None:
        return _healthcheck_tuple(image_health, with_start_interval)
    if spec_health['test'] == ['NONE']:
        return (('NONE', ), 0, 0, 0, 0, 0)
    image_health = image_health or {}
    merged = dict(
        Test=spec_health['test'] or image_health.get('Test'),
        Interval=spec_health['interval'] or image_health.get('Interval'),
        Timeout=spec_health['timeout'] or image_health.get('Timeout'),
        Retries=spec_health['retries'] or image_health.get('Retries'),
        StartPeriod=spec_health['start_period'] or image_health.get('StartPeriod'),
        StartInterval=spec_health.get('start_interval') or image_health.get('StartInterval'),
    )
    return _healthcheck_tuple(merged, with_start_interval)


def api_at_least(version, wanted):
    """Tell whether the engine API ``version`` (``'1.41'``) is at least ``wanted``; unknown counts as old."""
    try:
        return tuple(int(part) for part in str(version).split('.')) >= tuple(int(part) for part in wanted.split('.'))
    except ValueError:
        return False


def actual_cpus(host_config):
    nano = int(host_config.get('NanoCpus') or 0)
    if nano:
        return nano / 1e9
    quota, period = int(host_config.get('CpuQuota') or 0), int(host_config.get('CpuPeriod') or 0)
    if quota > 0 and period > 0:
        return round(float(quota) / period, 6)
    return None


# --- the table ----------------------------------------------------------------------------------------


class Context(object):
    """What a comparison or a create request needs besides the spec: the inspected container and image and
    a few facts of the engine. Built once per container; the table walk makes no request."""

    __slots__ = ('container', 'config', 'host_config', 'image', 'image_config', 'default_log_driver', 'api_version')

    def __init__(self, container=None, image=None, default_log_driver=DEFAULT_LOG_DRIVER, api_version=None):
        self.container = container or {}
        self.config = self.container.get('Config') or {}
        self.host_config = self.container.get('HostConfig') or {}
        self.image = image
        self.image_config = (image or {}).get('Config') or {}
        self.default_log_driver = default_log_driver or DEFAULT_LOG_DRIVER
        self.api_version = api_version


_SKIP = object()


class Option(object):
    """One option of a container.

    :param name: the module option, which is also the field of the container spec.
    :param argspec: its argument-spec entry (``None`` for a spec field that is no module option).
    :param compose: its Compose service key, or ``None``.
    :param from_compose: ``f(value, option)`` turning the Compose value into a module value (default: as is).
    :param normalise: ``f(value, option)`` returning the spec value; raises :class:`SpecError` naming the option.
    :param actual: ``f(ctx)`` returning the container's value in spec terms.
    :param expected: ``f(spec_value, ctx)`` returning what the container must hold, with the defaults of the image
        and the engine filled in; ``_SKIP`` when there is nothing to compare (for example before the image is known).
    :param write: ``f(spec_value, config, host_config, ctx)`` writing the value into the create request.
    :param update: ``f(spec_value, ctx)`` returning keyword arguments of ``APIClient.update_container`` that change the
        value in place, or ``None`` when the container must be replaced. ``None`` (the default) for options that are
        never changed in place.
    :param compare: ``f(spec, ctx)`` returning ``(before, after)`` or ``None``, for options whose comparison needs
        more than ``actual`` and ``expected``.
    """

    __slots__ = ('name', 'argspec', 'compose', 'from_compose', 'normalise', 'actual', 'expected', 'write', 'update',
                 'compare')

    def __init__(self, name, argspec, compose=None, from_compose=None, normalise=None, actual=None, expected=None,
                 write=None, update=None, compare=None):
        self.name = name
        self.argspec = argspec
        self.compose = compose
        self.from_compose = from_compose
        self.normalise = normalise
        self.actual = actual
        self.expected = expected
        self.write = write
        self.update = update
        self.compare = compare


def _need_image(value, ctx, default):
    """Expected value ``value``, or the image's ``default`` (nothing to compare before the image is known)."""
    if value is not None:
        return value
    if ctx.image is None:
        return _SKIP
    return default or None


def _config_writer(key, skip_none=True):
    def write(value, config, host_config, ctx):
        if value is not None or not skip_none:
            config[key] = value
    return write


def _host_writer(key, empty=(None, [], {})):
    def write(value, config, host_config, ctx):
        if value not in empty:
            host_config[key] = value
    return write


# Command and entrypoint: declared, or the image's (an entrypoint declared drops the image's command).

def _normalise_command(value, option):
    return parse_command(value, option)


def _compare_command(spec, ctx):
    if ctx.image is None and spec['command'] is None:
        return None
    want = _wanted_command(spec, ctx)
    have = list(ctx.config.get('Cmd') or [])
    return None if have == want else (have, want)


def _wanted_command(spec, ctx):
    if spec['entrypoint'] is not None:
        return list(spec['command'] or [])
    if spec['command']:
        return list(spec['command'])
    # No command, or an empty one without entrypoint: the engine takes the image's.
    return list(ctx.image_config.get('Cmd') or [])


def _compare_entrypoint(spec, ctx):
    if ctx.image is None and spec['entrypoint'] is None:
        return None
    want = list(spec['entrypoint'] if spec['entrypoint'] is not None else (ctx.image_config.get('Entrypoint') or []))
    have = list(ctx.config.get('Entrypoint') or [])
    return None if have == want else (have, want)


def _write_command(spec_value, config, host_config, ctx):
    if spec_value:
        config['Cmd'] = spec_value


def _write_entrypoint(spec_value, config, host_config, ctx):
    if spec_value is not None:
        config['Entrypoint'] = spec_value
        config.setdefault('Cmd', [])


def _compare_env(spec, ctx):
    if ctx.image is None:
        return None
    want = env_map(ctx.image_config.get('Env'))
    want.update(spec['env'])
    have = env_map(ctx.config.get('Env'))
    return None if have == want else (have, want)


def _compared_labels(labels):
    return dict((k, v) for k, v in (labels or {}).items() if k not in _OLD_LABELS and not k.startswith(LABEL_ENGINE_PREFIX))


def _compare_labels(spec, ctx):
    if ctx.image is None:
        return None
    want = dict(ctx.image_config.get('Labels') or {})
    want.update(spec['labels'])
    want = _compared_labels(want)
    have = _compared_labels(ctx.config.get('Labels'))
    return None if have == want else (have, want)


def _compare_ports(spec, ctx):
    have = actual_ports(ctx.host_config)
    return None if have == spec['ports'] else (have, spec['ports'])


def _write_ports(value, config, host_config, ctx):
    exposed = config.setdefault('ExposedPorts', {})
    bindings = host_config.setdefault('PortBindings', {})
    for port in value:
        key = '%s/%s' % (port['container_port'], port['protocol'])
        exposed[key] = {}
        bindings.setdefault(key, []).append(dict(HostIp=port['host_ip'], HostPort=str(port['host_port']) if port['host_port'] else ''))


def _compare_expose(spec, ctx):
    if ctx.image is None:
        return None
    # Published ports are exposed too; they are the ports option's business, so both sides leave them out.
    want = set(spec['expose'])
    want.update(ctx.image_config.get('ExposedPorts') or {})
    want -= set('%s/%s' % (port['container_port'], port['protocol']) for port in spec['ports'])
    have = set(ctx.config.get('ExposedPorts') or {})
    have -= set(ctx.host_config.get('PortBindings') or {})
    if have == want:
        return None
    return sorted(have, key=_port_text_key), sorted(want, key=_port_text_key)


def _write_expose(value, config, host_config, ctx):
    exposed = config.setdefault('ExposedPorts', {})
    for key in value:
        exposed[key] = {}


def _compare_mounts(spec, ctx):
    have = actual_mounts(ctx.host_config)
    by_target = dict((mount['target'], mount) for mount in spec['mounts'])
    shown = []
    for mount in have:
        wanted = by_target.get(mount['target'])
        if wanted is not None and wanted['type'] == 'volume' == mount['type'] and wanted['source'] is None:
            # An anonymous volume matches a volume of any name (a replacement carries it over by name).
            mount = dict(mount, source=None)
        shown.append(mount)
    return None if shown == spec['mounts'] else (shown, spec['mounts'])


def _write_mounts(value, config, host_config, ctx):
    mounts = host_config.setdefault('Mounts', [])
    for mount in value:
        entry = dict(Type=mount['type'], Target=mount['target'], ReadOnly=mount['read_only'])
        if mount['source']:
            entry['Source'] = mount['source']
        if mount.get('no_copy'):
            entry['VolumeOptions'] = dict(NoCopy=True)
        mounts.append(entry)


def _compare_networks(spec, ctx):
    actual = actual_networks(ctx.container)
    have = {}
    want = {}
    for entry in desired_networks(spec):
        want[entry['name']] = dict(aliases=sorted(entry['aliases']), ipv4_address=entry['ipv4_address'])
    for net_name, endpoint in actual.items():
        wanted = want.get(net_name, {})
        declared = set(wanted.get('aliases') or [])
        aliases = sorted(set(a for a in endpoint['aliases'] if a not in endpoint['engine_added'] or a in declared))
        address = endpoint['ipv4_address']
        if net_name in want and wanted.get('ipv4_address') is None:
            # An address the task does not declare (for example pinned at a reconnection) is no difference.
            address = None
        have[net_name] = dict(aliases=aliases, ipv4_address=address)
    if have == want:
        return None
    return [dict(name=k, **v) for k, v in sorted(have.items())], [dict(name=k, **v) for k, v in sorted(want.items())]


def _networks_in_place(spec, ctx, before, after):
    names = set(item['name'] for item in before) | set(item['name'] for item in after)
    return not names & set(SPECIAL_NETWORK_MODES) and not network_mode(ctx.container).startswith('container:')


def _compare_restart(spec, ctx):
    policy = ctx.host_config.get('RestartPolicy') or {}
    have = dict(name=policy.get('Name') or 'no', max_retries=int(policy.get('MaximumRetryCount') or 0))
    if have['name'] != 'on-failure':
        have['max_retries'] = 0
    return None if have == spec['restart_policy'] else (have, spec['restart_policy'])


def _write_restart(value, config, host_config, ctx):
    host_config['RestartPolicy'] = dict(Name=value['name'], MaximumRetryCount=value['max_retries'])


def _update_restart(value, ctx):
    return dict(restart_policy=dict(Name=value['name'], MaximumRetryCount=value['max_retries']))


def _compare_healthcheck(spec, ctx):
    if ctx.image is None and spec['healthcheck'] is None:
        return None
    # Engines before API 1.44 neither take nor report StartInterval; one that reports it knows it.
    with_start_interval = api_at_least(ctx.api_version, '1.44') or 'StartInterval' in (ctx.config.get('Healthcheck') or {})
    want = expected_healthcheck(spec['healthcheck'], ctx.image_config.get('Healthcheck'), with_start_interval)
    have = _healthcheck_tuple(ctx.config.get('Healthcheck'), with_start_interval)
    return None if have == want else (_healthcheck_view(have), _healthcheck_view(want))


def _write_healthcheck(value, config, host_config, ctx):
    if value is None:
        return
    fields = [('Test', 'test'), ('Interval', 'interval'), ('Timeout', 'timeout'), ('Retries', 'retries'),
              ('StartPeriod', 'start_period')]
    if api_at_least(ctx.api_version, '1.44'):
        # Engines before API 1.44 have no StartInterval.
        fields.append(('StartInterval', 'start_interval'))
    config['Healthcheck'] = dict((key, value[field]) for key, field in fields if value.get(field))


def _compare_hostname(spec, ctx):
    have = ctx.config.get('Hostname') or None
    if spec['hostname'] is not None:
        return None if have == spec['hostname'] else (have, spec['hostname'])
    mode = network_mode(ctx.container)
    if mode != 'host' and not mode.startswith('container:') and have and have != (ctx.container.get('Id') or '')[:12]:
        return have, None
    return None


def _compare_memory(spec, ctx):
    have = int(ctx.host_config.get('Memory') or 0) or None
    return None if have == spec['memory'] else (have, spec['memory'])


def _update_memory(value, ctx):
    if not value:
        return None
    return dict(mem_limit=value, memswap_limit=value * 2)


def _compare_cpus(spec, ctx):
    have = actual_cpus(ctx.host_config)
    want = spec['cpus']
    if (have or 0) == (want or 0) or (have and want and int(round(have * CPU_PERIOD)) == int(round(want * CPU_PERIOD))):
        return None
    return have, want


def _write_cpus(value, config, host_config, ctx):
    if value:
        # As a CFS quota rather than NanoCpus: the engine's update API (and the SDK) can change a quota in place.
        host_config['CpuPeriod'] = CPU_PERIOD
        host_config['CpuQuota'] = int(round(value * CPU_PERIOD))


def _update_cpus(value, ctx):
    if not value or int(ctx.host_config.get('NanoCpus') or 0):
        # Removing the limit, or a container created with NanoCpus (which the update API cannot change): replace.
        return None
    return dict(cpu_period=CPU_PERIOD, cpu_quota=int(round(value * CPU_PERIOD)))


def _compare_log_driver(spec, ctx):
    have = (ctx.host_config.get('LogConfig') or {}).get('Type') or None
    want = spec['log_driver'] or ctx.default_log_driver
    return None if not have or have == want else (have, want)


def _compare_log_options(spec, ctx):
    have = dict((ctx.host_config.get('LogConfig') or {}).get('Config') or {})
    want_driver = spec['log_driver'] or ctx.default_log_driver
    if want_driver == ctx.default_log_driver:
        # The engine adds its own default options (daemon.json log-opts, which it does not tell) to
        # containers of its default driver: there, only the declared options count.
        compared = dict((k, v) for k, v in have.items() if k in spec['log_options'])
    else:
        compared = have
    return None if compared == spec['log_options'] else (have, spec['log_options'])


def _write_log_driver(value, config, host_config, ctx):
    if value:
        host_config.setdefault('LogConfig', dict(Type='', Config={}))['Type'] = value


def _write_log_options(value, config, host_config, ctx):
    if value:
        host_config.setdefault('LogConfig', dict(Type='', Config={}))['Config'] = dict(value)


def _compare_ipc(spec, ctx):
    have = ctx.host_config.get('IpcMode') or ''
    if spec['ipc'] is None:
        return None if have in DEFAULT_IPC_MODES else (have, None)
    return None if have == spec['ipc'] else (have or None, spec['ipc'])


#: Security options the engine adds by itself (``label=disable`` with the host's PID or IPC namespace).
ENGINE_SECURITY_OPTS = ('label=disable', 'label:disable')


def _compare_security_opt(spec, ctx):
    want = spec['security_opt']
    have = sorted(item for item in ctx.host_config.get('SecurityOpt') or [] if item not in ENGINE_SECURITY_OPTS or item in want)
    return None if have == want else (have, want)


def _compare_simple(actual, default=None):
    """Compare ``actual(ctx)`` with the spec value, ``default`` standing for a value not declared."""
    def compare(name):
        def run(spec, ctx):
            want = spec[name] if spec[name] is not None else default
            have = actual(ctx)
            return None if have == want else (have, want)
        return run
    return compare


def _compare_with_image(key):
    """A text value of ``Config`` the image may supply (user, working_dir, stop_signal)."""
    def compare(name):
        def run(spec, ctx):
            want = _need_image(spec[name], ctx, ctx.image_config.get(key))
            if want is _SKIP:
                return None
            have = ctx.config.get(key) or None
            return None if have == want else (have, want)
        return run
    return compare


# Compose values turned into module values.

def _compose_stop_grace_period(value, option):
    nanoseconds = parse_duration(value, option)
    return None if nanoseconds is None else int(math.ceil(nanoseconds / 1e9))


def _compose_bool(value, option):
    return _bool_or_none(value, option)


def _compose_text(value, option):
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _bad(option, 'must be a string, not %s' % _q(value))
    return str(value)


def _simple_option(name, argspec, actual, default=None, **kwargs):
    """An option compared as ``actual(ctx)`` against the spec value, ``default`` standing for a value not declared."""
    return Option(name, argspec, compare=_compare_simple(actual, default)(name), **kwargs)


def _image_option(name, argspec, key, **kwargs):
    """A text option of ``Config`` the image may supply."""
    return Option(name, argspec, compare=_compare_with_image(key)(name), write=_config_writer(key), **kwargs)


_HEALTHCHECK_ARGSPEC = dict(type='dict', options=dict(
    test=dict(type='raw'),
    interval=dict(type='str'),
    timeout=dict(type='str'),
    retries=dict(type='int'),
    start_period=dict(type='str'),
    start_interval=dict(type='str'),
    disable=dict(type='bool', default=False),
))

#: The options, in the order of the spec (and of the differences).
OPTIONS = (
    Option('command', dict(type='raw'), compose='command', normalise=_normalise_command, compare=_compare_command,
           write=_write_command),
    Option('entrypoint', dict(type='raw'), compose='entrypoint', normalise=lambda v, o: parse_command(v, o) or None,
           compare=_compare_entrypoint, write=_write_entrypoint),
    Option('env', dict(type='dict'), normalise=string_map, compare=_compare_env,
           write=lambda v, c, h, x: c.__setitem__('Env', ['%s=%s' % item for item in sorted(v.items())])),
    Option('labels', dict(type='dict'), compare=_compare_labels,
           write=lambda v, c, h, x: c.__setitem__('Labels', dict(v))),
    Option('ports', dict(type='list', elements='str', aliases=['published_ports']), compose='ports',
           compare=_compare_ports, write=_write_ports),
    Option('expose', dict(type='list', elements='raw'), compose='expose', normalise=_expose, compare=_compare_expose,
           write=_write_expose),
    Option('mounts', dict(type='list', elements='dict', options=dict(
        type=dict(type='str', default='volume', choices=list(MOUNT_TYPES)),
        source=dict(type='str'),
        target=dict(type='str', required=True),
        read_only=dict(type='bool', default=False),
        no_copy=dict(type='bool', default=False),
    )), compare=_compare_mounts, write=_write_mounts),
    _simple_option('tmpfs', dict(type='raw'), lambda ctx: dict(
        ((k.rstrip('/') or '/'), v or '') for k, v in (ctx.host_config.get('Tmpfs') or {}).items()), default={},
        compose='tmpfs', normalise=_tmpfs, write=_host_writer('Tmpfs')),
    Option('networks', dict(type='list', elements='dict', options=dict(
        name=dict(type='str', required=True),
        aliases=dict(type='list', elements='str'),
        ipv4_address=dict(type='str'),
    )), normalise=normalise_networks, compare=_compare_networks),
    Option('restart_policy', dict(type='str', default='no', choices=list(RESTART_POLICIES)), compare=_compare_restart,
           write=_write_restart, update=_update_restart),
    Option('healthcheck', _HEALTHCHECK_ARGSPEC, normalise=normalise_healthcheck, compare=_compare_healthcheck,
           write=_write_healthcheck),
    _simple_option('init', dict(type='bool'), lambda ctx: bool(ctx.host_config.get('Init')), default=False,
                   compose='init', from_compose=_compose_bool, normalise=_bool_or_none,
                   write=lambda v, c, h, x: h.__setitem__('Init', v)),
    _image_option('user', dict(type='str'), 'User', compose='user', from_compose=_compose_text, normalise=_optional_text),
    _image_option('working_dir', dict(type='str'), 'WorkingDir', compose='working_dir', from_compose=_compose_text,
                  normalise=_absolute_path),
    Option('hostname', dict(type='str'), compose='hostname', from_compose=_compose_text, normalise=parse_hostname,
           compare=_compare_hostname, write=_config_writer('Hostname')),
    Option('memory', dict(type='str'), normalise=lambda v, o: parse_size(v, o, minimum=6 * 1024 ** 2),
           compare=_compare_memory, write=_host_writer('Memory'), update=_update_memory),
    Option('cpus', dict(type='float'), normalise=_cpus, compare=_compare_cpus, write=_write_cpus, update=_update_cpus),
    _simple_option('shm_size', dict(type='str'), lambda ctx: int(ctx.host_config.get('ShmSize') or 0) or DEFAULT_SHM_SIZE,
                   default=DEFAULT_SHM_SIZE, compose='shm_size', normalise=parse_size, write=_host_writer('ShmSize')),
    Option('log_driver', dict(type='str'), normalise=_optional_text, compare=_compare_log_driver, write=_write_log_driver),
    Option('log_options', dict(type='dict'), normalise=string_map, compare=_compare_log_options, write=_write_log_options),
    _simple_option('stop_timeout', dict(type='int'), lambda ctx: ctx.config.get('StopTimeout'),
                   compose='stop_grace_period', from_compose=_compose_stop_grace_period, normalise=_stop_timeout,
                   write=_config_writer('StopTimeout')),
    _image_option('stop_signal', dict(type='str'), 'StopSignal', compose='stop_signal', from_compose=_compose_text,
                  normalise=_stop_signal),
    _simple_option('cap_add', dict(type='list', elements='str'), lambda ctx: _capabilities_actual(ctx.host_config.get('CapAdd')),
                   default=[], compose='cap_add', normalise=_capabilities, write=_host_writer('CapAdd')),
    _simple_option('cap_drop', dict(type='list', elements='str'), lambda ctx: _capabilities_actual(ctx.host_config.get('CapDrop')),
                   default=[], compose='cap_drop', normalise=_capabilities, write=_host_writer('CapDrop')),
    _simple_option('ulimits', dict(type='raw'), lambda ctx: sorted(
        (dict(name=u.get('Name'), soft=int(u.get('Soft') or 0), hard=int(u.get('Hard') or 0))
         for u in ctx.host_config.get('Ulimits') or []), key=lambda u: u['name']),
        default=[], compose='ulimits', normalise=_ulimits,
        write=lambda v, c, h, x: h.__setitem__('Ulimits', [dict(Name=u['name'], Soft=u['soft'], Hard=u['hard']) for u in v]) if v else None),
    _simple_option('devices', dict(type='list', elements='str'), lambda ctx: sorted(
        (dict(path_on_host=d.get('PathOnHost'), path_in_container=d.get('PathInContainer') or d.get('PathOnHost'),
              permissions=d.get('CgroupPermissions') or 'rwm') for d in ctx.host_config.get('Devices') or []),
        key=lambda d: (d['path_in_container'], d['path_on_host'])),
        default=[], compose='devices', normalise=_devices,
        write=lambda v, c, h, x: h.__setitem__('Devices', [dict(PathOnHost=d['path_on_host'], PathInContainer=d['path_in_container'],
                                                                CgroupPermissions=d['permissions']) for d in v]) if v else None),
    _simple_option('extra_hosts', dict(type='raw'), lambda ctx: _extra_hosts_actual(ctx.host_config.get('ExtraHosts')),
                   default=[], compose='extra_hosts', normalise=_extra_hosts, write=_host_writer('ExtraHosts')),
    _simple_option('dns', dict(type='list', elements='str'), lambda ctx: list(ctx.host_config.get('Dns') or []), default=[],
                   compose='dns', normalise=_dns, write=_host_writer('Dns')),
    _simple_option('dns_search', dict(type='list', elements='str'), lambda ctx: list(ctx.host_config.get('DnsSearch') or []),
                   default=[], compose='dns_search', normalise=_dns_search, write=_host_writer('DnsSearch')),
    _simple_option('read_only', dict(type='bool'), lambda ctx: bool(ctx.host_config.get('ReadonlyRootfs')), default=False,
                   compose='read_only', from_compose=_compose_bool, normalise=_bool_or_none,
                   write=lambda v, c, h, x: h.__setitem__('ReadonlyRootfs', True) if v else None),
    _simple_option('sysctls', dict(type='dict'), lambda ctx: dict(ctx.host_config.get('Sysctls') or {}), default={},
                   compose='sysctls', normalise=_sysctls, write=_host_writer('Sysctls')),
    Option('security_opt', dict(type='list', elements='str'), compose='security_opt',
           normalise=lambda v, o: sorted(set(_string_list(v, o))), compare=_compare_security_opt, write=_host_writer('SecurityOpt')),
    _simple_option('pid', dict(type='str'), lambda ctx: ctx.host_config.get('PidMode') or None, compose='pid',
                   normalise=lambda v, o: _mode(v, o, ('host', )), write=_host_writer('PidMode')),
    Option('ipc', dict(type='str'), compose='ipc', normalise=lambda v, o: _mode(v, o, ('private', 'shareable', 'host', 'none')),
           compare=_compare_ipc, write=_host_writer('IpcMode')),
    _simple_option('tty', dict(type='bool'), lambda ctx: bool(ctx.config.get('Tty')), default=False, compose='tty',
                   from_compose=_compose_bool, normalise=_bool_or_none,
                   write=lambda v, c, h, x: c.__setitem__('Tty', True) if v else None),
    _simple_option('interactive', dict(type='bool'), lambda ctx: bool(ctx.config.get('OpenStdin')), default=False,
                   compose='stdin_open', from_compose=_compose_bool, normalise=_bool_or_none,
                   write=lambda v, c, h, x: c.update(OpenStdin=True, StdinOnce=False) if v else None),
)

OPTIONS_BY_NAME = dict((option.name, option) for option in OPTIONS)
COMPOSE_KEYS = dict((option.compose, option) for option in OPTIONS if option.compose)


#: Module options that are no spec field: they add to one (volumes to mounts, restart_retries to
#: restart_policy, namespace to labels and networks, env_file to env).
INPUT_ARGSPEC = dict(
    volumes=dict(type='list', elements='str'),
    restart_retries=dict(type='int'),
    namespace=dict(type='str'),
    env_file=dict(type='list', elements='path'),
)

#: The fields of a container spec, in order.
SPEC_FIELDS = ('name', 'image') + tuple(option.name for option in OPTIONS)


def container_argument_spec():
    """Return the argument spec of the container options (a fresh dict each call): the table's and the inputs'.

    ``name`` and ``image`` are not in it: each module documents what they mean there.
    """
    spec = {}
    for option in OPTIONS:
        spec[option.name] = copy.deepcopy(option.argspec)
    spec.update(copy.deepcopy(INPUT_ARGSPEC))
    return spec


def container_spec(name, image, volumes=None, restart_retries=None, namespace=None, service=None, extra_labels=None,
                   env_file_values=None, join_namespace=True, **values):
    """Build a normalised spec from module-style values; raise :class:`SpecError` naming the bad option.

    ``values`` are the options of the table (missing ones are not declared). ``volumes`` (short syntax
    strings) and ``mounts`` (dictionaries) end up together in ``mounts``. With ``namespace``, the container
    joins the namespace network with the aliases ``<service>`` and ``<service>.<namespace>`` (``service``
    defaults to ``name``) and gets the namespace labels. ``extra_labels`` are added last (for example the
    stack and replica labels). ``env_file_values`` (already read) are the environment below ``env``.
    With ``join_namespace`` false the container gets the namespace labels but joins only ``networks``
    (a Compose service that lists its networks without ``default``).
    """
    unknown = sorted(set(values) - set(OPTIONS_BY_NAME))
    if unknown:
        raise TypeError('container_spec() got unknown options: %s' % ', '.join(unknown))
    if not name or not isinstance(name, str) or not _CONTAINER_NAME_RE.match(name):
        raise SpecError('name: %r is not a valid container name (letters, digits, _ . - ; at least 2 characters).' % (name, ))
    spec = dict(name=name.lstrip('/'), image=parse_image(image))
    for option in OPTIONS:
        value = values.get(option.name)
        if option.normalise is not None:
            value = option.normalise(value, option.name)
        spec[option.name] = value

    # The fields whose inputs come from more than one option.
    if env_file_values:
        env = string_map(env_file_values, 'env_file')
        env.update(spec['env'])
        spec['env'] = env
    labels = string_map(values.get('labels'), 'labels')
    for key in labels:
        if key.startswith(LABEL_PREFIX):
            raise SpecError('labels: %s is reserved (labels starting with %s are set by the collection).' % (key, LABEL_PREFIX))
    labels[LABEL_MANAGED] = 'true'
    networks = spec['networks']
    if namespace:
        service = service or spec['name']
        labels[LABEL_NAMESPACE] = namespace
        labels[LABEL_SERVICE] = service
        if join_namespace:
            networks = normalise_networks(networks + [dict(name=namespace, aliases=namespace_aliases(namespace, service))])
    labels.update(string_map(extra_labels, 'labels'))
    spec['labels'] = labels
    spec['networks'] = networks

    ports = values.get('ports')
    if not isinstance(ports, (list, tuple, type(None))):
        ports = [ports]
    parsed_ports = []
    for port in ports or []:
        parsed_ports.extend(parse_port(port))
    port_keys = set()
    for port in parsed_ports:
        key = (port['container_port'], port['protocol'], port['host_ip'], port['host_port'])
        if key in port_keys:
            raise SpecError('ports: %s/%s is published twice the same way.' % (port['container_port'], port['protocol']))
        port_keys.add(key)
    spec['ports'] = sorted(parsed_ports, key=_port_key)

    all_mounts = [parse_volume(volume) for volume in volumes or []] + [normalise_mount(mount) for mount in values.get('mounts') or []]
    targets = set(spec['tmpfs'])
    for mount in all_mounts:
        if mount['target'] in targets:
            raise SpecError('volumes/mounts: %s is mounted twice.' % mount['target'])
        targets.add(mount['target'])
    spec['mounts'] = sorted(all_mounts, key=lambda m: m['target'])

    spec['restart_policy'] = normalise_restart_policy(values.get('restart_policy'), restart_retries)
    if spec['command'] == [] and spec['entrypoint'] is None:
        # An empty command without entrypoint is the image's command for the engine: say so.
        spec['command'] = None
    return spec


def compare(spec, container, image, default_log_driver=DEFAULT_LOG_DRIVER, api_version=None):
    """Compare the whole spec with an inspected container; return the list of differences.

    ``image`` is the inspected image of the spec (``None`` when it is not on the engine yet, for
    example in check mode before a pull). ``default_log_driver`` is the engine's default log
    driver (only needed when the spec declares none). No request is made to the engine.
    Each difference is ``{field, before, after, in_place}``; ``before`` is the container's value
    and ``after`` the declared one, both as the spec writes them.
    """
    ctx = Context(container, image, default_log_driver, api_version)
    diffs = []
    if image is None:
        diffs.append(dict(field='image', before=container.get('Image'), after='%s (not on the engine yet)' % spec['image'],
                          in_place=False))
    elif container.get('Image') != image.get('Id'):
        diffs.append(dict(field='image', before='%s (%s)' % (ctx.config.get('Image'), container.get('Image')),
                          after='%s (%s)' % (spec['image'], image.get('Id')), in_place=False))
    for option in OPTIONS:
        found = option.compare(spec, ctx)
        if found is None:
            continue
        before, after = found
        if option.name == 'networks':
            in_place = _networks_in_place(spec, ctx, before, after)
        else:
            in_place = option.update is not None and option.update(spec[option.name], ctx) is not None
        diffs.append(dict(field=option.name, before=before, after=after, in_place=in_place))
    return diffs


def update_body(spec, differences, container=None):
    """Return the keyword arguments of ``APIClient.update_container`` for the in-place differences."""
    ctx = Context(container)
    body = {}
    for diff in differences:
        option = OPTIONS_BY_NAME.get(diff['field'])
        if option is None or option.update is None or not diff['in_place']:
            continue
        body.update(option.update(spec[option.name], ctx) or {})
    return body


def create_config(spec, api_version=None):
    """Return ``(config, later_networks)``: the body of the container create request, and the networks
    to connect after creation (the engine accepts one network at creation with API 1.41)."""
    ctx = Context(api_version=api_version)
    host_config = dict(PortBindings={}, Mounts=[])
    config = dict(Image=spec['image'], ExposedPorts={}, HostConfig=host_config)
    for option in OPTIONS:
        if option.write is not None:
            option.write(spec[option.name], config, host_config, ctx)
    networks = spec['networks']
    later = []
    if networks:
        first = networks[0]
        host_config['NetworkMode'] = first['name']
        if first['name'] not in SPECIAL_NETWORK_MODES:
            config['NetworkingConfig'] = dict(EndpointsConfig={first['name']: endpoint_config(first)})
        later = networks[1:]
    return config, later


def endpoint_config(network):
    endpoint = dict(Aliases=list(network['aliases']) or None)
    if network['ipv4_address']:
        endpoint['IPAMConfig'] = dict(IPv4Address=network['ipv4_address'])
    return endpoint


# --- the module's side --------------------------------------------------------------------------------

#: Module options that describe the configuration (compared with the container).
CONFIG_OPTIONS = tuple(option.name for option in OPTIONS) + tuple(INPUT_ARGSPEC)


def module_spec(params, read_file=None):
    """Return the container spec for the options of a module; raise ``SpecError`` naming the bad option.

    ``read_file(path)`` returns the text of an ``env_file`` (on the managed host).
    """
    if params.get('image') is None:
        given = [name for name in CONFIG_OPTIONS if name != 'restart_policy' and params.get(name) not in (None, [], {})]
        if params.get('restart_policy') not in (None, 'no'):
            given.append('restart_policy')
        if given:
            raise SpecError('image is needed with %s: without image the configuration of the container is not compared.'
                            % ', '.join(sorted(given)))
    env_file_values = None
    if params.get('env_file'):
        env_file_values = {}
        for path in params['env_file']:
            for key, value in read_file(path).items():
                if value is not None:
                    env_file_values[key] = value
    values = dict((option.name, params.get(option.name)) for option in OPTIONS)
    return container_spec(params['name'], params.get('image'), volumes=params.get('volumes'),
                          restart_retries=params.get('restart_retries'), namespace=params.get('namespace'),
                          env_file_values=env_file_values, **values)


def module_diff(plan, facts_before):
    """Return the ``diff`` of a task: the differing fields before and after."""
    if plan['action'] == 'create':
        spec = plan['spec']
        return dict(before={}, after=dict((key, value) for key, value in spec.items() if value not in (None, [], {})))
    if plan['action'] == 'remove':
        return dict(before=facts_before, after={})
    before = dict((d['field'], d['before']) for d in plan['differences'])
    after = dict((d['field'], d['after']) for d in plan['differences'])
    running = bool(facts_before.get('running'))
    for action in plan['actions']:
        if action in ('start', 'stop'):
            before['running'] = running
            after['running'] = action == 'start'
    return dict(before=before, after=after)
