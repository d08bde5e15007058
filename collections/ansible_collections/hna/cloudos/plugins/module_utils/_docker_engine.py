# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The desired-versus-actual engine for containers.

Every hna.cloudos module that runs containers describes what it wants as a *container spec* (a
plain, fully normalised dictionary, see :func:`container_spec`) and hands it to a
:class:`ContainerEngine`, which compares it with the inspected container and changes the
container in place or replaces it safely.

The options of a container (their parsing, the spec, the comparison with an inspected container
and the create and update requests) are one table in ``_container_options``; this file re-exports
what other files import from here. The first part of this file has no side effects: the decision
of what to do and the facts of a container. The :class:`ContainerEngine` at the end is the only part that talks to the
Docker engine. It never exits the module: it raises :class:`ContainerEngineError` (or
:class:`SpecError` for bad input), so that it can run in worker threads.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import threading
import time
import uuid

try:
    from docker.errors import APIError, DockerException, NotFound
    from requests.exceptions import RequestException
except ImportError:
    # The client module reports the missing Docker SDK; these stand-ins only keep the import working.
    class APIError(Exception):
        """Stand-in when the Docker SDK for Python is missing."""

    class DockerException(Exception):
        """Stand-in when the Docker SDK for Python is missing."""

    class NotFound(Exception):
        """Stand-in when the Docker SDK for Python is missing."""

    class RequestException(Exception):
        """Stand-in when requests is missing."""

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import (
    api_error_message,
    connection_error_message,
    one_line,
)

from ansible_collections.hna.cloudos.plugins.module_utils import _docker_image
from ansible_collections.hna.cloudos.plugins.module_utils._container_options import (  # noqa: F401  pylint: disable=unused-import
    DEFAULT_LOG_DRIVER,
    LABEL_ENGINE_PREFIX,
    LABEL_MANAGED,
    LABEL_NAMESPACE,
    LABEL_PREFIX,
    LABEL_REPLICA,
    LABEL_SERVICE,
    LABEL_STACK,
    MOUNT_TYPES,
    PROTOCOLS,
    RESTART_POLICIES,
    SPEC_FIELDS,
    SPECIAL_NETWORK_MODES,
    SpecError,
    _namespace,
    actual_cpus,
    actual_mounts,
    actual_networks,
    actual_ports,
    compare,
    container_spec,
    create_config,
    desired_networks,
    endpoint_config,
    env_map,
    expected_healthcheck,
    namespace_aliases,
    network_mode,
    normalise_healthcheck,
    normalise_mount,
    normalise_networks,
    normalise_restart_policy,
    parse_command,
    parse_duration,
    parse_port,
    parse_size,
    parse_volume,
    string_map,
    update_body,
)
from ansible_collections.hna.cloudos.plugins.module_utils._namespace import LABEL_ANONYMOUS_VOLUMES, LABEL_APP

STATES = ('present', 'started', 'stopped', 'restarted', 'absent')
WAITS = ('none', 'running', 'healthy')
PULLS = ('missing', 'always', 'never')

POLL_INTERVAL = 0.25
#: Seconds before the second attempt at removing a failed new container (twice that before the third).
FORGET_RETRY_DELAY = 0.5


def _deployed_by_stack_or_app(labels):
    """Whether a container belongs to a stack or an app, whose deployer makes its networks before it."""
    labels = labels or {}
    return bool(labels.get(LABEL_STACK) or labels.get(LABEL_APP))


class ContainerEngineError(Exception):
    """A change could not be made. ``msg`` is one line for the user; ``facts`` the container as it is now."""

    def __init__(self, msg, facts=None):
        super().__init__(one_line(msg))
        self.msg = one_line(msg)
        self.facts = facts or {}


# --- the options of a container: see _container_options ----------------------------------------

#: Kept for the callers that import them from here.
_string_map = string_map
_env_map = env_map
_actual_mounts = actual_mounts
_actual_networks = actual_networks
_network_mode = network_mode
_actual_ports = actual_ports
_endpoint_config = endpoint_config


def fixed_host_ports(spec):
    """Return the ``HOST_IP:HOST_PORT`` of every fixed host port the spec publishes."""
    return ['%s:%s' % (p['host_ip'] or '0.0.0.0', p['host_port']) for p in spec.get('ports') or [] if p['host_port']]


def compare_networks(spec, container):
    """Return the networks difference between spec and container, or ``None``."""
    return ([d for d in compare(spec, container, {'Id': container.get('Image')}) if d['field'] == 'networks'] or [None])[0]


# --- decisions ---------------------------------------------------------------------------------


def container_status(container):
    """Return ``(running, health)`` of an inspected container (``health`` is ``None`` without a health check)."""
    state = (container or {}).get('State') or {}
    health = (state.get('Health') or {}).get('Status')
    return bool(state.get('Running')) and not state.get('Restarting'), health


def decide(spec, state, container, image, default_log_driver=DEFAULT_LOG_DRIVER, api_version=None):
    """Decide what to do; return a plan (see :meth:`ContainerEngine.plan`). No request is made.

    ``spec`` may lack an image (``spec['image'] is None``) for an existing container: its
    configuration is then not compared, only its state is handled.
    """
    if state not in STATES:
        raise SpecError('state: %r is not one of %s.' % (state, ', '.join(STATES)))
    name = spec['name']
    plan = dict(name=name, state=state, spec=spec, container=container, image=image, action='none', actions=[],
                differences=[])
    if state == 'absent':
        if container is not None:
            plan['action'] = 'remove'
            plan['actions'] = ['remove']
        return plan

    if container is None:
        if not spec.get('image'):
            raise SpecError('image: the container %s does not exist, so an image is needed to create it.' % name)
        plan['actions'] = ['create'] + (['start'] if state in ('started', 'restarted') else [])
        plan['action'] = 'create'
        return plan

    running, health = container_status(container)
    if spec.get('image'):
        plan['differences'] = compare(spec, container, image, default_log_driver, api_version)
    replace = any(not d['in_place'] for d in plan['differences'])
    actions = []
    if replace:
        actions.append('replace')
        # A replacement keeps the old container's running state for present; the other states set it.
        plan['start_new'] = state in ('started', 'restarted') or (state == 'present' and running)
    elif plan['differences']:
        actions.append('update')
    if not replace:
        if state in ('started', ) and not running:
            actions.append('start')
        elif state == 'restarted':
            actions.append('restart' if running else 'start')
        elif state == 'stopped' and (running or (container.get('State') or {}).get('Restarting')):
            actions.append('stop')
    plan['actions'] = actions
    plan['action'] = actions[0] if actions else 'none'
    return plan


# --- facts -------------------------------------------------------------------------------------


def container_facts(container, image_ref=None):
    """Return the facts the modules return for an inspected container (``{}`` for none)."""
    if not container:
        return {}
    config = container.get('Config') or {}
    host_config = container.get('HostConfig') or {}
    state = container.get('State') or {}
    labels = dict(config.get('Labels') or {})
    health = state.get('Health') or {}
    log = health.get('Log') or []
    networks = {}
    for net_name, endpoint in ((container.get('NetworkSettings') or {}).get('Networks') or {}).items():
        endpoint = endpoint or {}
        networks[net_name] = dict(
            ip_address=endpoint.get('IPAddress') or None,
            aliases=[a for a in endpoint.get('Aliases') or [] if a != (container.get('Id') or '')[:12]],
            gateway=endpoint.get('Gateway') or None,
            mac_address=endpoint.get('MacAddress') or None,
        )
    published = []
    for key, bindings in sorted(((container.get('NetworkSettings') or {}).get('Ports') or {}).items()):
        number, sep, protocol = key.partition('/')
        for binding in bindings or []:
            published.append(dict(container_port=int(number), protocol=protocol, host_ip=binding.get('HostIp') or '',
                                  host_port=int(binding['HostPort']) if str(binding.get('HostPort') or '').isdigit() else None))
    policy = host_config.get('RestartPolicy') or {}
    return dict(
        id=container.get('Id'),
        name=(container.get('Name') or '').lstrip('/'),
        image=config.get('Image') or image_ref,
        image_id=container.get('Image'),
        created=container.get('Created'),
        status=state.get('Status'),
        running=bool(state.get('Running')),
        health=health.get('Status'),
        health_log=(log[-1].get('Output') or '').strip() if log else None,
        exit_code=state.get('ExitCode'),
        started_at=state.get('StartedAt'),
        restart_count=container.get('RestartCount') or 0,
        command=config.get('Cmd') or [],
        entrypoint=config.get('Entrypoint') or [],
        env=_env_map(config.get('Env')),
        labels=labels,
        namespace=labels.get(LABEL_NAMESPACE),
        service=labels.get(LABEL_SERVICE),
        networks=networks,
        ports=published,
        mounts=_actual_mounts(host_config),
        memory=int(host_config.get('Memory') or 0) or None,
        cpus=actual_cpus(host_config),
        restart_policy=dict(name=policy.get('Name') or 'no', max_retries=int(policy.get('MaximumRetryCount') or 0)),
    )


def split_image_ref(ref):
    """Return ``(repository, tag_or_digest)`` of an image reference; the tag defaults to ``latest``."""
    if '@' in ref:
        repository, digest = ref.split('@', 1)
        return repository, digest
    name, sep, tag = ref.rpartition(':')
    if sep and '/' not in tag:
        return name, tag
    return ref, 'latest'


# --- the engine --------------------------------------------------------------------------------


#: Seconds the engine gives a container to stop when neither the caller nor the container says (the engine default).
DEFAULT_STOP_TIMEOUT = 10
#: Modes of a replacement: the new container runs beside the old one until it is healthy, or the old one stops first.
REPLACE_MODES = ('start-first', 'stop-first')

_ANONYMOUS_VOLUME_RE = re.compile(r'^[0-9a-f]{64}$')
_WILDCARD_IPS = ('', '0.0.0.0', '::')


def _sentence(text):
    """Return ``text`` ending with a full stop, so that another sentence can follow it."""
    text = (text or '').rstrip()
    return text if text.endswith(('.', '!', '?')) else text + '.'


def leftover_pattern(name):
    """Return the regular expression of the temporary names a replacement of ``name`` uses (``NAME-new-HEX``, ``NAME-old-HEX``)."""
    return re.compile(r'^%s-(new|old)-[0-9a-f]{8,64}$' % re.escape(name))


def engine_volumes(container):
    """Return the names of the volumes the engine carried into an inspected container (label :data:`LABEL_ANONYMOUS_VOLUMES`)."""
    labels = ((container or {}).get('Config') or {}).get('Labels') or {}
    return [item.strip() for item in (labels.get(LABEL_ANONYMOUS_VOLUMES) or '').split(',') if item.strip()]


def carried_volumes(spec, container):
    """Return ``{target: volume_name}``: the old container's anonymous volumes that a replacement takes over.

    A mount the spec declares without a source (an anonymous volume) takes the volume the old container has at
    the same target when that volume is anonymous there too, or was carried into it before.
    """
    if not container:
        return {}
    known = set(engine_volumes(container))
    declared_sources = {}
    for mount in (container.get('HostConfig') or {}).get('Mounts') or []:
        declared_sources[(mount.get('Target') or '').rstrip('/') or '/'] = mount.get('Source') or None
    have = {}
    for mount in container.get('Mounts') or []:
        if (mount.get('Type') or 'volume') != 'volume' or not mount.get('Name'):
            continue
        target = (mount.get('Destination') or '').rstrip('/') or '/'
        volume = mount['Name']
        if volume in known or (declared_sources.get(target) is None and _ANONYMOUS_VOLUME_RE.match(volume)):
            have[target] = volume
    result = {}
    for mount in spec.get('mounts') or []:
        if mount['type'] == 'volume' and not mount['source'] and mount['target'] in have:
            result[mount['target']] = have[mount['target']]
    return result


def engine_view(container, spec=None):
    """Return the inspected container as the comparison must see it: without the engine's bookkeeping.

    The engine labels are left out, and the volumes the engine carried are shown as the anonymous volumes the
    spec declared (no source). The inspected dictionary itself is not changed.
    """
    if not container:
        return container
    labels = (container.get('Config') or {}).get('Labels') or {}
    carried = set(engine_volumes(container))
    if not carried and not any(key.startswith(LABEL_ENGINE_PREFIX) for key in labels):
        return container
    view = dict(container)
    view['Config'] = dict(container.get('Config') or {})
    view['Config']['Labels'] = dict((k, v) for k, v in labels.items() if not k.startswith(LABEL_ENGINE_PREFIX))
    if carried:
        host_config = dict(container.get('HostConfig') or {})
        mounts = []
        for mount in host_config.get('Mounts') or []:
            if (mount.get('Type') or 'volume') == 'volume' and mount.get('Source') in carried:
                mount = dict((k, v) for k, v in mount.items() if k != 'Source')
            mounts.append(mount)
        host_config['Mounts'] = mounts
        view['HostConfig'] = host_config
    return view


def replace_reasons(spec, container, carried=None):
    """Return why a replacement of ``container`` by ``spec`` must stop the old container first (``[]`` when it need not).

    Old and new cannot run together when they would share a fixed host port, a fixed IPv4 address, or data
    that one of them writes: a named volume or a bind mount both mount (every database), or an anonymous
    volume carried from the old container to the new one.
    """
    if not container:
        return []
    reasons = []
    host_config = container.get('HostConfig') or {}
    old_ports = set((p['protocol'], p['host_port']) for p in _actual_ports(host_config) if p['host_port'])
    shared_ports = ['%s/%s' % (port, protocol) for port, protocol in sorted(
        set((p['host_port'], p['protocol']) for p in spec.get('ports') or [] if p['host_port'] and (p['protocol'], p['host_port']) in old_ports))]
    if shared_ports:
        reasons.append('the host port %s is published by the old container' % ', '.join(shared_ports))
    old_networks = _actual_networks(container)
    for network in spec.get('networks') or []:
        if network['ipv4_address'] and (old_networks.get(network['name']) or {}).get('ipv4_address') == network['ipv4_address']:
            reasons.append('the IPv4 address %s on %s is the old container\'s' % (network['ipv4_address'], network['name']))
    old_mounts = container.get('Mounts') or []
    old_volumes = set(m.get('Name') for m in old_mounts if (m.get('Type') or 'volume') == 'volume' and m.get('Name'))
    old_binds = set((m.get('Source') or '').rstrip('/') or '/' for m in old_mounts if m.get('Type') == 'bind')
    for mount in spec.get('mounts') or []:
        if mount['read_only']:
            continue
        if mount['type'] == 'volume' and mount['source'] and mount['source'] in old_volumes:
            reasons.append('the volume %s (%s) is shared with the old container' % (mount['source'], mount['target']))
        elif mount['type'] == 'bind' and mount['source'] and (mount['source'].rstrip('/') or '/') in old_binds:
            reasons.append('the bind mount %s (%s) is shared with the old container' % (mount['source'], mount['target']))
    for target, volume in sorted((carried or {}).items()):
        reasons.append('the anonymous volume %s (%s) is carried from the old container' % (volume[:12], target))
    return reasons


def _ports_overlap(ip_a, ip_b):
    return ip_a in _WILDCARD_IPS or ip_b in _WILDCARD_IPS or ip_a == ip_b


def port_conflicts(specs, listing, replacing=()):
    """Return the fixed host ports of ``specs`` that another container already publishes, or that two specs share.

    ``listing`` is the engine's list of running containers; the containers named like a spec (or a leftover of its
    replacement) and those in ``replacing`` (names or IDs) do not count. Each conflict is
    ``{name, port, holder}`` (``port`` as ``HOST_IP:PORT/PROTOCOL``).
    """
    own = set(spec['name'] for spec in specs)
    patterns = [leftover_pattern(name) for name in own]
    skip = set(replacing or ())
    held = []
    for entry in listing or []:
        names = [n.lstrip('/') for n in entry.get('Names') or []]
        if any(n in own or n in skip or any(p.match(n) for p in patterns) for n in names) or entry.get('Id') in skip \
                or any(entry.get('Id', '').startswith(r) for r in skip if len(r) >= 12):
            continue
        for port in entry.get('Ports') or []:
            if port.get('PublicPort'):
                held.append((port.get('IP') or '', int(port['PublicPort']), port.get('Type') or 'tcp', names[0] if names else entry.get('Id', '')[:12]))
    conflicts = []
    wanted = []
    for spec in specs:
        for port in spec.get('ports') or []:
            if not port['host_port']:
                continue
            ip, number, protocol = port['host_ip'] or '', port['host_port'], port['protocol']
            shown = '%s:%s/%s' % (ip or '0.0.0.0', number, protocol)
            for held_ip, held_port, held_protocol, holder in held + wanted:
                if held_port == number and held_protocol == protocol and _ports_overlap(ip, held_ip) and holder != spec['name']:
                    conflicts.append(dict(name=spec['name'], port=shown, holder=holder))
                    break
            wanted.append((ip, number, protocol, spec['name']))
    return conflicts


class _EndpointGate(object):
    """Keeps the renames of running containers apart from the removals of network endpoints, in this process.

    Engine 20.10 keeps each network's count of endpoints in a record that every operation reloads, and
    renaming a running container writes that count back from the copy its network holds in memory. When
    an endpoint of the network is removed meanwhile (a container stopped, killed, removed or
    disconnected), or was being removed when that copy was loaded, the write brings the removed endpoint
    back into the count, and the network can no longer be removed ("has active endpoints") until the
    engine restarts. Three rounds of parallel replacements of 30 services in one namespace hit it in every trial.

    So the endpoint removals of this process (:meth:`removing`) run side by side, and each one returns only
    when the engine has finished it; a rename of a running container (:meth:`renaming`) waits until none
    runs, holds back new ones (it is short) and first makes the engine reload its copies of the networks.
    Creations of endpoints (starts, connections) need neither: a count they raise is never written back
    too high. Only the workers of one run share the gate; runs against one namespace are kept apart by its
    lock.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._removals = 0
        self._renaming = False
        self._waiting = 0

    @contextlib.contextmanager
    def removing(self):
        with self._cond:
            while self._renaming or self._waiting:
                self._cond.wait()
            self._removals += 1
        try:
            yield
        finally:
            with self._cond:
                self._removals -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def renaming(self):
        with self._cond:
            self._waiting += 1
            while self._renaming or self._removals:
                self._cond.wait()
            self._waiting -= 1
            self._renaming = True
        try:
            yield
        finally:
            with self._cond:
                self._renaming = False
                self._cond.notify_all()


ENDPOINTS = _EndpointGate()


class ContainerEngine(object):
    """Bring containers to their spec on one Docker engine.

    :param client: the module's ``DockerClient`` (for ``check_mode``, ``docker_host`` and the ``timeout`` and
        ``config_path`` options when the module has them).
    :param api: the ``docker.APIClient`` to use; defaults to ``client.api``. Give each thread its own
        (``client.new_api()``) and its own engine.

    Methods raise :class:`ContainerEngineError` with a one-line message; they never exit the module.
    """

    def __init__(self, client, api=None):
        self.client = client
        self.api = api if api is not None else client.api
        self.check_mode = bool(getattr(client, 'check_mode', False))
        self.docker_host = getattr(client, 'docker_host', None)
        params = getattr(client, 'params', None) or {}
        self.timeout = params.get('timeout')
        self.config_path = params.get('config_path') or None
        self._default_log_driver = None

    # -- requests --------------------------------------------------------------------------------

    def _call(self, what, method, *args, **kwargs):
        """Make one request; turn any error into :class:`ContainerEngineError` (``NotFound`` goes through)."""
        try:
            return method(*args, **kwargs)
        except NotFound:
            raise
        except APIError as exc:
            raise ContainerEngineError(api_error_message(self.docker_host, what, exc))
        except RequestException as exc:
            raise ContainerEngineError(connection_error_message(self.docker_host, exc, self.timeout, what))
        except (DockerException, ValueError) as exc:
            raise ContainerEngineError('The Docker engine at %s could not %s: %s' % (self.docker_host, what, one_line(exc)))

    def _call_found(self, what, method, *args, **kwargs):
        try:
            return self._call(what, method, *args, **kwargs)
        except NotFound as exc:
            raise ContainerEngineError(api_error_message(self.docker_host, what, exc))

    def default_log_driver(self):
        """Return the engine's default log driver (asked once, and only when needed)."""
        if self._default_log_driver is None:
            info = self._call_found('describe itself', self.api.info) or {}
            self._default_log_driver = info.get('LoggingDriver') or DEFAULT_LOG_DRIVER
        return self._default_log_driver

    # -- the documented API ------------------------------------------------------------------------

    def image(self, ref, pull='missing', inspect=None):
        """Return the inspected image ``ref``, pulling it as ``pull`` says (never in check mode).

        Returns ``None`` in check mode when the image would have to be pulled first. A pull uses the
        registry credentials of the Docker client configuration (as ``hna.cloudos.image`` does).
        ``inspect`` (``inspect(ref)``, answering or raising as ``api.inspect_image`` does) replaces the first
        inspection, the one made before any pull: for a caller that inspected the image ahead.
        """
        if pull not in PULLS:
            raise SpecError('pull: %r is not one of %s.' % (pull, ', '.join(PULLS)))
        image = None
        if pull != 'always':
            try:
                image = self._call('inspect the image %s' % ref, inspect or self.api.inspect_image, ref)
            except NotFound:
                image = None
            if image is not None or pull == 'never':
                if image is None:
                    raise ContainerEngineError('The image %s is not on the Docker engine at %s and pull is never: build, load or '
                                               'pull it first, or set pull to missing.' % (ref, self.docker_host))
                return image
        if self.check_mode:
            try:
                return self._call('inspect the image %s' % ref, self.api.inspect_image, ref) if pull == 'always' else None
            except NotFound:
                return None
        self._pull(ref)
        return self._call_found('inspect the image %s' % ref, self.api.inspect_image, ref)

    def _pull(self, ref):
        repository, tag = split_image_ref(ref)
        what = 'pull the image %s' % ref
        config_path = self.config_path or _docker_image.default_config_path()
        try:
            auth = _docker_image.auth_for(ref, config_path)
        except _docker_image.ImageError as exc:
            raise ContainerEngineError('Cannot %s: %s' % (what, exc))
        try:
            for event in self.api.pull(repository, tag=tag, stream=True, decode=True, auth_config=auth):
                if isinstance(event, dict) and event.get('error'):
                    raise ContainerEngineError(_docker_image.registry_auth_hint('The Docker engine at %s could not %s: %s' % (
                        self.docker_host, what, one_line(event.get('error'))), ref, auth, config_path))
        except APIError as exc:
            text = one_line(getattr(exc, 'explanation', None) or exc)
            status = getattr(getattr(exc, 'response', None), 'status_code', None)
            message = 'The Docker engine at %s could not %s%s: %s' % (self.docker_host, what, ' (HTTP %s)' % status if status else '', text)
            if auth is None and 'HTTP request to an HTTPS server' in text:
                # The engine retried a refused HTTPS request over HTTP (an insecure registry): the refusal was the point.
                message = ('The Docker engine at %s could not %s: the registry refused it over HTTPS (authentication '
                           'required), and the engine then retried over HTTP, which the registry does not serve' % (
                               self.docker_host, what))
            raise ContainerEngineError(_docker_image.registry_auth_hint(message, ref, auth, config_path))
        except RequestException as exc:
            raise ContainerEngineError(connection_error_message(self.docker_host, exc, self.timeout, what))
        except DockerException as exc:
            raise ContainerEngineError('The Docker engine at %s could not %s: %s' % (self.docker_host, what, one_line(exc)))

    def find(self, name):
        """Return the inspected container ``name`` (or ID), or ``None`` when there is none."""
        try:
            return self._call('inspect the container %s' % name, self.api.inspect_container, name)
        except NotFound:
            return None

    def leftovers(self, name, listing=None):
        """Return the list entries of the containers a replacement of ``name`` left behind (``NAME-new-*``, ``NAME-old-*``).

        One container listing (none when the caller gives ``listing``, a list of all the containers that
        may matter, as the stack module does for all its containers at once); the newest first.
        """
        if listing is not None:
            entries = listing
        else:
            entries = self._call('list the containers', self.api.containers, all=True, filters={'name': '%s-' % name}) or []
        pattern = leftover_pattern(name)
        found = [entry for entry in entries if any(pattern.match(n.lstrip('/')) for n in entry.get('Names') or [])]
        return sorted(found, key=lambda entry: entry.get('Created') or 0, reverse=True)

    def port_conflicts(self, specs, replacing=()):
        """Check, from one container listing, the fixed host ports of ``specs`` (one spec or a list).

        Return the conflicts (``{name, port, holder}``, see :func:`port_conflicts`): ports another running
        container publishes (the containers of those names, their replacement leftovers and ``replacing``, names
        or IDs, do not count), or that two of the specs publish. No request is made when no spec has a fixed port.
        """
        if isinstance(specs, dict):
            specs = [specs]
        if not any(fixed_host_ports(spec) for spec in specs):
            return []
        listing = self._call('list the containers', self.api.containers, all=False) or []
        return port_conflicts(specs, listing, replacing)

    def check_ports(self, specs, replacing=()):
        """Raise :class:`ContainerEngineError` naming the first host port of ``specs`` already taken (see :meth:`port_conflicts`)."""
        conflicts = self.port_conflicts(specs, replacing)
        if conflicts:
            first = conflicts[0]
            more = ' (and %d more)' % (len(conflicts) - 1) if len(conflicts) > 1 else ''
            raise ContainerEngineError('The host port %s of %s is already published by the container %s%s: stop or change that '
                                       'container, or choose another port. Nothing was changed.' % (
                                           first['port'], first['name'], first['holder'], more))

    def check_networks(self, spec, container=None):
        """Raise :class:`SpecError` for the first network of ``spec`` the container cannot join.

        The network must exist, and a fixed IPv4 address must be in one of its subnets and not used by another
        container than ``container`` (or a leftover of its replacement). Checked before any change, because
        the engine keeps a connection it refused in the container's configuration (the container then cannot
        start again).
        """
        own = set([spec['name']])
        if container:
            own.add(container.get('Id'))
        pattern = leftover_pattern(spec['name'])
        for network in spec.get('networks') or []:
            net_name = network['name']
            if net_name in SPECIAL_NETWORK_MODES or net_name.startswith('container:'):
                continue
            try:
                actual = self._call('inspect the network %s' % net_name, self.api.inspect_network, net_name) or {}
            except NotFound:
                raise SpecError('networks: the network %s of %s does not exist on the Docker engine at %s: create it first or '
                                'correct its name. Nothing was changed.' % (net_name, spec['name'], self.docker_host))
            address = network.get('ipv4_address')
            if not address:
                continue
            subnets = [c.get('Subnet') for c in (actual.get('IPAM') or {}).get('Config') or [] if c.get('Subnet')]
            try:
                inside = any(ipaddress.ip_address(address) in ipaddress.ip_network(subnet, strict=False) for subnet in subnets)
            except ValueError:
                inside = False
            if not inside:
                raise SpecError('networks: the address %s of %s is not in the subnet of the network %s (%s): choose an address '
                                'in it. Nothing was changed.' % (address, spec['name'], net_name, ', '.join(subnets) or 'none'))
            for holder_id, holder in ((actual.get('Containers') or {}).items()):
                holder_name = (holder or {}).get('Name') or holder_id[:12]
                if (holder.get('IPv4Address') or '').split('/')[0] == address and holder_id not in own \
                        and holder_name not in own and not pattern.match(holder_name):
                    raise SpecError('networks: the address %s of %s on the network %s is already used by the container %s: '
                                    'choose another address. Nothing was changed.' % (address, spec['name'], net_name, holder_name))

    def plan(self, spec, state='started', container=False, image=False, pull='missing', check_ports=True, check_networks=None,
             listing=None):
        """Compare ``spec`` with the container of that name and decide what to do.

        Returns ``{"name", "action", "actions", "differences", ...}``: ``action`` is the main step
        (``create``, ``update``, ``replace``, ``start``, ``stop``, ``restart``, ``remove``, ``recover`` or ``none``),
        ``actions`` every step in order (for example ``['update', 'start']``), ``differences`` the
        fields that differ (``{field, before, after, in_place}``). The other keys are for :meth:`apply`;
        a replacement has ``replace_mode`` (``start-first`` or ``stop-first``, then ``actions`` starts with
        ``stop``) and ``replace_reason``.
        ``container`` and ``image`` may be given when already inspected (``None`` meaning absent);
        otherwise this costs one inspect of each (the image is only inspected when the spec needs it).

        Leftovers of an interrupted replacement (``NAME-new-*``, ``NAME-old-*``) are found here and resolved
        first by :meth:`apply` (action ``recover``): a replacement that had renamed the new container to the
        name is finished (the old container is removed); any other is undone (the new container is removed,
        and the old one gets its name back when it had lost it). The plan is then made against what is left.

        Before any change the plan checks that every declared network exists (``check_networks``; by default
        not for a spec of ``hna.cloudos.stack``, which creates its networks itself) and, when a container is
        to be started, that no other container publishes its fixed host ports (``check_ports``; a caller
        such as the stack module passes ``False`` and calls :meth:`check_ports` once for all its specs).
        ``listing`` (a container listing the caller already has) saves the listing for the leftovers.
        """
        name = spec['name']
        leftovers = self.leftovers(name, listing)
        if container is False:
            container = self.find(name)
        recover = None
        if leftovers:
            recover = dict(remove=[], restore=None)
            for entry in leftovers:
                names = [n.lstrip('/') for n in entry.get('Names') or []]
                if container is None and state != 'absent' and recover['restore'] is None \
                        and any('-old-' in n[len(name):] for n in names):
                    recover['restore'] = entry['Id']
                else:
                    recover['remove'].append(dict(id=entry['Id'], name=names[0] if names else entry['Id'][:12],
                                                  old='-old-' in (names[0] if names else '')[len(name):]))
            if recover['restore'] is not None:
                container = self.find(recover['restore'])
        if image is False:
            image = None
            if state != 'absent' and spec.get('image'):
                image = self.image(spec['image'], pull)
        view = engine_view(container, spec)
        default_log_driver = DEFAULT_LOG_DRIVER
        if container is not None and spec.get('image') and not spec.get('log_driver'):
            have = ((container.get('HostConfig') or {}).get('LogConfig') or {}).get('Type')
            if have and have != DEFAULT_LOG_DRIVER:
                default_log_driver = self.default_log_driver()
        plan = decide(spec, state, view, image, default_log_driver, getattr(self.api, 'api_version', None))
        plan['container'] = container
        plan['leftovers'] = recover
        plan['replace_mode'] = None
        plan['replace_reason'] = None
        plan['carried_volumes'] = {}
        if 'replace' in plan['actions']:
            carried = carried_volumes(spec, container)
            reasons = replace_reasons(spec, container, carried)
            plan['carried_volumes'] = carried
            plan['replace_mode'] = 'stop-first' if reasons else 'start-first'
            plan['replace_reason'] = '; '.join(reasons) or None
            if reasons and plan.get('start_new') and container_status(container)[0]:
                plan['actions'] = ['stop'] + plan['actions']
        if recover:
            plan['actions'] = ['recover'] + plan['actions']
            if plan['action'] == 'none':
                plan['action'] = 'recover'
        if state != 'absent' and spec.get('image') and any(a in ('create', 'replace', 'update') for a in plan['actions']):
            if check_networks or (check_networks is None and not _deployed_by_stack_or_app(spec.get('labels'))):
                self.check_networks(spec, container)
        if check_ports and state != 'absent' and spec.get('ports') and (
                any(a in ('create', 'start', 'restart') for a in plan['actions'])
                or ('replace' in plan['actions'] and plan.get('start_new'))):
            self.check_ports(spec, replacing=[container['Id']] if container else [])
        return plan

    def remove(self, name, force=True, volumes=False, stop_timeout=None):
        """Remove the container ``name`` if it exists (stopping it first unless ``force``). Return whether one was removed.

        With ``volumes``, its anonymous volumes go too, the ones the engine carried into it included.
        """
        container = self.find(name)
        if container is None:
            return False
        if self.check_mode:
            return True
        self._remove(container['Id'], force=force, volumes=volumes, stop_timeout=stop_timeout,
                     running=container_status(container)[0], container=container)
        return True

    def apply(self, plan, wait='running', timeout=60, force_kill=False, keep_volumes=True, quota=True):
        """Carry out a plan; return the container facts (as they are now in check mode).

        ``wait``: after starting, ``none`` returns at once, ``running`` checks the container runs,
        ``healthy`` waits up to ``timeout`` seconds for its health check to pass (running when it has none).
        A replacement always waits for the new container to be healthy (or running) before the old one goes.
        With ``quota`` (the default), the namespace quotas of a container with a namespace label are
        checked before anything is created; a caller that checked them for a whole change passes ``False``.
        """
        if wait not in WAITS:
            raise SpecError('wait: %r is not one of %s.' % (wait, ', '.join(WAITS)))
        container = plan.get('container')
        spec = plan['spec']
        actions = plan['actions']
        name = plan['name']
        image_ref = spec.get('image')

        if quota and (plan['action'] in ('create', 'replace') or (plan['action'] == 'update' and self._adds_resources(plan))):
            self._check_quota(plan)

        if self.check_mode:
            return container_facts(container, image_ref)

        if plan.get('leftovers'):
            self._recover(plan)

        if not any(action != 'recover' for action in actions):
            if container is not None and plan['state'] == 'started' and wait == 'healthy' \
                    and container_status(container)[1] not in (None, 'healthy'):
                container = self._wait(container['Id'], 'healthy', timeout, name)
            if plan.get('leftovers'):
                return container_facts(self.find(container['Id']) if container else None, image_ref)
            return container_facts(container, image_ref)

        if plan['action'] == 'remove':
            self._remove(container['Id'], force=force_kill, volumes=not keep_volumes,
                         stop_timeout=spec.get('stop_timeout'), running=container_status(container)[0], container=container)
            return {}

        cid = container['Id'] if container is not None else None
        # A new replica of a service whose other replicas serve joins the service's aliases once it is healthy.
        join_when_ready = bool(plan.get('join_when_ready')) and 'create' in actions and 'start' in actions
        for action in actions:
            if action == 'create':
                cid = self._create(spec, name, aliases=not join_when_ready)
            elif action == 'replace':
                cid = self._replace(plan, timeout, force_kill, keep_volumes)
            elif action == 'update':
                self._update(cid, plan)
            elif action == 'start':
                self._start(cid, name, created='create' in actions)
            elif action == 'restart':
                self._call_found('restart the container %s' % name, self.api.restart, cid,
                                 timeout=self._stop_timeout(container, spec.get('stop_timeout')))
            elif action == 'stop' and 'replace' not in actions:
                self._stop(cid, name, force_kill, self._stop_timeout(container, spec.get('stop_timeout')))

        started = any(action in ('start', 'restart') for action in actions) or ('replace' in actions and plan.get('start_new'))
        if join_when_ready:
            self._wait(cid, 'healthy', timeout, name)
            self._join_aliases(cid, spec, name)
        if started and wait != 'none':
            return container_facts(self._wait(cid, wait, timeout, name), image_ref)
        return container_facts(self._call_found('inspect the container %s' % name, self.api.inspect_container, cid), image_ref)

    # -- steps ---------------------------------------------------------------------------------------

    def _recover(self, plan):
        """Resolve the leftovers of an interrupted replacement found by :meth:`plan` (see there for the rule)."""
        name = plan['name']
        leftovers = plan['leftovers']
        for entry in leftovers['remove']:
            # A leftover new container never owns carried volumes (they are the old container's, mounted by name);
            # an old one that lost to a finished replacement gave its anonymous volumes to the new container.
            self._remove(entry['id'], force=True, volumes=not entry['old'], stop_timeout=None, running=False)
        if leftovers['restore'] is not None:
            self._rename('give the old container of %s its name back' % name, leftovers['restore'], name)

    def _adds_resources(self, plan):
        return any(d['field'] in ('memory', 'cpus') for d in plan['differences'])

    def _check_quota(self, plan):
        spec = plan['spec']
        namespace = (spec.get('labels') or {}).get(LABEL_NAMESPACE)
        if not namespace:
            return
        if _namespace is None or not hasattr(_namespace, 'check_quota'):
            raise ContainerEngineError('The container %s belongs to namespace %s, but this installation of the collection '
                                       'has no namespace support to check its quotas.' % (plan['name'], namespace))
        replacing = (plan['container']['Id'], ) if plan.get('container') else ()
        # The leftovers of an interrupted replacement are removed before anything is created.
        replacing += tuple(entry['id'] for entry in ((plan.get('leftovers') or {}).get('remove') or []))
        try:
            _namespace.check_quota(self.api, namespace, add_containers=1, add_volumes=0, add_cpus=spec.get('cpus') or 0.0,
                                   add_memory=spec.get('memory') or 0, replacing=replacing)
        except _namespace.NamespaceError as exc:
            raise ContainerEngineError(str(exc))
        except APIError as exc:
            raise ContainerEngineError(api_error_message(self.docker_host, 'check the quotas of namespace %s' % namespace, exc))
        except RequestException as exc:
            raise ContainerEngineError(connection_error_message(self.docker_host, exc, self.timeout))
        except DockerException as exc:
            raise ContainerEngineError('Could not check the quotas of namespace %s: %s' % (namespace, one_line(exc)))

    def _create(self, spec, name, carried=None, aliases=True):
        """Create a container from ``spec`` under ``name``, connected to all its networks; return its ID.

        ``carried`` (``{target: volume}``) mounts those volumes by name at the targets the spec declares as
        anonymous volumes, and records them in the label :data:`LABEL_ANONYMOUS_VOLUMES`. Without ``aliases``
        the container joins its networks without their aliases (see :meth:`_join_aliases`). A create that
        fails (a timeout included) leaves no container behind.
        """
        config, later = create_config(spec, getattr(self.api, 'api_version', None))
        if carried:
            for mount in (config.get('HostConfig') or {}).get('Mounts') or []:
                if mount.get('Type') == 'volume' and not mount.get('Source') and mount.get('Target') in carried:
                    mount['Source'] = carried[mount['Target']]
            config['Labels'][LABEL_ANONYMOUS_VOLUMES] = ','.join(sorted(set(carried.values())))
        if not aliases:
            for endpoint in ((config.get('NetworkingConfig') or {}).get('EndpointsConfig') or {}).values():
                endpoint['Aliases'] = None
        try:
            result = self._call_found('create the container %s' % name, self.api.create_container_from_config, config, name=name)
        except ContainerEngineError:
            # The engine may have created it although the answer did not arrive (a read timeout).
            self._forget(name)
            raise
        cid = result['Id']
        try:
            for network in later:
                self._call_found('connect the container %s to the network %s' % (name, network['name']),
                                 self.api.connect_container_to_network, cid, network['name'],
                                 ipv4_address=network['ipv4_address'], aliases=(network['aliases'] or None) if aliases else None)
        except ContainerEngineError:
            self._forget(cid)
            raise
        return cid

    def _join_aliases(self, cid, spec, name):
        """Give a container that joined its networks without aliases the aliases of ``spec`` (disconnect, connect).

        The container name is added as an alias too, so that it resolves while the containers are renamed.
        """
        for network in spec['networks']:
            if not network['aliases'] or network['name'] in SPECIAL_NETWORK_MODES:
                continue
            what = 'give the new container for %s its aliases on the network %s' % (name, network['name'])
            with ENDPOINTS.removing():
                self._call_found(what, self.api.disconnect_container_from_network, cid, network['name'])
            self._call_found(what, self.api.connect_container_to_network, cid, network['name'],
                             ipv4_address=network['ipv4_address'], aliases=list(network['aliases']) + [name])

    def _forget(self, cid, attempts=3):
        """Remove a container this engine has just created (clean-up after a failure); return whether it is gone.

        A failed removal is tried again (an engine under load may answer late or refuse once): a replacement that
        stopped the old container first must not start it again while the new one may still run on the same data.
        """
        for attempt in range(attempts):
            try:
                with ENDPOINTS.removing():
                    self.api.remove_container(cid, force=True, v=True)
                return True
            except NotFound:
                return True
            except (APIError, RequestException, DockerException):
                pass
            try:
                self.api.inspect_container(cid)
            except NotFound:
                return True
            except (APIError, RequestException, DockerException):
                pass
            if attempt + 1 < attempts:
                time.sleep(FORGET_RETRY_DELAY * (attempt + 1))
        return False

    def _left_running(self, message, name, temp_name, exc_facts=None):
        """The failure of a replacement whose new container could not be removed: the old one stays stopped."""
        return ContainerEngineError(
            '%s The container %s was not replaced. The new container %s could not be removed, so the old one was left '
            'stopped (two containers must not run on its data): remove %s (docker rm -f %s), then run the task again.'
            % (_sentence(message), name, temp_name, temp_name, temp_name), facts=exc_facts)

    @staticmethod
    def _stop_timeout(container, stop_timeout=None):
        """Return the seconds a stop waits: ``stop_timeout``, else the container's own, else the engine default."""
        if stop_timeout is not None:
            return stop_timeout
        own = ((container or {}).get('Config') or {}).get('StopTimeout')
        return own if own is not None else DEFAULT_STOP_TIMEOUT

    def _start(self, cid, name, created=False):
        try:
            self._call_found('start the container %s' % name, self.api.start, cid)
        except ContainerEngineError as exc:
            if not created:
                raise
            facts = {}
            try:
                facts = container_facts(self.api.inspect_container(cid))
            except (APIError, RequestException, DockerException):
                pass
            raise ContainerEngineError('%s The container %s was created but did not start (status %s).' % (
                _sentence(exc.msg), name, facts.get('status') or 'unknown'), facts=facts)

    def _stop(self, cid, name, force_kill, stop_timeout):
        """Stop (or kill) a container; ``stop_timeout`` must be given, so that the read timeout of the request covers it."""
        with ENDPOINTS.removing():
            if force_kill:
                self._call_found('kill the container %s' % name, self.api.kill, cid)
                # Should the kill answer before the engine has released the container's endpoints, an inspection
                # waits for that: the engine holds the container while it releases them.
                try:
                    self._call('inspect the container %s' % name, self.api.inspect_container, cid)
                except NotFound:
                    pass
            else:
                self._call_found('stop the container %s' % name, self.api.stop, cid,
                                 timeout=stop_timeout if stop_timeout is not None else DEFAULT_STOP_TIMEOUT)

    def _remove(self, cid, force, volumes, stop_timeout, running, container=None):
        if container is None and (volumes or (running and not force)):
            container = self.find(cid)
        with ENDPOINTS.removing():
            if running and not force:
                self._call_found('stop the container %s' % cid[:12], self.api.stop, cid, timeout=self._stop_timeout(container, stop_timeout))
            try:
                self._call('remove the container %s' % cid[:12], self.api.remove_container, cid, v=volumes, force=True)
            except NotFound:
                pass
        if volumes:
            for volume in engine_volumes(container):
                try:
                    self._call('remove the volume %s of the container %s' % (volume, cid[:12]), self.api.remove_volume, volume)
                except NotFound:
                    pass

    def _update(self, cid, plan):
        name = plan['name']
        body = update_body(plan['spec'], plan['differences'], plan.get('container'))
        if body:
            self._call_found('update the container %s' % name, self.api.update_container, cid, **body)
        if any(d['field'] == 'networks' for d in plan['differences']):
            self._update_networks(cid, plan)

    def _update_networks(self, cid, plan):
        """Change the networks of a container in place: connect first, disconnect last, and undo everything on failure."""
        name = plan['name']
        actual = _actual_networks(plan['container'])
        wanted = dict((n['name'], n) for n in desired_networks(plan['spec']))
        diff = [d for d in plan['differences'] if d['field'] == 'networks'][0]
        before = dict((n['name'], n) for n in diff['before'])
        after = dict((n['name'], n) for n in diff['after'])
        done = []
        pending = None
        try:
            for net_name, network in wanted.items():
                if net_name not in actual:
                    pending = net_name
                    self._connect(cid, name, net_name, network)
                    done.append(('connected', net_name))
            for net_name, network in wanted.items():
                if net_name in actual and before.get(net_name) != after.get(net_name):
                    self._disconnect(cid, name, net_name)
                    done.append(('disconnected', net_name))
                    pending = net_name
                    self._connect(cid, name, net_name, network)
                    done[-1] = ('changed', net_name)
            pending = None
            for net_name in actual:
                if net_name not in after:
                    self._disconnect(cid, name, net_name)
                    done.append(('disconnected', net_name))
        except ContainerEngineError as exc:
            if pending is not None:
                # The engine may have half made a connection it refused (it does for an address outside the subnet).
                self.leave(cid, pending)
            failed = []
            for step, net_name in reversed(done):
                try:
                    if step in ('connected', 'changed'):
                        self._disconnect(cid, name, net_name)
                    if step in ('disconnected', 'changed'):
                        self._connect(cid, name, net_name, before.get(net_name) or dict(aliases=[], ipv4_address=None))
                except ContainerEngineError:
                    failed.append(net_name)
            if failed:
                raise ContainerEngineError('%s The networks of the container %s could not all be put back (%s).' % (
                    _sentence(exc.msg), name, ', '.join(sorted(set(failed)))))
            raise ContainerEngineError('%s The networks of the container %s were left as they were.' % (_sentence(exc.msg), name))

    def _connect(self, cid, name, net_name, network):
        self._call_found('connect the container %s to the network %s' % (name, net_name),
                         self.api.connect_container_to_network, cid, net_name,
                         ipv4_address=network.get('ipv4_address'), aliases=list(network.get('aliases') or []) or None)

    def _disconnect(self, cid, name, net_name):
        with ENDPOINTS.removing():
            self._call_found('disconnect the container %s from the network %s' % (name, net_name),
                             self.api.disconnect_container_from_network, cid, net_name)

    def leave(self, cid, net_name):
        """Disconnect a container from a network as a clean-up, whose failure is ignored (the endpoint gate is held)."""
        try:
            with ENDPOINTS.removing():
                self.api.disconnect_container_from_network(cid, net_name)
        except (APIError, RequestException, DockerException):
            pass

    def _rename(self, what, cid, new_name, networks=None):
        """Rename a container that may be running, apart from every endpoint removal (see :class:`_EndpointGate`).

        ``networks`` are the names of its networks; without them the container is inspected for them.
        """
        with ENDPOINTS.renaming():
            if networks is None:
                container = self._call_found(what, self.api.inspect_container, cid)
                networks = list(_actual_networks(container))
            for net_name in networks:
                # Makes the engine load the network, with its count of endpoints, afresh.
                try:
                    self.api.inspect_network(net_name)
                except (APIError, RequestException, DockerException):
                    pass
            self._call_found(what, self.api.rename, cid, new_name)

    def _replace(self, plan, timeout, force_kill, keep_volumes):
        """Replace the container safely; return the new container's ID.

        The new container is created beside the old one under a temporary name, on its networks but without
        their aliases. When it must run, it is started and must become healthy (or run, without a health
        check); only then does it get its aliases, and the old one is stopped, renamed and removed: the
        aliases always resolve to a container that passed its health check. The anonymous volumes of the old
        container are carried to the new one by name. With ``replace_mode`` ``stop-first`` (fixed host ports,
        fixed IP addresses or written data shared with the old container, see :func:`replace_reasons`), the
        old container is stopped first and started again if the new one fails.
        """
        spec = plan['spec']
        name = plan['name']
        old = plan['container']
        old_id = old['Id']
        old_running = container_status(old)[0]
        start_new = plan.get('start_new')
        stop_first = plan.get('replace_mode') == 'stop-first'
        carried = plan.get('carried_volumes') or {}
        temp_name = '%s-new-%s' % (name, uuid.uuid4().hex[:8])
        old_stop_timeout = self._stop_timeout(old)

        stopped_old = False
        stopped_at = None
        if (old.get('State') or {}).get('Restarting'):
            # A container in a restart loop serves nothing and cannot be renamed between two
            # restarts: stop it first (this also ends the loop).
            self._stop(old_id, name, force_kill, old_stop_timeout)
            old_running = False
        if old_running and (stop_first or (carried and not start_new)):
            self._stop(old_id, name, force_kill, old_stop_timeout)
            stopped_old = True
            stopped_at = time.monotonic()
        try:
            new_id = self._create(spec, temp_name, carried=carried, aliases=not start_new)
        except ContainerEngineError as exc:
            raise ContainerEngineError('%s The container %s was not replaced.%s' % (
                _sentence(exc.msg), name, self._restore_note(old_id, old_running, stopped_old, stopped_at, plan)))
        if start_new:
            try:
                self._call_found('start the new container for %s' % name, self.api.start, new_id)
                self._wait(new_id, 'healthy', timeout, name, replacement=True)
                self._join_aliases(new_id, spec, name)
            except ContainerEngineError as exc:
                if not self._forget(new_id) and stopped_old:
                    raise self._left_running(exc.msg, name, temp_name, exc.facts)
                raise ContainerEngineError('%s The container %s was not replaced.%s' % (
                    _sentence(exc.msg), name, self._restore_note(old_id, old_running, stopped_old, stopped_at, plan)), facts=exc.facts)

        try:
            if old_running and not stopped_old:
                self._stop(old_id, name, force_kill, old_stop_timeout)
            self._call_found('rename the old container %s' % name, self.api.rename, old_id, '%s-old-%s' % (name, old_id[:12]))
            self._rename('rename the new container for %s' % name, new_id, name,
                         [n['name'] for n in spec['networks'] if n['name'] not in SPECIAL_NETWORK_MODES])
        except ContainerEngineError as exc:
            if not self._forget(new_id) and old_running:
                raise self._left_running(exc.msg, name, temp_name)
            try:
                self.api.rename(old_id, name)
            except (APIError, RequestException, DockerException):
                pass
            self._restore(old_id, old_running)
            raise ContainerEngineError('%s The container %s was not replaced.' % (exc.msg, name))
        # The old container's anonymous volumes now belong to the new one.
        self._remove(old_id, force=True, volumes=not keep_volumes and not carried, stop_timeout=None, running=False, container=old)
        return new_id

    def _restore_note(self, old_id, old_running, stopped_old, stopped_at, plan):
        """Start the old container again if this engine stopped it; return what to tell the user about it."""
        if not stopped_old:
            return ' The old container keeps running.' if old_running else ''
        restored = self._restore(old_id, True)
        down = time.monotonic() - stopped_at
        reason = plan.get('replace_reason')
        why = ' (%s)' % reason if reason else ''
        if restored:
            return (' The old container was stopped first%s and has been started again: the service was down for %.1f s.'
                    % (why, down))
        return (' The old container was stopped first%s and could not be started again: the service is down (for %.1f s '
                'so far).' % (why, down))

    def _restore(self, old_id, stopped_old):
        """Start the old container again if this engine stopped it; return whether it runs (or needed nothing)."""
        if not stopped_old:
            return True
        try:
            self.api.start(old_id)
        except (APIError, RequestException, DockerException):
            return False
        return True

    def _wait(self, cid, wait, timeout, name, replacement=False):
        """Wait until the container runs (``running``) or is healthy (``healthy``); return it inspected."""
        deadline = time.monotonic() + max(0, timeout or 0)
        what = 'the new container for %s' % name if replacement else 'the container %s' % name
        while True:
            container = self._call_found('inspect %s' % what, self.api.inspect_container, cid)
            state = container.get('State') or {}
            running, health = container_status(container)
            if not state.get('Running') and state.get('Status') in ('exited', 'dead', 'created'):
                if state.get('Status') != 'created' or time.monotonic() >= deadline:
                    raise ContainerEngineError('%s stopped (exit code %s)%s.%s' % (
                        what[0].upper() + what[1:], state.get('ExitCode'),
                        ': %s' % one_line(state['Error']) if state.get('Error') else '', self._last_logs(cid)),
                        facts=container_facts(container))
            if running and (wait == 'running' or health in (None, 'healthy')):
                return container
            if running and health == 'unhealthy':
                raise ContainerEngineError('%s is unhealthy.%s' % (what[0].upper() + what[1:], self._health_output(container)),
                                           facts=container_facts(container))
            if time.monotonic() >= deadline:
                raise ContainerEngineError('%s did not become %s within %s s (status %s%s).%s' % (
                    what[0].upper() + what[1:], 'healthy' if wait == 'healthy' and health else 'running', timeout,
                    state.get('Status'), ', health %s' % health if health else '', self._health_output(container)),
                    facts=container_facts(container))
            time.sleep(POLL_INTERVAL)

    @staticmethod
    def _health_output(container):
        log = ((container.get('State') or {}).get('Health') or {}).get('Log') or []
        if not log:
            return ''
        last = log[-1]
        return ' Last health check output (exit code %s): %s' % (last.get('ExitCode'), one_line(last.get('Output') or '(none)')[:500])

    def _last_logs(self, cid):
        try:
            logs = self.api.logs(cid, stdout=True, stderr=True, tail=5)
        except (APIError, RequestException, DockerException):
            return ''
        text = one_line(logs.decode('utf-8', 'replace') if isinstance(logs, bytes) else logs)
        return ' Last output: %s' % text[-500:] if text else ''
