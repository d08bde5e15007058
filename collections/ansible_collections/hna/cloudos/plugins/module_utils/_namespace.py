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

Docker cannot change the labels of a network, so the network labels only hold the metadata given
when the namespace was created. A change writes the whole metadata to a new *metadata volume*
(``<ns>.namespace-meta.<generation>``, labelled ``io.hna.cloudos.namespace-meta=<ns>``, the ID of
the network and the generation, plus the same ``io.hna.cloudos.ns.*`` labels), then removes the
older ones. Readers take the valid metadata volume of the highest generation (one for this very
network), and fall back to the network labels when there is none. A metadata volume is never
mounted and has no ``io.hna.cloudos.namespace`` label: it is not one of the namespace's volumes.

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
# The labels of the collection, declared here once; ``_container_options`` and the engine import them.

#: Labels starting with this are set by the collection (a user may not set them).
LABEL_PREFIX = 'io.hna.cloudos.'
LABEL_MANAGED = LABEL_PREFIX + 'managed'
LABEL_NAMESPACE = LABEL_PREFIX + 'namespace'
LABEL_SERVICE = LABEL_PREFIX + 'service'
LABEL_STACK = LABEL_PREFIX + 'stack'
#: An app of the app store: its name (with ``LABEL_NAMESPACE``, the app owns what carries both).
LABEL_APP = LABEL_PREFIX + 'app'
#: The catalog entry an app's containers were made from: ``<catalog app>:<version>`` (``redis:7.0``).
LABEL_APP_ENTRY = LABEL_PREFIX + 'app-entry'
LABEL_REPLICA = LABEL_PREFIX + 'replica'
#: Written by earlier versions on the containers they created; still found on old containers, never compared.
LABEL_SPEC_HASH = LABEL_PREFIX + 'spec-hash'
#: Labels the container engine keeps for its own bookkeeping; never compared.
LABEL_ENGINE_PREFIX = LABEL_PREFIX + 'engine.'

LABEL_NS_PREFIX = LABEL_PREFIX + 'ns.'
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

#: Labels of the metadata volumes (the namespace, the ID of its network, the generation).
LABEL_NS_META = LABEL_PREFIX + 'namespace-meta'
LABEL_NS_META_NETWORK = LABEL_NS_META + '.network'
LABEL_NS_META_GENERATION = LABEL_NS_META + '.generation'
#: Label of a container: the volumes (comma-separated names) the engine carried over from the anonymous
#: volumes of the containers it replaced (or carried before); they go with the container when it is removed
#: with its volumes.
LABEL_ANONYMOUS_VOLUMES = LABEL_ENGINE_PREFIX + 'anonymous-volumes'
_GENERATION_RE = re.compile(r'^[0-9]{1,18}$')
_VOLUME_NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.-]+$')


def owner_labels(namespace, app=None):
    """The labels that mark what one deployment owns (containers, networks, volumes).

    The stack of a namespace owns what carries ``io.hna.cloudos.stack=<namespace>``; an app of the app store owns
    what carries ``io.hna.cloudos.app=<app>`` and ``io.hna.cloudos.namespace=<namespace>``. Each lists, compares and
    prunes only what it owns, so a stack and its namespace's apps (or two apps) never remove each other's containers.
    """
    if app is None:
        return {LABEL_STACK: namespace}
    return {LABEL_APP: app, LABEL_NAMESPACE: namespace}


def owner_filters(owner):
    """Engine list filters (``label``) matching what ``owner`` (see :func:`owner_labels`) owns."""
    return ['%s=%s' % item for item in sorted(owner.items())]


def owned_by(labels, owner):
    """Whether an object with ``labels`` belongs to ``owner`` (see :func:`owner_labels`)."""
    labels = labels or {}
    if LABEL_APP not in owner and labels.get(LABEL_APP):
        return False
    return all(labels.get(key) == value for key, value in owner.items())


def owner_text(namespace, app=None):
    """How messages name an owner: the stack of a namespace, or an app in it."""
    return 'the stack of namespace %s' % namespace if app is None else 'the app %s of namespace %s' % (app, namespace)


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


def data_labels(labels):
    """Keep only the metadata and quota labels (``io.hna.cloudos.ns.*``): what a metadata change rewrites."""
    return dict((key, value) for key, value in (labels or {}).items() if key.startswith(LABEL_NS_PREFIX))


def metadata_volume_name(name, generation):
    """Return the name of the metadata volume ``generation`` of namespace ``name``."""
    return '%s.namespace-meta.%d' % (name, generation)


def metadata_volume_labels(name, network_id, generation, labels):
    """Return the labels of a metadata volume: the ``io.hna.cloudos.ns.*`` of ``labels``, the namespace, network and generation."""
    result = data_labels(labels)
    result.update({
        LABEL_MANAGED: 'true',
        LABEL_NS_META: name,
        LABEL_NS_META_NETWORK: network_id,
        LABEL_NS_META_GENERATION: str(int(generation)),
    })
    return result


def _generation(volume):
    text = str(((volume or {}).get('Labels') or {}).get(LABEL_NS_META_GENERATION) or '')
    return int(text) if _GENERATION_RE.match(text) and int(text) > 0 else None


def metadata_generation(volume, name, network_id):
    """Return the generation of ``volume`` (list or inspect entry) if it is a valid metadata volume of namespace ``name``
    on the network ``network_id``, else ``None`` (another namespace, a network of the same name removed since, or
    a generation that cannot be read)."""
    labels = (volume or {}).get('Labels') or {}
    if not name or not network_id or labels.get(LABEL_NS_META) != name or labels.get(LABEL_NS_META_NETWORK) != network_id:
        return None
    return _generation(volume)


def newest_metadata_volume(volumes, name, network_id):
    """Return the valid metadata volume of namespace ``name`` on network ``network_id`` with the highest generation, or ``None``."""
    valid = [(metadata_generation(volume, name, network_id), volume.get('CreatedAt') or '', volume.get('Name') or '', index)
             for index, volume in enumerate(volumes or [])]
    valid = [item for item in valid if item[0] is not None]
    if not valid:
        return None
    return volumes[max(valid)[3]]


def next_generation(volumes, name):
    """Return the generation of the next metadata volume of namespace ``name``: one more than any of ``volumes`` has."""
    generations = [_generation(volume) for volume in volumes or []
                   if ((volume or {}).get('Labels') or {}).get(LABEL_NS_META) == name]
    return max([0] + [generation for generation in generations if generation is not None]) + 1


def carried_volumes(containers):
    """Return the names of the volumes the engine carried over from replaced containers, as named by the
    ``io.hna.cloudos.engine.anonymous-volumes`` label of ``containers`` (list or inspect entries), without duplicates.

    A name that cannot be a volume name is skipped.
    """
    result = []
    for container in containers or []:
        labels = ((container or {}).get('Config') or {}).get('Labels') or (container or {}).get('Labels') or {}
        for item in str(labels.get(LABEL_ANONYMOUS_VOLUMES) or '').split(','):
            item = item.strip()
            if item and _VOLUME_NAME_RE.match(item) and item not in result:
                result.append(item)
    return result


def namespace_from_network(network, metadata_volume=None):
    """Return the namespace model of a network (inspect or list entry), or ``None`` if it is no namespace.

    ``metadata_volume`` (see :func:`newest_metadata_volume`) holds the current metadata and quotas; without it
    they are read from the network labels. ``metadata_volume`` in the model is its name, or ``None``.
    """
    if not is_namespace_network(network):
        return None
    labels = network.get('Labels') or {}
    if metadata_volume is not None:
        stored = data_labels(metadata_volume.get('Labels'))
        if LABEL_NS_CREATED not in stored and labels.get(LABEL_NS_CREATED):
            stored[LABEL_NS_CREATED] = labels[LABEL_NS_CREATED]
        labels = dict((key, value) for key, value in labels.items() if not key.startswith(LABEL_NS_PREFIX))
        labels.update(stored)
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
        metadata_volume=(metadata_volume or {}).get('Name') or None,
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
    """Tell whether an engine error says the object does not exist (or no longer does: removed meanwhile)."""
    status = getattr(exc, 'status_code', None)
    if status is None and getattr(exc, 'response', None) is not None:
        status = getattr(exc.response, 'status_code', None)
    return status == 404


def unless_missing(request, *args, **kwargs):
    """Return the answer of the engine request ``request(*args, **kwargs)``, or ``None`` when the engine says the object
    does not exist (or no longer does: removed meanwhile). Any other error goes through."""
    try:
        return request(*args, **kwargs)
    except Exception as exc:  # pylint: disable=broad-except
        if _not_found(exc):
            return None
        raise


def inspect_network(api, name):
    """Return the inspect dict of the network named exactly ``name``, or ``None``."""
    network = unless_missing(api.inspect_network, name)
    # The engine also matches ID prefixes: only the network of that very name counts.
    if not network or network.get('Name') != name:
        return None
    return network


def metadata_volumes(api, name=None):
    """Return the metadata volumes (list entries, valid or not) of namespace ``name`` (of every namespace if ``None``), by name."""
    label = LABEL_NS_META if name is None else '%s=%s' % (LABEL_NS_META, name)
    volumes = (api.volumes(filters={'label': label}) or {}).get('Volumes') or []
    return sorted(volumes, key=lambda volume: volume.get('Name') or '')


def get_namespace(api, name):
    """Return the namespace model of ``name`` (see :func:`namespace_from_network`), or ``None`` if there is none.

    The metadata and quotas come from the newest valid metadata volume, or else from the network labels.
    """
    network = inspect_network(api, name)
    if not is_namespace_network(network):
        return None
    return namespace_from_network(network, newest_metadata_volume(metadata_volumes(api, name), name, network.get('Id')))


def list_namespaces(api):
    """Return the models of every namespace of the engine, sorted by name (two requests)."""
    networks = api.networks(filters={'label': LABEL_NAMESPACE}) or []
    by_namespace = {}
    if any(is_namespace_network(network) for network in networks):
        for volume in metadata_volumes(api):
            by_namespace.setdefault((volume.get('Labels') or {}).get(LABEL_NS_META), []).append(volume)
    models = [namespace_from_network(network, newest_metadata_volume(
        by_namespace.get(network.get('Name'), []), network.get('Name'), network.get('Id'))) for network in networks]
    return sorted((model for model in models if model), key=lambda model: model['name'])


def create_metadata_volume(api, name, network_id, labels, generation):
    """Create the metadata volume ``generation`` of namespace ``name`` on network ``network_id`` with the
    ``io.hna.cloudos.ns.*`` of ``labels``; return it as a list entry (``Name``, ``Labels``).

    Docker answers a create for an existing volume name with that volume, unchanged: a volume of that name
    with other labels is an error.
    """
    volume_name = metadata_volume_name(name, generation)
    wanted = metadata_volume_labels(name, network_id, generation, labels)
    created = api.create_volume(name=volume_name, driver='local', labels=wanted) or {}
    found = created.get('Labels') or {}
    if found != wanted and found.get(LABEL_NS_META) == name:
        raise NamespaceError('Namespace %s: another run wrote its metadata volume %s while this one ran: run the task '
                             'again. Nothing was changed.' % (name, volume_name))
    if found != wanted:
        raise NamespaceError('Namespace %s: the volume %s already exists and is not the metadata volume the change '
                             'needs: remove or rename it (docker volume rm %s) and run again. Nothing was changed.' % (
                                 name, volume_name, volume_name))
    return dict(Name=volume_name, Labels=wanted)


def remove_volumes(api, names):
    """Remove the volumes ``names`` (one already gone counts as removed); return the names removed."""
    removed = []
    for name in names or []:
        unless_missing(api.remove_volume, name)
        removed.append(name)
    return removed


def namespace_containers(api, name=None):
    """Return the inspect dicts of the containers (any state) labelled for namespace ``name`` (all namespaces if ``None``).

    One list request, then one inspect per container; a container removed in between is skipped.
    """
    label = LABEL_NAMESPACE if name is None else '%s=%s' % (LABEL_NAMESPACE, name)
    result = []
    for entry in api.containers(all=True, filters={'label': label}) or []:
        container = unless_missing(api.inspect_container, entry['Id'])
        if container is not None:
            result.append(container)
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


# --- containers attached to a namespace network ---------------------------------------------------


def attached_containers(api, network):
    """Return the container list entries of every container attached to ``network`` (inspect dict), stopped ones included.

    A container that was never started has no network ID on its endpoint yet: the engine only finds it by network name.
    """
    return api.containers(all=True, filters={'network': [network['Name'], network['Id']]}) or []
