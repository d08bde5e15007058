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

STATES = ('present', 'started', 'stopped', 'restarted', 'absent')
WAITS = ('none', 'running', 'healthy')
PULLS = ('missing', 'always', 'never')

POLL_INTERVAL = 0.25


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


class ContainerEngine(object):
    """Bring containers to their spec on one Docker engine.

    :param client: the module's ``DockerClient`` (for ``check_mode`` and ``docker_host``).
    :param api: the ``docker.APIClient`` to use; defaults to ``client.api``. Give each thread its own
        (``client.new_api()``) and its own engine.

    Methods raise :class:`ContainerEngineError` with a one-line message; they never exit the module.
    """

    def __init__(self, client, api=None):
        self.client = client
        self.api = api if api is not None else client.api
        self.check_mode = bool(getattr(client, 'check_mode', False))
        self.docker_host = getattr(client, 'docker_host', None)
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
            raise ContainerEngineError(connection_error_message(self.docker_host, exc))
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

    def image(self, ref, pull='missing'):
        """Return the inspected image ``ref``, pulling it as ``pull`` says (never in check mode).

        Returns ``None`` in check mode when the image would have to be pulled first.
        """
        if pull not in PULLS:
            raise SpecError('pull: %r is not one of %s.' % (pull, ', '.join(PULLS)))
        image = None
        if pull != 'always':
            try:
                image = self._call('inspect the image %s' % ref, self.api.inspect_image, ref)
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
        try:
            for event in self.api.pull(repository, tag=tag, stream=True, decode=True):
                if isinstance(event, dict) and event.get('error'):
                    raise ContainerEngineError('The Docker engine at %s could not %s: %s' % (
                        self.docker_host, what, one_line(event.get('error'))))
        except NotFound as exc:
            raise ContainerEngineError(api_error_message(self.docker_host, what, exc))
        except APIError as exc:
            raise ContainerEngineError(api_error_message(self.docker_host, what, exc))
        except RequestException as exc:
            raise ContainerEngineError(connection_error_message(self.docker_host, exc))
        except DockerException as exc:
            raise ContainerEngineError('The Docker engine at %s could not %s: %s' % (self.docker_host, what, one_line(exc)))

    def find(self, name):
        """Return the inspected container ``name`` (or ID), or ``None`` when there is none."""
        try:
            return self._call('inspect the container %s' % name, self.api.inspect_container, name)
        except NotFound:
            return None

    def plan(self, spec, state='started', container=False, image=False, pull='missing'):
        """Compare ``spec`` with the container of that name and decide what to do.

        Returns ``{"name", "action", "actions", "differences", ...}``: ``action`` is the main step
        (``create``, ``update``, ``replace``, ``start``, ``stop``, ``restart``, ``remove`` or ``none``),
        ``actions`` every step in order (for example ``['update', 'start']``), ``differences`` the
        fields that differ (``{field, before, after, in_place}``). The other keys are for :meth:`apply`.
        ``container`` and ``image`` may be given when already inspected (``None`` meaning absent);
        otherwise this costs one inspect of each (the image is only inspected when the spec needs it).
        """
        if container is False:
            container = self.find(spec['name'])
        if image is False:
            image = None
            if state != 'absent' and spec.get('image'):
                image = self.image(spec['image'], pull)
        default_log_driver = DEFAULT_LOG_DRIVER
        if container is not None and spec.get('image') and not spec.get('log_driver'):
            have = ((container.get('HostConfig') or {}).get('LogConfig') or {}).get('Type')
            if have and have != DEFAULT_LOG_DRIVER:
                default_log_driver = self.default_log_driver()
        return decide(spec, state, container, image, default_log_driver)

    def remove(self, name, force=True, volumes=False, stop_timeout=None):
        """Remove the container ``name`` if it exists (stopping it first unless ``force``). Return whether one was removed."""
        container = self.find(name)
        if container is None:
            return False
        if self.check_mode:
            return True
        self._remove(container['Id'], force=force, volumes=volumes, stop_timeout=stop_timeout, running=container_status(container)[0])
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

        if not actions:
            if container is not None and plan['state'] == 'started' and wait == 'healthy' \
                    and container_status(container)[1] not in (None, 'healthy'):
                container = self._wait(container['Id'], 'healthy', timeout, name)
            return container_facts(container, image_ref)

        if plan['action'] == 'remove':
            self._remove(container['Id'], force=force_kill, volumes=not keep_volumes,
                         stop_timeout=spec.get('stop_timeout'), running=container_status(container)[0])
            return {}

        cid = container['Id'] if container is not None else None
        for action in actions:
            if action == 'create':
                cid = self._create(spec, name)
            elif action == 'replace':
                cid = self._replace(plan, timeout, force_kill, keep_volumes)
            elif action == 'update':
                self._update(cid, plan)
            elif action == 'start':
                self._call_found('start the container %s' % name, self.api.start, cid)
            elif action == 'restart':
                self._call_found('restart the container %s' % name, self.api.restart, cid, timeout=spec.get('stop_timeout') or 10)
            elif action == 'stop':
                self._stop(cid, name, force_kill, spec.get('stop_timeout'))

        started = any(action in ('start', 'restart') for action in actions) or ('replace' in actions and plan.get('start_new'))
        if started and wait != 'none':
            return container_facts(self._wait(cid, wait, timeout, name), image_ref)
        return container_facts(self._call_found('inspect the container %s' % name, self.api.inspect_container, cid), image_ref)

    # -- steps ---------------------------------------------------------------------------------------

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
        try:
            _namespace.check_quota(self.api, namespace, add_containers=1, add_volumes=0, add_cpus=spec.get('cpus') or 0.0,
                                   add_memory=spec.get('memory') or 0, replacing=replacing)
        except _namespace.NamespaceError as exc:
            raise ContainerEngineError(str(exc))
        except APIError as exc:
            raise ContainerEngineError(api_error_message(self.docker_host, 'check the quotas of namespace %s' % namespace, exc))
        except RequestException as exc:
            raise ContainerEngineError(connection_error_message(self.docker_host, exc))
        except DockerException as exc:
            raise ContainerEngineError('Could not check the quotas of namespace %s: %s' % (namespace, one_line(exc)))

    def _create(self, spec, name):
        """Create a container from ``spec`` under ``name``, connected to all its networks; return its ID."""
        config, later = create_config(spec, getattr(self.api, 'api_version', None))
        result = self._call_found('create the container %s' % name, self.api.create_container_from_config, config, name=name)
        cid = result['Id']
        try:
            for network in later:
                self._call_found('connect the container %s to the network %s' % (name, network['name']),
                                 self.api.connect_container_to_network, cid, network['name'],
                                 ipv4_address=network['ipv4_address'], aliases=network['aliases'] or None)
        except ContainerEngineError:
            self._forget(cid)
            raise
        return cid

    def _forget(self, cid):
        """Remove a container this engine has just created, ignoring any error (clean-up after a failure)."""
        try:
            self.api.remove_container(cid, force=True, v=True)
        except (APIError, RequestException, DockerException):
            pass

    def _stop(self, cid, name, force_kill, stop_timeout):
        if force_kill:
            self._call_found('kill the container %s' % name, self.api.kill, cid)
        else:
            self._call_found('stop the container %s' % name, self.api.stop, cid, timeout=stop_timeout)

    def _remove(self, cid, force, volumes, stop_timeout, running):
        if running and not force:
            self._call_found('stop the container %s' % cid[:12], self.api.stop, cid, timeout=stop_timeout)
        try:
            self._call('remove the container %s' % cid[:12], self.api.remove_container, cid, v=volumes, force=True)
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
        name = plan['name']
        actual = _actual_networks(plan['container'])
        wanted = dict((n['name'], n) for n in desired_networks(plan['spec']))
        diff = [d for d in plan['differences'] if d['field'] == 'networks'][0]
        before = dict((n['name'], n) for n in diff['before'])
        after = dict((n['name'], n) for n in diff['after'])
        for net_name in actual:
            if net_name not in after or before.get(net_name) != after.get(net_name):
                self._call_found('disconnect the container %s from the network %s' % (name, net_name),
                                 self.api.disconnect_container_from_network, cid, net_name)
        for net_name, network in wanted.items():
            if net_name not in before or before.get(net_name) != after.get(net_name):
                self._call_found('connect the container %s to the network %s' % (name, net_name),
                                 self.api.connect_container_to_network, cid, net_name,
                                 ipv4_address=network['ipv4_address'], aliases=network['aliases'] or None)

    def _replace(self, plan, timeout, force_kill, keep_volumes):
        """Replace the container safely; return the new container's ID.

        The new container is created beside the old one under a temporary name. When it must run,
        it is started and must become healthy (or run, without a health check) before the old one is
        stopped, renamed and removed. With fixed host ports or fixed IP addresses, which old and new
        cannot hold together, the old container is stopped first and started again if the new one fails.
        """
        spec = plan['spec']
        name = plan['name']
        old = plan['container']
        old_id = old['Id']
        old_running = container_status(old)[0]
        start_new = plan.get('start_new')
        exclusive = bool(fixed_host_ports(spec)) or any(n['ipv4_address'] for n in spec['networks'])
        temp_name = '%s-new-%s' % (name, uuid.uuid4().hex[:8])

        stopped_old = False
        if (old.get('State') or {}).get('Restarting'):
            # A container in a restart loop serves nothing and cannot be renamed between two
            # restarts: stop it first (this also ends the loop).
            self._stop(old_id, name, force_kill, spec.get('stop_timeout'))
            old_running = False
        if start_new and old_running and exclusive:
            self._stop(old_id, name, force_kill, spec.get('stop_timeout'))
            stopped_old = True
        try:
            new_id = self._create(spec, temp_name)
        except ContainerEngineError as exc:
            self._restore(old_id, stopped_old)
            raise ContainerEngineError('%s The container %s was not replaced%s.' % (
                exc.msg, name, ' and keeps running' if old_running else ''))
        if start_new:
            try:
                self._call_found('start the new container for %s' % name, self.api.start, new_id)
                self._wait(new_id, 'healthy', timeout, name, replacement=True)
            except ContainerEngineError as exc:
                self._forget(new_id)
                restored = self._restore(old_id, stopped_old)
                kept = ' The old container keeps running.' if old_running and restored else ''
                if stopped_old and not restored:
                    kept = ' The old container was stopped to free its host ports and could not be started again.'
                raise ContainerEngineError('%s The container %s was not replaced.%s' % (exc.msg, name, kept), facts=exc.facts)

        try:
            if old_running and not stopped_old:
                self._stop(old_id, name, force_kill, spec.get('stop_timeout'))
            self._call_found('rename the old container %s' % name, self.api.rename, old_id, '%s-old-%s' % (name, old_id[:12]))
            self._call_found('rename the new container for %s' % name, self.api.rename, new_id, name)
        except ContainerEngineError as exc:
            self._forget(new_id)
            try:
                self.api.rename(old_id, name)
            except (APIError, RequestException, DockerException):
                pass
            self._restore(old_id, old_running)
            raise ContainerEngineError('%s The container %s was not replaced.' % (exc.msg, name))
        self._remove(old_id, force=True, volumes=not keep_volumes, stop_timeout=None, running=False)
        return new_id

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
