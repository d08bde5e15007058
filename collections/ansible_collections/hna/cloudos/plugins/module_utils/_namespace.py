# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Namespaces: a user-defined bridge network named after the namespace, plus metadata and quotas.

A namespace ``<ns>`` is the Docker network ``<ns>`` labelled ``io.hna.cloudos.namespace=<ns>``,
``io.hna.cloudos.managed=true`` and ``io.hna.cloudos.ns.*`` (region, description, owner, created
time, quotas). Containers and volumes belong to it through their ``io.hna.cloudos.namespace``
label; services are reachable on the network as ``<service>`` and ``<service>.<ns>``.

The functions that take ``api`` (a connected ``docker.APIClient``) talk to the engine and let the
Docker SDK exceptions through: callers wrap them in ``DockerClient.api_errors()``. Everything else
is pure and raises :class:`NamespaceError` with a message meant for the user.
"""

from __future__ import annotations

import datetime
import math
import re
import traceback

NETADDR_IMPORT_ERROR = None
try:
    import netaddr
except ImportError:
    NETADDR_IMPORT_ERROR = traceback.format_exc()
    HAS_NETADDR = False
else:
    HAS_NETADDR = True


# --- labels -----------------------------------------------------------------------------------------

LABEL_MANAGED = 'io.hna.cloudos.managed'
LABEL_NAMESPACE = 'io.hna.cloudos.namespace'
LABEL_SERVICE = 'io.hna.cloudos.service'
LABEL_STACK = 'io.hna.cloudos.stack'
LABEL_REPLICA = 'io.hna.cloudos.replica'
LABEL_SPEC_HASH = 'io.hna.cloudos.spec-hash'

LABEL_NS_PREFIX = 'io.hna.cloudos.ns.'
LABEL_NS_REGION = LABEL_NS_PREFIX + 'region'
LABEL_NS_DESCRIPTION = LABEL_NS_PREFIX + 'description'
LABEL_NS_OWNER = LABEL_NS_PREFIX + 'owner'
LABEL_NS_CREATED = LABEL_NS_PREFIX + 'created'
LABEL_NS_QUOTA_CONTAINERS = LABEL_NS_PREFIX + 'quota.containers'
LABEL_NS_QUOTA_VOLUMES = LABEL_NS_PREFIX + 'quota.volumes'
LABEL_NS_QUOTA_CPUS = LABEL_NS_PREFIX + 'quota.cpus'
LABEL_NS_QUOTA_MEMORY = LABEL_NS_PREFIX + 'quota.memory'

#: Metadata kept on the namespace network, and the label of each.
METADATA_LABELS = {
    'region': LABEL_NS_REGION,
    'description': LABEL_NS_DESCRIPTION,
    'owner': LABEL_NS_OWNER,
}
#: Quotas kept on the namespace network, and the label of each.
QUOTA_LABELS = {
    'containers': LABEL_NS_QUOTA_CONTAINERS,
    'volumes': LABEL_NS_QUOTA_VOLUMES,
    'cpus': LABEL_NS_QUOTA_CPUS,
    'memory': LABEL_NS_QUOTA_MEMORY,
}
QUOTA_KEYS = ('containers', 'volumes', 'cpus', 'memory')

# --- subnets ----------------------------------------------------------------------------------------

DEFAULT_SUBNET_POOL = '10.240.0.0/12'
DEFAULT_SUBNET_SIZE = 24
MIN_PREFIX_LENGTH = 16
MAX_PREFIX_LENGTH = 29
#: The private IPv4 ranges of RFC 1918, the only ones a namespace subnet may come from.
PRIVATE_IPV4_RANGES = ('10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16')

# --- names and states -------------------------------------------------------------------------------

NAME_MAX_LENGTH = 63
_NAME_RE = re.compile(r'^[a-z0-9]([a-z0-9-]*[a-z0-9])?$')
#: Network names Docker keeps for itself.
RESERVED_NAMES = ('bridge', 'host', 'none', 'default')

STATE_ACTIVE = 'Active'
STATE_REGISTERING = 'Registering'
STATE_UNHEALTHY = 'Unhealthy'
STATE_STOPPED = 'Stopped'
STATE_EXITED = 'Exited'
STATE_EMPTY = 'Empty'
#: Service states, the one that wins a roll-up first.
SERVICE_STATE_PRECEDENCE = (STATE_EXITED, STATE_UNHEALTHY, STATE_REGISTERING, STATE_ACTIVE, STATE_STOPPED)

_MEMORY_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$', re.IGNORECASE)
_MEMORY_UNITS = {'': 1, 'b': 1, 'k': 1024, 'm': 1024 ** 2, 'g': 1024 ** 3, 't': 1024 ** 4}
_CPU_EPSILON = 1e-9


class NamespaceError(Exception):
    """A namespace problem, with a one-line message meant for the user."""


# --- pure helpers -----------------------------------------------------------------------------------


def validate_name(name):
    """Return ``name`` if it can name a namespace (a lowercase DNS label of 1 to 63 characters)."""
    text = '' if name is None else str(name)
    if not text:
        raise NamespaceError('The namespace name is empty: use a lowercase DNS label such as shop or team-a.')
    if len(text) > NAME_MAX_LENGTH:
        raise NamespaceError('The namespace name %s is %d characters long: it must have at most %d.' % (
            text, len(text), NAME_MAX_LENGTH))
    if not _NAME_RE.match(text):
        raise NamespaceError(
            'The namespace name %s is not a lowercase DNS label: use only a-z, 0-9 and -, starting and ending '
            'with a letter or digit (for example shop or team-a).' % text)
    if text in RESERVED_NAMES:
        raise NamespaceError('The namespace name %s is reserved by Docker for its own networks (%s): choose another '
                             'name.' % (text, ', '.join(RESERVED_NAMES)))
    return text


def service_aliases(namespace, service):
    """Return the network aliases of ``service`` in ``namespace``: ``[service, 'service.namespace']``."""
    return [service, '%s.%s' % (service, namespace)]


def parse_memory(value):
    """Return a memory amount in bytes. Accept bytes (``1073741824``) or a size such as ``512m`` or ``4g``.

    Units are binary, as with Docker: ``k`` = 1024, ``m`` = 1024², ``g`` = 1024³, ``t`` = 1024⁴.
    """
    if isinstance(value, bool):
        raise NamespaceError('A memory amount must be a size such as 512m or 4g, not %r.' % (value, ))
    if isinstance(value, int):
        amount = value
    else:
        match = _MEMORY_RE.match(str(value))
        if not match:
            raise NamespaceError('%r is not a memory amount: use bytes or a number with the unit b, k, m, g or t '
                                 '(for example 512m or 4g).' % (value, ))
        amount = int(float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()])
    if amount < 0:
        raise NamespaceError('A memory amount cannot be negative (%r).' % (value, ))
    return amount


def format_memory(amount):
    """Return ``amount`` bytes as Docker would write it: ``4g``, ``512m``, ``1.5g``, ``100b``."""
    if amount is None:
        return 'unlimited'
    amount = int(amount)
    for unit, size in (('t', 1024 ** 4), ('g', 1024 ** 3), ('m', 1024 ** 2), ('k', 1024)):
        if amount >= size:
            value = amount / size
            if value == int(value):
                return '%d%s' % (value, unit)
            return ('%.2f' % value).rstrip('0').rstrip('.') + unit
    return '%db' % amount


def format_cpus(cpus):
    """Return a number of CPUs as text without needless decimals: ``2``, ``1.5``, ``0.25``."""
    if cpus is None:
        return 'unlimited'
    text = ('%.3f' % float(cpus)).rstrip('0').rstrip('.')
    return text or '0'


def normalize_quotas(quotas):
    """Check the quotas given to the namespace module and return them with every key.

    ``None`` (or a missing key) means unlimited. ``containers`` and ``volumes`` are counts, ``cpus`` a
    number of CPUs, ``memory`` bytes (a size such as ``4g`` is accepted).
    """
    quotas = quotas or {}
    unknown = sorted(set(quotas) - set(QUOTA_KEYS))
    if unknown:
        raise NamespaceError('Unknown quota %s: the quotas are %s.' % (', '.join(unknown), ', '.join(QUOTA_KEYS)))
    result = dict((key, None) for key in QUOTA_KEYS)
    for key in ('containers', 'volumes'):
        value = quotas.get(key)
        if value is None:
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise NamespaceError('quotas.%s must be a whole number, not %r.' % (key, value))
        if number < 0 or str(number) != str(value).strip():
            raise NamespaceError('quotas.%s must be a whole number of 0 or more, not %r.' % (key, value))
        result[key] = number
    if quotas.get('cpus') is not None:
        try:
            cpus = float(quotas['cpus'])
        except (TypeError, ValueError):
            raise NamespaceError('quotas.cpus must be a number of CPUs such as 2 or 0.5, not %r.' % (quotas['cpus'], ))
        if cpus < 0 or math.isnan(cpus):
            raise NamespaceError('quotas.cpus must be 0 or more, not %r.' % (quotas['cpus'], ))
        result['cpus'] = float(format_cpus(cpus))
    if quotas.get('memory') is not None:
        try:
            result['memory'] = parse_memory(quotas['memory'])
        except NamespaceError as exc:
            raise NamespaceError('quotas.memory: %s' % exc)
    return result


def quotas_to_labels(quotas):
    """Return the labels that store ``quotas`` (unlimited quotas have no label)."""
    labels = {}
    for key in QUOTA_KEYS:
        value = quotas.get(key)
        if value is None:
            continue
        labels[QUOTA_LABELS[key]] = format_cpus(value) if key == 'cpus' else str(int(value))
    return labels


def labels_to_quotas(labels):
    """Read the quotas back from the labels of a namespace network (a value that cannot be read counts as unlimited)."""
    labels = labels or {}
    quotas = dict((key, None) for key in QUOTA_KEYS)
    for key in QUOTA_KEYS:
        text = labels.get(QUOTA_LABELS[key])
        if text is None or text == '':
            continue
        try:
            quotas[key] = float(text) if key == 'cpus' else int(text)
        except ValueError:
            continue
    return quotas


def utc_now():
    """Return the current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def namespace_labels(name, metadata=None, quotas=None, created=None):
    """Return the labels of the network of namespace ``name``.

    ``metadata`` maps ``region``, ``description`` and ``owner`` to text (empty text: no label);
    ``quotas`` is as returned by :func:`normalize_quotas`.
    """
    labels = {LABEL_NAMESPACE: name, LABEL_MANAGED: 'true'}
    for key, label in METADATA_LABELS.items():
        value = (metadata or {}).get(key)
        if value:
            labels[label] = str(value)
    if created:
        labels[LABEL_NS_CREATED] = created
    labels.update(quotas_to_labels(quotas or {}))
    return labels


def own_labels(labels):
    """Keep only the labels the namespace module manages (namespace, managed and ``io.hna.cloudos.ns.*``)."""
    return dict((key, value) for key, value in (labels or {}).items()
                if key in (LABEL_NAMESPACE, LABEL_MANAGED) or key.startswith(LABEL_NS_PREFIX))


def is_namespace_network(network):
    """Tell whether a network (inspect or list entry) is the network of the namespace it is named after."""
    if not network:
        return False
    labels = network.get('Labels') or {}
    return bool(network.get('Name')) and labels.get(LABEL_NAMESPACE) == network.get('Name')


def _ipv4_config(network):
    """Return the first IPv4 IPAM configuration of a network, or an empty dict."""
    for config in ((network or {}).get('IPAM') or {}).get('Config') or []:
        subnet = (config or {}).get('Subnet') or ''
        if subnet and ':' not in subnet:
            return config
    return {}


def namespace_from_network(network):
    """Return the namespace model of a network (inspect or list entry), or ``None`` if it is no namespace."""
    if not is_namespace_network(network):
        return None
    labels = network.get('Labels') or {}
    config = _ipv4_config(network)
    return dict(
        name=network['Name'],
        network=network['Name'],
        network_id=network.get('Id') or '',
        subnet=config.get('Subnet') or None,
        gateway=config.get('Gateway') or None,
        region=labels.get(LABEL_NS_REGION, ''),
        description=labels.get(LABEL_NS_DESCRIPTION, ''),
        owner=labels.get(LABEL_NS_OWNER, ''),
        created=labels.get(LABEL_NS_CREATED) or None,
        managed=labels.get(LABEL_MANAGED) == 'true',
        quotas=labels_to_quotas(labels),
    )


# --- subnets ----------------------------------------------------------------------------------------


def _require_netaddr():
    if not HAS_NETADDR:
        raise NamespaceError('The netaddr Python library is needed for namespace subnets: install it (pip install netaddr) '
                             'for the Python interpreter that runs the module.')


def network_subnets(networks):
    """Return ``[(network name, IPv4 CIDR)]`` for every IPv4 subnet of the given networks (list or inspect entries)."""
    result = []
    for network in networks or []:
        for config in ((network or {}).get('IPAM') or {}).get('Config') or []:
            subnet = (config or {}).get('Subnet') or ''
            if subnet and ':' not in subnet:
                result.append((network.get('Name') or network.get('Id') or '?', subnet))
    return result


def _existing(existing):
    """Turn ``existing`` (CIDRs or ``(name, CIDR)`` pairs) into ``[(label, IPNetwork)]``, skipping what cannot be read."""
    parsed = []
    for item in existing or []:
        if isinstance(item, (tuple, list)):
            label, cidr = item[0], item[1]
        else:
            label, cidr = None, item
        try:
            net = netaddr.IPNetwork(str(cidr))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            continue
        if net.version != 4:
            continue
        parsed.append((label, net))
    return parsed


def _overlaps(left, right):
    return left.first <= right.last and right.first <= left.last


def _describe(label, net):
    return '%s (network %s)' % (net.cidr, label) if label else str(net.cidr)


def _private_range(net):
    for cidr in PRIVATE_IPV4_RANGES:
        private = netaddr.IPNetwork(cidr)
        if net.first >= private.first and net.last <= private.last:
            return private
    return None


def _parse_cidr(value, what):
    text = str(value or '').strip()
    if '/' not in text:
        raise NamespaceError('%s %s is not a CIDR subnet: write it as ADDRESS/PREFIX, for example 10.240.5.0/24.' % (what, text or "''"))
    try:
        net = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise NamespaceError('%s %s is not a valid CIDR subnet: write it as ADDRESS/PREFIX, for example 10.240.5.0/24.' % (what, text))
    if net.version != 4:
        raise NamespaceError('%s %s is not IPv4: namespaces use private IPv4 subnets such as 10.240.5.0/24.' % (what, text))
    if net.ip != net.network:
        raise NamespaceError('%s %s has host bits set: the subnet of that address is %s.' % (what, text, net.cidr))
    return net


def validate_subnet(subnet, existing=()):
    """Check a namespace subnet and return it in canonical form (``10.240.5.0/24``).

    It must be a private IPv4 CIDR (RFC 1918) with a prefix length of /16 to /29, without host bits,
    and must not overlap any of ``existing`` (CIDRs or ``(network name, CIDR)`` pairs).
    """
    _require_netaddr()
    net = _parse_cidr(subnet, 'The subnet')
    if not MIN_PREFIX_LENGTH <= net.prefixlen <= MAX_PREFIX_LENGTH:
        raise NamespaceError('The subnet %s is a /%d: a namespace subnet must be a /%d to a /%d.' % (
            net.cidr, net.prefixlen, MIN_PREFIX_LENGTH, MAX_PREFIX_LENGTH))
    if _private_range(net) is None:
        raise NamespaceError('The subnet %s is not private: it must lie in %s (RFC 1918).' % (
            net.cidr, ', '.join(PRIVATE_IPV4_RANGES)))
    clashes = [_describe(label, other) for label, other in _existing(existing) if _overlaps(net, other)]
    if clashes:
        raise NamespaceError('The subnet %s overlaps the existing Docker subnet %s: choose a subnet that overlaps no '
                             'existing network, or leave subnet unset to get a free one from subnet_pool.' % (
                                 net.cidr, ', '.join(clashes)))
    return str(net.cidr)


def validate_pool(pool, size):
    """Check ``subnet_pool`` and ``subnet_size``; return the pool as an ``IPNetwork``."""
    _require_netaddr()
    net = _parse_cidr(pool, 'subnet_pool')
    if _private_range(net) is None:
        raise NamespaceError('subnet_pool %s is not private: it must lie in %s (RFC 1918).' % (
            net.cidr, ', '.join(PRIVATE_IPV4_RANGES)))
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_PREFIX_LENGTH <= size <= MAX_PREFIX_LENGTH:
        raise NamespaceError('subnet_size %r is not a prefix length from %d to %d (24 gives a /24 of 254 addresses).' % (
            size, MIN_PREFIX_LENGTH, MAX_PREFIX_LENGTH))
    if size < net.prefixlen:
        raise NamespaceError('subnet_size /%d is larger than subnet_pool %s: use a subnet_size of %d or more.' % (
            size, net.cidr, net.prefixlen))
    return net


def allocate_subnet(existing=(), pool=DEFAULT_SUBNET_POOL, size=DEFAULT_SUBNET_SIZE):
    """Return the first ``/size`` of ``pool`` that overlaps none of ``existing``.

    ``existing`` holds CIDRs or ``(network name, CIDR)`` pairs. Raise :class:`NamespaceError` when the pool is full.
    """
    pool_net = validate_pool(pool, size)
    taken = sorted((net for dummy, net in _existing(existing) if _overlaps(net, pool_net)), key=lambda net: net.first)
    block = 2 ** (32 - size)
    candidate = pool_net.first
    for net in taken:
        # Jump over every taken range that reaches the candidate, aligned to the block size.
        if net.last < candidate:
            continue
        if net.first > candidate + block - 1:
            break
        candidate = ((net.last + 1 + block - 1) // block) * block
    if candidate + block - 1 > pool_net.last:
        raise NamespaceError('subnet_pool %s has no free /%d left (%d existing networks use it): give a subnet, a '
                             'larger subnet_pool or a smaller subnet_size.' % (pool_net.cidr, size, len(taken)))
    # The loop above stops at the first taken range after the candidate block: check the rest too.
    chosen = netaddr.IPNetwork('%s/%d' % (netaddr.IPAddress(candidate), size))
    for net in taken:
        if _overlaps(chosen, net):  # pragma: no cover - defensive, the walk above already skips these
            raise NamespaceError('Could not find a free /%d in subnet_pool %s.' % (size, pool_net.cidr))
    return str(chosen.cidr)


def gateway_for(subnet):
    """Return the first host address of ``subnet``, the gateway Docker would choose."""
    _require_netaddr()
    net = netaddr.IPNetwork(subnet)
    return str(netaddr.IPAddress(net.first + 1))


# --- usage and quotas -------------------------------------------------------------------------------


def container_resources(container):
    """Return ``{'cpus': float, 'memory': bytes}`` limited by a container (inspect dict); 0 = no limit."""
    host_config = (container or {}).get('HostConfig') or {}
    cpus = (host_config.get('NanoCpus') or 0) / 1e9
    if not cpus and (host_config.get('CpuQuota') or 0) > 0 and (host_config.get('CpuPeriod') or 0) > 0:
        cpus = float(host_config['CpuQuota']) / float(host_config['CpuPeriod'])
    return dict(cpus=float(cpus), memory=int(host_config.get('Memory') or 0))


def usage_from(containers, volume_count):
    """Return the usage of a namespace from the inspect dicts of its containers and its number of volumes."""
    cpus = 0.0
    memory = 0
    for container in containers or []:
        resources = container_resources(container)
        cpus += resources['cpus']
        memory += resources['memory']
    return dict(containers=len(containers or []), volumes=int(volume_count), cpus=round(cpus, 9), memory=memory)


def available_from(quotas, usage):
    """Return what is left under each quota (``None``: unlimited; never below 0)."""
    result = {}
    for key in QUOTA_KEYS:
        limit = (quotas or {}).get(key)
        if limit is None:
            result[key] = None
        elif key == 'cpus':
            result[key] = max(0.0, round(limit - usage.get(key, 0), 9))
        else:
            result[key] = max(0, int(limit - usage.get(key, 0)))
    return result


def _amount(key, value):
    if key == 'memory':
        return format_memory(value)
    if key == 'cpus':
        return format_cpus(value)
    return str(int(value))


def quota_violations(quotas, usage, add=None, released=None):
    """Return the quotas a change would break, as dicts ``{quota, limit, in_use, released, asked, after}``.

    ``usage`` is the current use, ``add`` what the change adds and ``released`` what it frees (containers
    it replaces). A quota is broken when the use after the change is above it and higher than now: a
    namespace that is already over a quota (lowered afterwards) may still shrink or stay as it is.
    """
    add = add or {}
    released = released or {}
    violations = []
    for key in QUOTA_KEYS:
        limit = (quotas or {}).get(key)
        if limit is None:
            continue
        in_use = usage.get(key, 0) or 0
        freed = released.get(key, 0) or 0
        asked = add.get(key, 0) or 0
        after = in_use - freed + asked
        epsilon = _CPU_EPSILON if key == 'cpus' else 0
        if after > limit + epsilon and after > in_use + epsilon:
            violations.append(dict(quota=key, limit=limit, in_use=in_use, released=freed, asked=asked, after=after))
    return violations


def over_quota(quotas, usage):
    """Return one sentence per quota the current use is above (after a quota was lowered)."""
    return ['%s: %s in use, quota %s' % (key, _amount(key, usage.get(key, 0) or 0), _amount(key, quotas[key]))
            for key in QUOTA_KEYS
            if (quotas or {}).get(key) is not None and (usage.get(key, 0) or 0) > quotas[key] + (_CPU_EPSILON if key == 'cpus' else 0)]


def quota_error_message(namespace, violations):
    """Return the message for :func:`quota_violations` that are not empty."""
    parts = []
    for item in violations:
        key = item['quota']
        text = '%s: %s in use' % (key, _amount(key, item['in_use']))
        if item['released']:
            text += ' (%s freed by the containers being replaced)' % _amount(key, item['released'])
        text += ', %s more asked, quota %s (the change would use %s)' % (
            _amount(key, item['asked']), _amount(key, item['limit']), _amount(key, item['after']))
        parts.append(text)
    names = ', '.join('quotas.%s' % item['quota'] for item in violations)
    return ('Namespace %s quota exceeded, the change is refused. %s. Raise %s of namespace %s (hna.cloudos.namespace) '
            'or free capacity in it first (remove containers or volumes, or lower their cpus or memory).' % (
                namespace, '; '.join(parts), names, namespace))


# --- container and service states -------------------------------------------------------------------


def container_state(container):
    """Return ``(state, exit_code)`` of a container from its inspect dict.

    * ``Active``: running, healthy or without health check;
    * ``Registering``: running with the health check still starting, or restarting;
    * ``Unhealthy``: running with a failing health check;
    * ``Stopped``: created (never started), paused, or stopped with exit code 0;
    * ``Exited``: stopped (or dead) with a non-zero exit code, given as ``exit_code``.
    """
    state = (container or {}).get('State') or {}
    status = (state.get('Status') or '').lower()
    health = ((state.get('Health') or {}).get('Status') or '').lower()
    exit_code = state.get('ExitCode')
    if status == 'running':
        if health == 'starting':
            return STATE_REGISTERING, None
        if health == 'unhealthy':
            return STATE_UNHEALTHY, None
        return STATE_ACTIVE, None
    if status == 'restarting':
        return STATE_REGISTERING, None
    if status in ('exited', 'dead'):
        if exit_code:
            return STATE_EXITED, int(exit_code)
        return STATE_STOPPED, None
    return STATE_STOPPED, None


def service_state(states):
    """Roll the ``(state, exit_code)`` of the containers of one service up into the service's.

    The first state of ``Exited``, ``Unhealthy``, ``Registering``, ``Active``, ``Stopped`` that a container
    has wins; so a service is ``Stopped`` only when all its containers are. ``exit_code`` is that of the
    first exited container. A service without containers is ``Stopped``.
    """
    states = list(states or [])
    for candidate in SERVICE_STATE_PRECEDENCE:
        for state, exit_code in states:
            if state == candidate:
                return candidate, exit_code if candidate == STATE_EXITED else None
    return STATE_STOPPED, None


def namespace_status(service_states):
    """Roll the states of the services of a namespace up into its status.

    ``Empty`` without services; ``Unhealthy`` if a service is ``Unhealthy`` or ``Exited``; else
    ``Registering`` if one is ``Registering``; else ``Active`` if one is ``Active``; else ``Stopped``.
    """
    states = set(service_states or [])
    if not states:
        return STATE_EMPTY
    if states & {STATE_UNHEALTHY, STATE_EXITED}:
        return STATE_UNHEALTHY
    if STATE_REGISTERING in states:
        return STATE_REGISTERING
    if STATE_ACTIVE in states:
        return STATE_ACTIVE
    return STATE_STOPPED


def container_name(container):
    """Return the name of a container (inspect or list entry) without the leading slash."""
    name = (container or {}).get('Name')
    if not name:
        names = (container or {}).get('Names') or ['']
        name = names[0]
    return (name or '').lstrip('/')


def service_name(container):
    """Return the service of a container: its ``io.hna.cloudos.service`` label, or else its name."""
    labels = ((container or {}).get('Config') or {}).get('Labels') or (container or {}).get('Labels') or {}
    return labels.get(LABEL_SERVICE) or container_name(container)


# --- engine requests --------------------------------------------------------------------------------


def _not_found(exc):
    status = getattr(exc, 'status_code', None)
    if status is None and getattr(exc, 'response', None) is not None:
        status = getattr(exc.response, 'status_code', None)
    return status == 404


def inspect_network(api, name):
    """Return the inspect dict of the network named exactly ``name``, or ``None``."""
    try:
        network = api.inspect_network(name)
    except Exception as exc:  # pylint: disable=broad-except
        if _not_found(exc):
            return None
        raise
    # The engine also matches ID prefixes: only the network of that very name counts.
    if not network or network.get('Name') != name:
        return None
    return network


def get_namespace(api, name):
    """Return the namespace model of ``name`` (see :func:`namespace_from_network`), or ``None`` if there is none."""
    return namespace_from_network(inspect_network(api, name))


def list_namespaces(api):
    """Return the models of every namespace of the engine, sorted by name (one request)."""
    networks = api.networks(filters={'label': LABEL_NAMESPACE}) or []
    models = [namespace_from_network(network) for network in networks]
    return sorted((model for model in models if model), key=lambda model: model['name'])


def namespace_containers(api, name=None):
    """Return the inspect dicts of the containers (any state) labelled for namespace ``name`` (all namespaces if ``None``).

    One list request, then one inspect per container; a container removed in between is skipped.
    """
    label = LABEL_NAMESPACE if name is None else '%s=%s' % (LABEL_NAMESPACE, name)
    result = []
    for entry in api.containers(all=True, filters={'label': label}) or []:
        try:
            result.append(api.inspect_container(entry['Id']))
        except Exception as exc:  # pylint: disable=broad-except
            if not _not_found(exc):
                raise
    return sorted(result, key=container_name)


def namespace_volumes(api, name=None):
    """Return the volumes (list entries) labelled for namespace ``name`` (all namespaces if ``None``)."""
    label = LABEL_NAMESPACE if name is None else '%s=%s' % (LABEL_NAMESPACE, name)
    volumes = (api.volumes(filters={'label': label}) or {}).get('Volumes') or []
    return sorted(volumes, key=lambda volume: volume.get('Name') or '')


def namespace_usage(api, name, containers=None, volumes=None):
    """Return ``{"containers": n, "volumes": n, "cpus": x, "memory": bytes}`` used by namespace ``name``.

    Counts every container labelled for the namespace (any state) and its labelled volumes; cpus and
    memory are the sums of the containers' limits (``HostConfig.NanoCpus`` and ``HostConfig.Memory``;
    a container without a limit counts 0). ``containers`` (inspect dicts) and ``volumes`` may be given
    when the caller already has them.
    """
    if containers is None:
        containers = namespace_containers(api, name)
    if volumes is None:
        volumes = namespace_volumes(api, name)
    return usage_from(containers, len(volumes))


def check_quota(api, namespace, add_containers=0, add_volumes=0, add_cpus=0.0, add_memory=0, replacing=()):
    """Raise :class:`NamespaceError` if adding this to ``namespace`` would break one of its quotas.

    ``namespace`` is a name or a model from :func:`get_namespace`. ``add_memory`` is bytes (or a size
    such as ``512m``). ``replacing`` names (or IDs) containers of the namespace that the change removes
    or replaces: what they use is freed. Call it once for the whole change, before creating anything.
    A namespace that does not exist is an error too.
    """
    model = namespace if isinstance(namespace, dict) else get_namespace(api, validate_name(namespace))
    if model is None:
        raise NamespaceError('Namespace %s does not exist: create it first with hna.cloudos.namespace.' % namespace)
    name = model['name']
    quotas = model.get('quotas') or {}
    if all(quotas.get(key) is None for key in QUOTA_KEYS):
        return None
    containers = namespace_containers(api, name)
    volumes = namespace_volumes(api, name) if quotas.get('volumes') is not None else []
    usage = usage_from(containers, len(volumes))
    replaced_ids = set(str(item).lstrip('/') for item in replacing or ())
    released = dict(containers=0, volumes=0, cpus=0.0, memory=0)
    for container in containers:
        ident = container.get('Id') or ''
        if container_name(container) in replaced_ids or ident in replaced_ids or ident[:12] in replaced_ids:
            resources = container_resources(container)
            released['containers'] += 1
            released['cpus'] += resources['cpus']
            released['memory'] += resources['memory']
    add = dict(containers=int(add_containers or 0), volumes=int(add_volumes or 0), cpus=float(add_cpus or 0),
               memory=parse_memory(add_memory or 0))
    violations = quota_violations(quotas, usage, add=add, released=released)
    if violations:
        raise NamespaceError(quota_error_message(name, violations))
    return None


def existing_subnets(api, exclude=None):
    """Return ``[(network name, IPv4 CIDR)]`` of every network of the engine but ``exclude`` (a network name)."""
    networks = [network for network in (api.networks() or []) if network.get('Name') != exclude]
    return network_subnets(networks)


def create_namespace_network(api, name, subnet, labels, gateway=None):
    """Create the bridge network of a namespace; return the engine's answer (with ``Id``)."""
    ipam = {'Driver': 'default', 'Config': [{'Subnet': subnet, 'Gateway': gateway or gateway_for(subnet)}], 'Options': {}}
    return api.create_network(name, driver='bridge', ipam=ipam, labels=labels, check_duplicate=True)


# --- recreating the network (labels cannot change in place) -----------------------------------------


def _short(ident):
    return (ident or '')[:12]


def attached_containers(api, network):
    """Return the container list entries of every container attached to ``network`` (inspect dict), stopped ones included.

    A container that was never started has no network ID on its endpoint yet: the engine only finds it by network name.
    """
    return api.containers(all=True, filters={'network': [network['Name'], network['Id']]}) or []


def network_members(api, network):
    """Return how every container attached to ``network`` (inspect dict) is connected, to reconnect it later.

    Stopped containers are attached too (their endpoint is only configured): they are included. Each item:
    ``{id, name, running, paused, aliases, ipv4_address, ipv6_address, links, link_local_ips, driver_opt,
    address}`` where ``address`` is the current IPv4 address (running containers) and ``ipv4_address``
    the address to ask for when reconnecting (the configured one, or the current one of a running container).
    """
    name = network['Name']
    members = []
    for entry in attached_containers(api, network):
        try:
            container = api.inspect_container(entry['Id'])
        except Exception as exc:  # pylint: disable=broad-except
            if _not_found(exc):
                continue
            raise
        endpoints = (container.get('NetworkSettings') or {}).get('Networks') or {}
        endpoint = endpoints.get(name)
        if endpoint is None:
            endpoint = next((ep for ep in endpoints.values() if (ep or {}).get('NetworkID') == network['Id']), None)
        if endpoint is None:
            continue
        ident = container.get('Id') or ''
        state = container.get('State') or {}
        ipam = endpoint.get('IPAMConfig') or {}
        running = bool(state.get('Running'))
        address = endpoint.get('IPAddress') or None
        members.append(dict(
            id=ident,
            name=container_name(container),
            running=running,
            paused=bool(state.get('Paused')),
            aliases=[alias for alias in endpoint.get('Aliases') or [] if alias not in (ident, _short(ident))],
            address=address,
            ipv4_address=ipam.get('IPv4Address') or (address if running else None),
            ipv6_address=ipam.get('IPv6Address') or None,
            links=endpoint.get('Links') or None,
            link_local_ips=ipam.get('LinkLocalIPs') or None,
            driver_opt=endpoint.get('DriverOpts') or None,
        ))
    return sorted(members, key=lambda member: member['name'])


def connect_command(network, member):
    """Return the ``docker network connect`` command that reconnects ``member`` as it was."""
    words = ['docker', 'network', 'connect']
    for alias in member.get('aliases') or []:
        words += ['--alias', alias]
    if member.get('ipv4_address'):
        words += ['--ip', member['ipv4_address']]
    if member.get('ipv6_address'):
        words += ['--ip6', member['ipv6_address']]
    for link in member.get('links') or []:
        words += ['--link', link]
    words += [network, member['name']]
    return ' '.join(words)


def _connect(api, network_id, member):
    api.connect_container_to_network(
        member['id'], network_id,
        ipv4_address=member.get('ipv4_address'), ipv6_address=member.get('ipv6_address'),
        aliases=member.get('aliases') or None, links=member.get('links'),
        link_local_ips=member.get('link_local_ips'), driver_opt=member.get('driver_opt'),
    )


def _error_text(exc):
    text = getattr(exc, 'explanation', None) or str(exc) or type(exc).__name__
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    return ' '.join(str(text).split())


def _network_create_args(network, labels):
    ipam = network.get('IPAM') or {}
    return dict(
        driver=network.get('Driver') or 'bridge',
        options=network.get('Options') or None,
        ipam={'Driver': ipam.get('Driver') or 'default', 'Config': ipam.get('Config') or [], 'Options': ipam.get('Options') or {}},
        internal=bool(network.get('Internal')),
        attachable=bool(network.get('Attachable')) or None,
        enable_ipv6=bool(network.get('EnableIPv6')),
        labels=labels,
        check_duplicate=True,
    )


def recreate_network(api, network, labels, members):
    """Replace ``network`` (inspect dict) by a network with the same settings and ``labels``, keeping its containers.

    Every member (see :func:`network_members`) is disconnected, the network removed and created again
    with the same driver, options and IPAM settings, and each member reconnected with the same aliases
    and addresses. Return ``{"network_id", "reconnected": [names], "failed": [{"name", "error", "command"}]}``;
    ``failed`` lists the containers that could not be reconnected, with the command that does it by hand.

    Raise :class:`NamespaceError` when the network cannot be replaced: what was changed is undone first
    (containers reconnected to the old network, or the old network created again) and the message says
    how that went.
    """
    name = network['Name']
    paused = [member['name'] for member in members if member.get('paused')]
    if paused:
        raise NamespaceError('Namespace %s: the containers %s are paused and cannot be disconnected and reconnected while '
                             'the network is recreated for the new labels: unpause them (docker unpause) and run again. '
                             'Nothing was changed.' % (name, ', '.join(paused)))

    disconnected = []
    try:
        for member in members:
            api.disconnect_container_from_network(member['id'], network['Id'])
            disconnected.append(member)
        api.remove_network(network['Id'])
    except Exception as exc:  # pylint: disable=broad-except
        failed = _reconnect(api, name, network['Id'], disconnected)
        raise NamespaceError('Namespace %s: could not take the network down to recreate it with the new labels (%s). '
                             'It was left as it was%s.' % (name, _error_text(exc), _failed_note(failed)))

    args = _network_create_args(network, labels)
    try:
        created = api.create_network(name, **args)
    except Exception as exc:  # pylint: disable=broad-except
        error = _error_text(exc)
        args['labels'] = network.get('Labels') or {}
        try:
            restored = api.create_network(name, **args)
        except Exception as restore_exc:  # pylint: disable=broad-except
            raise NamespaceError(
                'Namespace %s: the network was removed to change its labels but could not be created again (%s), nor '
                'with its old labels (%s). Create it by hand (docker network create --subnet %s %s) and reconnect: %s.' % (
                    name, error, _error_text(restore_exc), (_ipv4_config(network) or {}).get('Subnet', 'SUBNET'), name,
                    '; '.join(connect_command(name, member) for member in members) or 'no containers'))
        failed = _reconnect(api, name, restored.get('Id'), members)
        raise NamespaceError('Namespace %s: the network could not be created again with the new labels (%s); it was '
                             'restored with its old labels%s.' % (name, error, _failed_note(failed)))

    network_id = created.get('Id')
    failed = _reconnect(api, name, network_id, members)
    failed_names = set(item['name'] for item in failed)
    return dict(network_id=network_id,
                reconnected=[member['name'] for member in members if member['name'] not in failed_names],
                failed=failed)


def _reconnect(api, name, network_id, members):
    failed = []
    for member in members:
        try:
            _connect(api, network_id, member)
        except Exception as exc:  # pylint: disable=broad-except
            failed.append(dict(name=member['name'], error=_error_text(exc), command=connect_command(name, member)))
    return failed


def _failed_note(failed):
    if not failed:
        return ' and its containers reconnected'
    return ('; these containers could not be reconnected: %s. Reconnect them by hand: %s' % (
        ', '.join('%s (%s)' % (item['name'], item['error']) for item in failed),
        '; '.join(item['command'] for item in failed)))


def reconnect_failure_message(name, failed):
    """Return the message for containers that could not be reconnected after the network was recreated."""
    return ('Namespace %s: the network was recreated with the new labels, but %d container(s) could not be reconnected: '
            '%s. Reconnect them by hand: %s' % (
                name, len(failed), ', '.join('%s (%s)' % (item['name'], item['error']) for item in failed),
                '; '.join(item['command'] for item in failed)))
