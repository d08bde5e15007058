# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Stacks: a Compose file deployed into a namespace, planned and applied as one change.

:class:`StackDeployer` loads and checks the whole file (through ``_compose``), inspects everything it
needs, decides per container with the shared ``ContainerEngine`` (same comparison, same safe
replacement as ``hna.cloudos.container``), checks the namespace's quotas once for the whole change, and
then applies the change level by level in ``depends_on`` order. :func:`run_stack` is the whole module
run; :func:`stack_argument_spec` its options. The release and app-store modules reuse the deployer.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import threading
import traceback

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.hna.cloudos.plugins.module_utils._compose import (
    ComposeError,
    load_definition,
    parse_stack,
    read_env_files,
)
from ansible_collections.hna.cloudos.plugins.module_utils._compose_document import DEFAULT_FILES_ROOT
from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import error_text, one_line
from ansible_collections.hna.cloudos.plugins.module_utils._docker_engine import (  # the Docker SDK errors, or stand-ins
    APIError,
    DockerException,
    NotFound,
    RequestException,
    LABEL_NAMESPACE,
    LABEL_SERVICE,
    LABEL_STACK,
    ContainerEngine,
    ContainerEngineError,
    SpecError,
    container_facts,
    leftover_pattern,
)
from ansible_collections.hna.cloudos.plugins.module_utils._lock import LockError, namespace_lock
from ansible_collections.hna.cloudos.plugins.module_utils._redact import (
    keep_output_unmasked,
    redact_compose_environment,
    redact_diff,
    redact_differences,
    redacted_params,
)
from ansible_collections.hna.cloudos.plugins.module_utils._namespace import (
    LABEL_APP,
    NamespaceError,
    check_quota,
    get_namespace,
    owned_by,
    owner_filters,
    owner_labels,
    owner_text,
    validate_name,
)

#: Label of a container that mounts secrets or configs written by the module: a digest of their content.
LABEL_FILES_DIGEST = 'io.hna.cloudos.files-digest'

#: Order in which the state of containers counts as "least ready" (first wins).
_STATE_ORDER = ('absent', 'dead', 'exited', 'created', 'restarting', 'paused', 'unhealthy', 'starting', 'removing',
                'running', 'healthy')
_ENGINE_ACTION = {'none': 'unchanged', 'create': 'create', 'replace': 'replace', 'remove': 'remove',
                  'update': 'update', 'start': 'update', 'stop': 'update', 'restart': 'update'}


class StackError(Exception):
    """A problem found while preparing or applying the stack; the message is for the user."""


# --- small helpers ------------------------------------------------------------------------------------


def _variables(env):
    result = {}
    for key, value in (env or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        elif isinstance(value, (int, float, str)):
            value = str(value)
        else:
            raise StackError('env: the value of %s must be a string, a number or a boolean, not a %s.' % (key, type(value).__name__))
        result[str(key)] = value
    return result


def container_state(facts):
    """State of one container for the results (see RETURN)."""
    if not facts:
        return 'absent'
    status = facts.get('status') or 'unknown'
    if status == 'running':
        return facts.get('health') or 'running'
    return status


def least_ready(states):
    states = list(states)
    if not states:
        return 'absent'
    return min(states, key=lambda state: _STATE_ORDER.index(state) if state in _STATE_ORDER else 0)


def service_action(actions):
    """Roll the actions of the containers of a service up into one."""
    actions = [_ENGINE_ACTION.get(action, 'update') for action in actions]
    if not actions or all(action == 'unchanged' for action in actions):
        return 'unchanged'
    for single in ('create', 'remove'):
        if all(action == single for action in actions):
            return single
    if 'replace' in actions:
        return 'replace'
    return 'update'


def _container_entry(name, facts, action):
    entry = dict(name=name, id=(facts or {}).get('id') or '', action=action, state=container_state(facts))
    if (facts or {}).get('status') == 'exited':
        entry['exit_code'] = facts.get('exit_code')
    return entry


def _public_changes(differences, visible=()):
    return redact_differences([dict(field=d['field'], before=d['before'], after=d['after'], in_place=d['in_place'])
                               for d in differences], visible)


def _file_bytes(item):
    """The content of a secret or config the module writes (see ``_compose_document``), as bytes."""
    return item['content'] if isinstance(item['content'], bytes) else str(item['content']).encode('utf-8')


def _find(name, engine):
    """``engine.find(name)``, for :meth:`StackDeployer._inspect_ahead`."""
    return engine.find(name)


def _inspect_raw(method, name, engine):
    """``engine.api.<method>(name)``, its errors as the SDK raises them, for :meth:`StackDeployer._inspect_ahead`."""
    return getattr(engine.api, method)(name)


# --- the deployment -----------------------------------------------------------------------------------


class StackDeployer(object):
    """Plans and applies one stack (``state=present``) or removes it (``state=absent``).

    ``app`` deploys one app of the app store instead of the namespace's stack: the document's containers, networks and
    volumes carry the app's owner labels, and only what the app owns is listed, compared and pruned (see
    ``_namespace.owner_labels``).
    """

    def __init__(self, client, app=None, app_labels=None):
        self.client = client
        self.params = client.params
        self.namespace = self.params['namespace']
        self.app = app
        self.app_labels = dict(app_labels or {})
        self.owner = owner_labels(self.namespace, app)
        self.owner_text = owner_text(self.namespace, app)
        self.check_mode = client.check_mode
        self.engine = ContainerEngine(client)
        self.results = dict(changed=False, namespace=self.namespace, services={}, plan={}, networks={}, volumes={}, files={})
        self._local = threading.local()
        self._apis = []
        self._apis_lock = threading.Lock()
        self.mutated = False

    # -- requests made by the main thread ------------------------------------------------------------

    def _request(self, what, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except NotFound:
            raise
        except (APIError, RequestException, DockerException, ValueError) as exc:
            raise StackError('The Docker engine at %s could not %s: %s' % (self.client.docker_host, what, error_text(exc)))

    def _inspect_or_none(self, what, method, name):
        try:
            return self._request(what, method, name)
        except NotFound:
            return None

    def _stack_containers(self):
        """List entries of every container labelled for this stack (any state)."""
        return self._request('list the containers of %s' % self.owner_text, self.client.api.containers,
                             all=True, filters={'label': owner_filters(self.owner)}) or []

    # -- worker threads -----------------------------------------------------------------------------

    def _thread_engine(self):
        engine = getattr(self._local, 'engine', None)
        if engine is None:
            try:
                api = self.client.new_api()
            except (DockerException, RequestException) as exc:
                raise StackError('Cannot open another connection to the Docker engine at %s: %s' % (
                    self.client.docker_host, error_text(exc)))
            with self._apis_lock:
                self._apis.append(api)
            engine = ContainerEngine(self.client, api=api)
            self._local.engine = engine
        return engine

    def close(self):
        for api in self._apis:
            try:
                api.close()
            except Exception:  # pylint: disable=broad-except
                pass
        self._apis = []

    def _run_parallel(self, items, function, workers):
        """Run ``function(item)`` for every item, at most ``workers`` at a time; return ``[(item, result, error)]``."""
        if not items:
            return []
        if len(items) == 1 or workers <= 1:
            outcomes = []
            for item in items:
                outcomes.append(self._guarded(function, item, thread=False))
            return outcomes
        with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
            futures = [pool.submit(self._guarded, function, item, True) for item in items]
            return [future.result() for future in futures]

    def _inspect_ahead(self, requests):
        """Make read-only requests ahead, at most ``parallel`` at a time: ``requests`` is ``[(key, function)]``.

        Each ``function(engine)`` runs in a worker thread with that thread's engine (and its own ``APIClient``).
        Return ``{key: (result, exception)}``, to be used by :meth:`_answer` where the request would be made
        one by one: an error is raised there, in the same order and with the same message as without this.
        Return ``{}`` (nothing made ahead) when ``parallel`` is 1 or there is at most one request.
        """
        workers = self.params['parallel']
        if workers <= 1 or len(requests) <= 1:
            return {}

        def make(request):
            key, function = request
            try:
                return key, function(self._thread_engine()), None
            except Exception as exc:  # pylint: disable=broad-except
                return key, None, exc  # raised again by _answer, where the request would have been made

        with ThreadPoolExecutor(max_workers=min(workers, len(requests))) as pool:
            return dict((key, (result, error)) for key, result, error in pool.map(make, requests))

    @staticmethod
    def _answer(inspected, key, request, *args):
        """The answer of a request made ahead by :meth:`_inspect_ahead` (its error raised here), else of ``request(*args)``."""
        if key not in inspected:
            return request(*args)
        result, error = inspected.pop(key)
        if error is not None:
            raise error
        return result

    def _inspections(self, stack):
        """The requests :meth:`prepare` makes one by one, to make ahead (see :meth:`_inspect_ahead`).

        Only inspections, which change nothing: the images (unless ``pull`` is ``always``; a missing
        image is still pulled one by one, in order), the containers, the networks and the volumes.
        """
        requests = []
        if self.params['pull'] != 'always':
            for ref in sorted(set(service['image'] for service in stack['services'].values() if service['specs'])):
                requests.append((('image', ref), functools.partial(_inspect_raw, 'inspect_image', ref)))
        for name in sorted(stack['services']):
            for spec in stack['services'][name]['specs']:
                requests.append((('container', spec['name']), functools.partial(_find, spec['name'])))
        for kind, method in (('networks', 'inspect_network'), ('volumes', 'inspect_volume')):
            for key, wanted in sorted(stack[kind].items()):
                requests.append(((kind, wanted['name']), functools.partial(_inspect_raw, method, wanted['name'])))
        return requests

    def _guarded(self, function, item, thread):
        try:
            return item, function(item, self._thread_engine() if thread else self.engine), None
        except (ContainerEngineError, StackError) as exc:
            return item, None, getattr(exc, 'msg', None) or str(exc)
        except SpecError as exc:
            return item, None, str(exc)
        except NamespaceError as exc:
            return item, None, str(exc)
        except (APIError, RequestException, DockerException) as exc:
            return item, None, 'The Docker engine at %s answered with an error: %s' % (self.client.docker_host, error_text(exc))

    # -- state=present ------------------------------------------------------------------------------

    def load(self):
        params = self.params
        try:
            variables = read_env_files(params['env_files'], os.path.dirname(os.path.abspath(params['definition']))
                                       if params['definition'] else None)
            variables.update(_variables(params['env']))
            if params['definition'] is not None:
                document = load_definition(path=params['definition'])
                base_dir = os.path.dirname(os.path.abspath(params['definition']))
            else:
                document = load_definition(content=params['definition_content'])
                base_dir = None
            stack = parse_stack(document, self.namespace, variables, base_dir, profiles=params['profiles'],
                                files_dir=self.files_dir(), app=self.app, app_labels=self.app_labels)
        except ComposeError as exc:
            raise StackError('%s. Nothing was changed.' % str(exc).rstrip('.'))
        for warning in stack['warnings']:
            self.client.module.warn(warning)
        self._label_file_users(stack)
        return stack

    def files_dir(self):
        """The directory where the secrets and configs given as values are written: one per namespace for its stack,
        ``<namespace>.apps/<app>`` beside it for an app (a namespace name has no dot, and the stack's removal of its
        own directory leaves the apps' alone)."""
        if self.app is None:
            return os.path.join(self.params['files_dir'], self.namespace)
        return os.path.join(self.params['files_dir'], self.namespace + '.apps', self.app)

    @staticmethod
    def _file_digest(item):
        data = _file_bytes(item)
        return hashlib.sha256(data + ('|%s|%s|%s' % (item.get('mode'), item.get('uid'), item.get('gid'))).encode()).hexdigest()

    def _label_file_users(self, stack):
        """Label the containers that mount written secrets or configs with a digest of those files.

        The files keep their paths when their content changes; the label makes such a change a
        difference of the container, which is then replaced and sees the new content.
        """
        digests = dict((item['path'], self._file_digest(item)) for item in stack.get('files') or [])
        if not digests:
            return
        for service in stack['services'].values():
            for spec in service['specs']:
                used = sorted(digests[mount['source']] for mount in spec['mounts'] if mount.get('source') in digests)
                if used:
                    spec['labels'][LABEL_FILES_DIGEST] = hashlib.sha256(''.join(used).encode()).hexdigest()[:32]

    def _plan_files(self, stack):
        """Which written secrets and configs must be (re)written: ``{name: {kind, path, action}}`` (never the content)."""
        result = {}
        for item in stack.get('files') or []:
            action = 'unchanged'
            try:
                info = os.stat(item['path'])
                with open(item['path'], 'rb') as handle:
                    current = handle.read()
                data = _file_bytes(item)
                if current != data or (info.st_mode & 0o7777) != item['mode'] or \
                        (item.get('uid') is not None and info.st_uid != item['uid']) or \
                        (item.get('gid') is not None and info.st_gid != item['gid']):
                    action = 'update'
            except (IOError, OSError):
                action = 'create'
            result['%ss.%s' % (item['kind'], item['name'])] = dict(kind=item['kind'], path=item['path'], action=action, item=item)
        return result

    def _write_files(self, files):
        for key, entry in sorted(files.items()):
            if entry['action'] == 'unchanged':
                continue
            item = entry['item']
            directory = os.path.dirname(item['path'])
            try:
                for path in (self.params['files_dir'], self.files_dir(), directory):
                    if not os.path.isdir(path):
                        os.makedirs(path, mode=0o700, exist_ok=True)
                    if path != self.params['files_dir']:
                        os.chmod(path, 0o700)
                data = _file_bytes(item)
                # Written in place (not renamed over), so that a running container that mounts the file sees it.
                fd = os.open(item['path'], os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    os.fchmod(fd, 0o600)
                    os.ftruncate(fd, 0)
                    os.write(fd, data)
                    os.fsync(fd)
                    if item.get('uid') is not None or item.get('gid') is not None:
                        os.fchown(fd, -1 if item.get('uid') is None else item['uid'], -1 if item.get('gid') is None else item['gid'])
                    os.fchmod(fd, item['mode'])
                finally:
                    os.close(fd)
            except (IOError, OSError) as exc:
                raise StackError('Could not write %s (%s) for the stack %s: %s.' % (key, item['path'], self.namespace, exc.strerror or exc))
            self.mutated = True

    def prepare(self, stack):
        """Inspect everything and decide; change nothing. Return the work to do."""
        namespace = self.namespace
        api = self.client.api
        model = self._namespace_model()
        if model is None:
            if not self.check_mode:
                raise StackError('Namespace %s does not exist: create it first with hna.cloudos.namespace. Nothing was changed.'
                                 % namespace)
            # Check mode of a first deployment: the namespace task before this one only said it would create it.
            self.client.module.warn('Namespace %s does not exist yet: this plan assumes it is created first (hna.cloudos.namespace '
                                    'in the same run); its quotas are checked when it exists.' % namespace)

        # One-shot services: the targets of service_completed_successfully.
        oneshot = set()
        healthy_targets = set()
        for service in stack['services'].values():
            for dependency, condition in service['depends_on'].items():
                if condition == 'service_completed_successfully':
                    oneshot.add(dependency)
                elif condition == 'service_healthy':
                    healthy_targets.add(dependency)

        self._check_dependencies(stack)

        # The inspections below, made ahead in parallel; each answer (or error) is used where it is needed.
        inspected = self._inspect_ahead(self._inspections(stack))

        # Images, once each (pulled here, before anything else changes).
        images = {}
        for ref in sorted(set(service['image'] for service in stack['services'].values() if service['specs'])):
            images[ref] = self.engine.image(ref, self.params['pull'], inspect=functools.partial(
                self._answer, inspected, ('image', ref), api.inspect_image))
        self._check_health_conditions(stack, images)

        # CPU limits the engine would refuse.
        wanted_cpus = [spec['cpus'] for service in stack['services'].values() for spec in service['specs'] if spec['cpus']]
        if wanted_cpus:
            info = self._request('describe itself', api.info) or {}
            ncpu = int(info.get('NCPU') or 0)
            if ncpu and max(wanted_cpus) > ncpu:
                over = [name for name, service in sorted(stack['services'].items())
                        if any((spec['cpus'] or 0) > ncpu for spec in service['specs'])]
                raise StackError("service '%s' asks for %s CPUs, but the Docker host has only %d. Nothing was changed." % (
                    over[0], max(wanted_cpus), ncpu))

        listing = self._stack_containers()
        existing = dict(((entry.get('Names') or ['/'])[0].lstrip('/'), entry) for entry in listing)

        # Container plans.
        plans = {}
        desired_names = set()
        for name in sorted(stack['services']):
            service = stack['services'][name]
            plans[name] = []
            for spec in service['specs']:
                desired_names.add(spec['name'])
                container = self._answer(inspected, ('container', spec['name']), self.engine.find, spec['name'])
                if container is not None:
                    labels = (container.get('Config') or {}).get('Labels') or {}
                    if not owned_by(labels, self.owner):
                        raise StackError('A container named %s already exists and does not belong to %s (it has not the '
                                         'labels %s): remove or rename it, or rename the service %s. Nothing was changed.'
                                         % (spec['name'], self.owner_text, ', '.join(owner_filters(self.owner)), name))
                state = 'present' if name in oneshot else 'started'
                plan = self.engine.plan(spec, state=state, container=container, image=images.get(service['image']),
                                        check_ports=False, listing=listing)
                plans[name].append(plan)

        removals = []
        if self.params['prune']:
            leftovers = [leftover_pattern(name) for name in desired_names]
            for container_name_, entry in sorted(existing.items()):
                # Leftovers of an interrupted replacement are resolved by the plan of their container, not pruned.
                if container_name_ not in desired_names and not any(pattern.match(container_name_) for pattern in leftovers):
                    labels = entry.get('Labels') or {}
                    removals.append(dict(name=container_name_, id=entry['Id'], service=labels.get(LABEL_SERVICE) or container_name_,
                                         entry=entry))

        specs = [spec for service in stack['services'].values() for spec in service['specs']]
        self.engine.check_ports(specs, replacing=sorted(existing))
        networks = self._plan_networks(stack, inspected)
        volumes = self._plan_volumes(stack, inspected)

        # Quotas, for the whole change at once.
        kept_or_replaced = [name for name in existing if name in desired_names or self.params['prune']]
        specs = [spec for service in stack['services'].values() for spec in service['specs']]
        try:
            if model is not None:
                check_quota(api, model, add_containers=len(specs),
                            add_volumes=sum(1 for volume in volumes.values() if volume['action'] == 'create'),
                            add_cpus=sum(spec['cpus'] or 0.0 for spec in specs),
                            add_memory=sum(spec['memory'] or 0 for spec in specs),
                            replacing=kept_or_replaced)
        except NamespaceError as exc:
            raise StackError('%s. Nothing was changed.' % str(exc).rstrip('.'))
        except (APIError, RequestException, DockerException) as exc:
            raise StackError('Could not check the quotas of namespace %s: %s' % (namespace, error_text(exc)))

        return dict(stack=stack, model=model, plans=plans, removals=removals, networks=networks, volumes=volumes,
                    oneshot=oneshot, healthy_targets=healthy_targets, files=self._plan_files(stack),
                    bind_sources=self._plan_bind_sources(stack))

    def _check_dependencies(self, stack):
        """Refuse a dependency on a service that has no container (``deploy.replicas: 0``), as Compose does."""
        for name in sorted(stack['services']):
            for dependency, condition in sorted(stack['services'][name]['depends_on'].items()):
                target = stack['services'].get(dependency)
                if target is not None and not target['specs']:
                    raise StackError("service '%s': depends_on names '%s', which has deploy.replicas: 0, so there is no container "
                                     "to wait for (%s): give '%s' at least one replica or remove the dependency. Nothing was "
                                     "changed." % (name, dependency, condition, dependency))

    def _check_health_conditions(self, stack, images):
        """Refuse ``condition: service_healthy`` on a service with no health check (in the file or in its image)."""
        for name in sorted(stack['services']):
            for dependency, condition in sorted(stack['services'][name]['depends_on'].items()):
                if condition != 'service_healthy':
                    continue
                target = stack['services'][dependency]
                declared = target['healthcheck']
                if declared is not None and declared.get('test') is not None:
                    if declared['test'][:1] != ['NONE']:
                        continue
                    has_check = False
                else:
                    image = images.get(target['image'])
                    if image is None:
                        continue  # not pulled yet (check mode): the image may have one
                    test = ((image.get('Config') or {}).get('Healthcheck') or {}).get('Test') or []
                    has_check = bool(test) and test[0] != 'NONE'
                if not has_check:
                    raise StackError("service '%s': depends_on '%s' with condition service_healthy, but '%s' has no health "
                                     "check (none in the file%s): add a healthcheck to '%s' or use condition "
                                     "service_started. Nothing was changed." % (
                                         name, dependency, dependency,
                                         ', and it is disabled' if declared is not None else ' nor in its image', dependency))

    def _namespace_model(self):
        try:
            validate_name(self.namespace)
        except NamespaceError as exc:
            raise StackError(str(exc))
        try:
            return get_namespace(self.client.api, self.namespace)
        except (APIError, RequestException, DockerException) as exc:
            raise StackError('The Docker engine at %s could not inspect the network of namespace %s: %s' % (
                self.client.docker_host, self.namespace, error_text(exc)))

    def _plan_networks(self, stack, inspected=None):
        result = {}
        api = self.client.api
        for key, network in sorted(stack['networks'].items()):
            entry, actual = self._plan_object('network', key, network, functools.partial(
                self._answer, inspected or {}, ('networks', network['name']), api.inspect_network))
            if actual is not None:
                labels = actual.get('Labels') or {}
                if not owned_by(labels, self.owner):
                    raise StackError('A network named %s already exists and does not belong to %s: '
                                     'remove or rename it, or rename networks.%s. Nothing was changed.' % (
                                         network['name'], self.owner_text, key))
                differences = self._network_differences(network, actual)
                if differences:
                    raise StackError('The network %s (networks.%s) exists with other settings (%s); a network cannot be changed '
                                     'in place: remove the stack (state=absent) and deploy it again, or use a new network '
                                     'name. Nothing was changed.' % (network['name'], key, ', '.join(differences)))
            result[key] = entry
        if self.params['prune']:
            declared = set(network['name'] for network in stack['networks'].values())
            for actual in self._stack_networks():
                if actual['Name'] not in declared:
                    key = actual['Name'][len(self.namespace) + 1:] if actual['Name'].startswith(self.namespace + '-') else actual['Name']
                    result[key] = dict(name=actual['Name'], external=False, action='remove', id=actual['Id'])
        return result

    def _plan_object(self, kind, key, wanted, inspect):
        """Return ``(plan entry, inspected object)`` for a network or volume of the file.

        The inspected object is ``None`` when there is nothing more to compare: an external object (which must
        exist) or one that does not exist yet (planned as ``create``).
        """
        actual = self._inspect_or_none('inspect the %s %s' % (kind, wanted['name']), inspect, wanted['name'])
        if actual is not None and actual.get('Name') != wanted['name']:
            actual = None  # the engine also matches network ID prefixes
        entry = dict(name=wanted['name'], external=wanted['external'], action='unchanged', settings=wanted)
        if wanted['external']:
            if actual is None:
                raise StackError('The external %s %s (%ss.%s) does not exist: create it first. Nothing was changed.' % (
                    kind, wanted['name'], kind, key))
            return entry, None
        if actual is None:
            entry['action'] = 'create'
        return entry, actual

    @staticmethod
    def _network_differences(network, actual):
        differences = []
        if bool(actual.get('Internal')) != network['internal']:
            differences.append('internal')
        if (actual.get('Driver') or 'bridge') != network['driver']:
            differences.append('driver')
        if network['ipam'] is not None:
            have = sorted((config.get('Subnet'), config.get('Gateway') or None, config.get('IPRange') or None)
                          for config in ((actual.get('IPAM') or {}).get('Config') or []))
            want = sorted((config['subnet'], config['gateway'], config['ip_range']) for config in network['ipam']['config'])
            if [item[0] for item in have] != [item[0] for item in want] or any(
                    w[1] is not None and w[1] != h[1] or w[2] is not None and w[2] != h[2] for h, w in zip(have, want)):
                differences.append('ipam')
        want_labels = dict(network['labels'])
        have_labels = dict(actual.get('Labels') or {})
        if have_labels != want_labels:
            differences.append('labels')
        return differences

    def _stack_networks(self):
        return self._request('list the networks of %s' % self.owner_text, self.client.api.networks,
                             filters={'label': owner_filters(self.owner)}) or []

    def _plan_volumes(self, stack, inspected=None):
        result = {}
        api = self.client.api
        for key, volume in sorted(stack['volumes'].items()):
            entry, actual = self._plan_object('volume', key, volume, functools.partial(
                self._answer, inspected or {}, ('volumes', volume['name']), api.inspect_volume))
            if actual is not None:
                labels = actual.get('Labels') or {}
                owner = labels.get(LABEL_NAMESPACE)
                if owner not in (None, self.namespace):
                    raise StackError('A volume named %s already exists and belongs to namespace %s. Nothing was changed.' % (
                        volume['name'], owner))
                if (labels.get(LABEL_STACK) or labels.get(LABEL_APP)) and not owned_by(labels, self.owner):
                    raise StackError('A volume named %s already exists and belongs to %s, not to %s: rename volumes.%s. '
                                     'Nothing was changed.' % (volume['name'], owner_text(
                                         self.namespace, labels.get(LABEL_APP) or None), self.owner_text, key))
                if owner is None:
                    self.client.module.warn('The volume %s exists without the labels of namespace %s; the stack uses it as it '
                                            'is (it is not counted in the quota of the namespace).' % (volume['name'], self.namespace))
                differences = self._volume_differences(volume, actual)
                if differences:
                    raise StackError('The volume %s (volumes.%s) exists with another %s; a volume cannot be changed in place and '
                                     'its data would be lost by a new one: copy the data to a volume with a new name, or remove '
                                     'the volume first. Nothing was changed.' % (volume['name'], key, ' and '.join(differences)))
            result[key] = entry
        return result

    @staticmethod
    def _volume_differences(volume, actual):
        """The settings of an existing volume that differ from the file (driver, driver_opts)."""
        differences = []
        if (actual.get('Driver') or 'local') != (volume.get('driver') or 'local'):
            differences.append('driver (%s, the file says %s)' % (actual.get('Driver') or 'local', volume.get('driver') or 'local'))
        if dict(actual.get('Options') or {}) != dict(volume.get('driver_opts') or {}):
            differences.append('driver_opts')
        return differences

    def _plan_bind_sources(self, stack):
        """Bind mount sources that do not exist: created as directories, as Docker Compose does for the short syntax."""
        missing = set()
        written = set(item['path'] for item in stack.get('files') or [])  # the secrets and configs written by the module
        for service in stack['services'].values():
            for spec in service['specs']:
                for mount in spec['mounts']:
                    if mount['type'] == 'bind' and mount.get('source') and mount['source'] not in written and \
                            not os.path.exists(mount['source']):
                        missing.add(mount['source'])
        return sorted(missing)

    def _create_bind_sources(self, paths):
        for path in paths:
            try:
                os.makedirs(path, mode=0o755, exist_ok=True)
            except (IOError, OSError) as exc:
                raise StackError('Could not create the missing bind mount source %s: %s.' % (path, exc.strerror or exc))
            self.mutated = True

    # -- results --------------------------------------------------------------------------------------

    def describe(self, work):
        """Fill ``plan``, ``services``, ``networks`` and ``volumes`` of the results from the decisions."""
        stack = work['stack']
        levels = dict((name, index) for index, level in enumerate(stack['levels']) for name in level)
        changed = False
        for name, plans in sorted(work['plans'].items()):
            actions = [plan['action'] for plan in plans]
            action = service_action(actions)
            differences = []
            for plan in plans:
                for difference in plan['differences']:
                    if difference['field'] not in [d['field'] for d in differences]:
                        differences.append(difference)
            self.results['plan'][name] = dict(
                action=action, level=levels.get(name, 0), changes=_public_changes(differences, self.params['env_visible']),
                containers=dict((plan['name'], _ENGINE_ACTION.get(plan['action'], 'update')) for plan in plans))
            self.results['services'][name] = dict(
                action=action, changes=[d['field'] for d in differences], replicas=len(plans),
                containers=[_container_entry(plan['name'], container_facts(plan['container']), _ENGINE_ACTION.get(plan['action'], 'update'))
                            for plan in plans])
            self.results['services'][name]['state'] = least_ready(c['state'] for c in self.results['services'][name]['containers'])
            changed = changed or action != 'unchanged'
        for removal in work['removals']:
            service = removal['service']
            entry = self.results['services'].get(service)
            if entry is None:
                entry = self.results['services'][service] = dict(action='remove', changes=[], replicas=0, containers=[], state='absent')
                self.results['plan'][service] = dict(action='remove', level=-1, changes=[], containers={})
            else:
                entry['action'] = self.results['plan'][service]['action'] = (
                    'update' if entry['action'] in ('unchanged', 'update', 'create') else entry['action'])
            entry['containers'].append(dict(name=removal['name'], id=removal['id'], action='remove',
                                            state=(removal['entry'].get('State') or 'unknown')))
            self.results['plan'][service]['containers'][removal['name']] = 'remove'
            changed = True
        for key, network in work['networks'].items():
            self.results['networks'][key] = dict(name=network['name'], action=network['action'], external=network['external'])
            changed = changed or network['action'] != 'unchanged'
        for key, volume in work['volumes'].items():
            self.results['volumes'][key] = dict(name=volume['name'], action=volume['action'], external=volume['external'])
            changed = changed or volume['action'] != 'unchanged'
        for key, entry in work['files'].items():
            self.results['files'][key] = dict(path=entry['path'], action=entry['action'])
            changed = changed or entry['action'] != 'unchanged'
        self.results['bind_sources_created'] = work['bind_sources']
        changed = changed or bool(work['bind_sources'])
        self.results['levels'] = stack['levels']
        self.results['profiles'] = stack.get('profiles') or []
        self.results['changed'] = changed
        if self.client.module._diff:
            self.results['diff'] = redact_diff(self._diff(work), self.params['env_visible'])

    def _diff(self, work):
        before, after = {}, {}
        for name, plan in sorted(self.results['plan'].items()):
            if plan['action'] == 'unchanged':
                continue
            if plan['action'] == 'create':
                before[name] = 'absent'
                after[name] = dict((container, 'create') for container in plan['containers'])
            elif plan['action'] == 'remove':
                before[name] = dict((container, 'present') for container in plan['containers'])
                after[name] = 'absent'
            else:
                before[name] = dict((change['field'], change['before']) for change in plan['changes'])
                after[name] = dict((change['field'], change['after']) for change in plan['changes'])
                for container, action in plan['containers'].items():
                    if action in ('create', 'remove'):
                        before.setdefault(name, {})[container] = 'absent' if action == 'create' else 'present'
                        after.setdefault(name, {})[container] = 'present' if action == 'create' else 'absent'
        for kind in ('networks', 'volumes'):
            for key, item in sorted(self.results[kind].items()):
                if item['action'] == 'create':
                    before['%s.%s' % (kind, key)] = 'absent'
                    after['%s.%s' % (kind, key)] = item['name']
                elif item['action'] == 'remove':
                    before['%s.%s' % (kind, key)] = item['name']
                    after['%s.%s' % (kind, key)] = 'absent'
        return dict(before=before, after=after)

    # -- applying ---------------------------------------------------------------------------------------

    def apply(self, work):
        api = self.client.api
        timeout = self.params['wait_timeout']

        for key, network in sorted(work['networks'].items()):
            if network['action'] == 'create':
                settings = network['settings']
                ipam = None
                if settings['ipam'] is not None:
                    ipam = dict(Driver='default', Config=[dict((k, v) for k, v in (
                        ('Subnet', config['subnet']), ('Gateway', config['gateway']), ('IPRange', config['ip_range'])) if v)
                        for config in settings['ipam']['config']])
                self._request('create the network %s' % network['name'], api.create_network, network['name'],
                              driver=settings['driver'], internal=settings['internal'], labels=settings['labels'],
                              ipam=ipam, check_duplicate=True)
                self.mutated = True
        for key, volume in sorted(work['volumes'].items()):
            if volume['action'] == 'create':
                settings = volume['settings']
                self._request('create the volume %s' % volume['name'], api.create_volume, volume['name'],
                              driver=settings['driver'], driver_opts=settings['driver_opts'] or None, labels=settings['labels'])
                self.mutated = True

        self._write_files(work['files'])
        self._create_bind_sources(work['bind_sources'])

        # Containers of services no longer in the file go first (they may hold host ports the others
        # need); the replicas a service no longer wants go last, once its other containers are up.
        stack = work['stack']
        first = [removal for removal in work['removals'] if removal['service'] not in stack['services']]
        last = [dict(removal, drain=True) for removal in work['removals'] if removal['service'] in stack['services']]
        self._remove_all(first)
        changed_services = set(name for name, plans in work['plans'].items() if any(plan['action'] != 'none' for plan in plans))
        dependents = dict((name, set()) for name in stack['services'])
        for name, service in stack['services'].items():
            for dependency in service['depends_on']:
                dependents[dependency].add(name)

        failures = []
        for level in stack['levels']:
            items = []
            for name in level:
                oneshot = name in work['oneshot']
                healthy_needed = name in work['healthy_targets'] and bool(dependents[name] & changed_services)
                wait = 'healthy' if (self.params['wait'] or healthy_needed) else 'running'
                completion_needed = oneshot and (self.params['wait'] or bool(dependents[name] & changed_services))
                # New replicas of a service that already has containers join its aliases only once healthy.
                serving = any(plan.get('container') is not None for plan in work['plans'][name])
                for plan in work['plans'][name]:
                    if plan['action'] == 'none' and not (self.params['wait'] or healthy_needed or completion_needed):
                        continue
                    if serving and plan['action'] == 'create':
                        plan = dict(plan, join_when_ready=True)
                    items.append(dict(service=name, plan=plan, wait=wait, oneshot=oneshot, timeout=timeout,
                                      completion_needed=completion_needed))
            if not items:
                continue
            for item, facts, error in self._run_parallel(items, self._converge, self.params['parallel']):
                name = item['service']
                entry = self.results['services'][name]
                for container in entry['containers']:
                    if container['name'] == item['plan']['name']:
                        if error is None:
                            container.update(_container_entry(container['name'], facts, container['action']))
                        elif container['action'] != 'unchanged':
                            container['action'] = 'failed'
                if error is not None:
                    failures.append("service '%s': %s" % (name, error))
                elif item['plan']['action'] != 'none':
                    self.mutated = True
                entry['state'] = least_ready(c['state'] for c in entry['containers'] if c['action'] != 'remove')
            if failures:
                later = [service for other in stack['levels'][stack['levels'].index(level) + 1:] for service in other]
                note = (' The services %s were not changed.' % ', '.join(later)) if later else ''
                raise StackError(' '.join(failures) + note)
        self._remove_all(last)

        for key, network in sorted(work['networks'].items()):
            if network['action'] == 'remove':
                try:
                    self._request('remove the network %s' % network['name'], api.remove_network, network['id'])
                except NotFound:
                    pass

    def _remove_all(self, removals):
        """Remove containers in parallel; raise :class:`StackError` naming every one that could not be removed."""
        failures = []
        for removal, result, error in self._run_parallel(removals, self._remove_container, self.params['parallel']):
            if error:
                failures.append("service '%s': could not remove the container %s: %s" % (removal['service'], removal['name'], error))
            else:
                self.mutated = True
        if failures:
            raise StackError(' '.join(failures))

    def _remove_container(self, removal, engine):
        container = engine.find(removal['id'])
        if container is not None and removal.get('drain'):
            # Leave the service's networks first, so that its aliases stop resolving to this replica
            # before it stops serving: the other replicas answer meanwhile.
            # A failure is ignored: removal goes on, and the container leaves the network when it is removed.
            for network in sorted(((container.get('NetworkSettings') or {}).get('Networks') or {})):
                engine.leave(container['Id'], network)
        plan = engine.plan(dict(name=removal['name']), state='absent', container=container, image=None)
        engine.apply(plan, wait='none', keep_volumes=not removal.get('volumes'))
        return {}

    def settle_changed(self):
        """After a failure: report ``changed`` only if something was really changed (never in check mode)."""
        self.results['changed'] = bool(self.mutated) and not self.check_mode

    def _converge(self, item, engine):
        plan = item['plan']
        # The quotas were checked once for the whole change, under the namespace lock.
        if not item['oneshot']:
            return engine.apply(plan, wait=item['wait'], timeout=item['timeout'], quota=False)
        facts = engine.apply(plan, wait='none', timeout=item['timeout'], quota=False)
        if not item['completion_needed'] and plan['action'] == 'none':
            return facts
        return self._complete(engine, item, facts)

    def _complete(self, engine, item, facts):
        """Run a one-shot container to completion (start it unless it ran successfully); fail unless it exits with 0."""
        name = item['plan']['name']
        api = engine.api
        cid = facts.get('id')
        what = 'run the container %s to completion' % name
        try:
            container = api.inspect_container(cid)
            state = container.get('State') or {}
            fresh = item['plan']['action'] in ('create', 'replace')
            if not state.get('Running') and (fresh or state.get('Status') != 'exited' or state.get('ExitCode') != 0):
                api.start(cid)
                self.results['changed'] = True
                self.mutated = True
            result = api.wait(cid, timeout=item['timeout'])
            container = api.inspect_container(cid)
        except NotFound as exc:
            raise StackError('The container %s disappeared while it ran: %s' % (name, error_text(exc)))
        except RequestException as exc:
            if 'timed out' in str(exc).lower() or 'timeout' in type(exc).__name__.lower():
                raise StackError('The container %s did not complete within %s s; the services that need it to complete '
                                 '(condition service_completed_successfully) were not changed.' % (name, item['timeout']))
            raise StackError('The Docker engine at %s could not %s: %s' % (self.client.docker_host, what, error_text(exc)))
        except (APIError, DockerException) as exc:
            raise StackError('The Docker engine at %s could not %s: %s' % (self.client.docker_host, what, error_text(exc)))
        code = (result or {}).get('StatusCode')
        if code != 0:
            try:
                logs = api.logs(cid, stdout=True, stderr=True, tail=5)
                logs = one_line(logs.decode('utf-8', 'replace') if isinstance(logs, bytes) else logs)[-500:]
            except (APIError, RequestException, DockerException):
                logs = ''
            raise StackError('The container %s exited with code %s, but other services need it to complete successfully.%s' % (
                name, code, (' Last output: %s' % logs) if logs else ''))
        return container_facts(container)

    # -- state=absent ---------------------------------------------------------------------------------

    def remove_stack(self):
        api = self.client.api
        entries = self._stack_containers()
        removals = []
        for entry in entries:
            name = (entry.get('Names') or ['/'])[0].lstrip('/')
            labels = entry.get('Labels') or {}
            service = labels.get(LABEL_SERVICE) or name
            removals.append(dict(name=name, id=entry['Id'], service=service, entry=entry))
            svc = self.results['services'].setdefault(service, dict(action='remove', changes=[], replicas=0, containers=[], state='absent'))
            svc['containers'].append(dict(name=name, id=entry['Id'], action='remove', state=entry.get('State') or 'unknown'))
            self.results['plan'].setdefault(service, dict(action='remove', level=-1, changes=[], containers={}))['containers'][name] = 'remove'
        networks = self._stack_networks()
        for network in networks:
            key = network['Name'][len(self.namespace) + 1:] if network['Name'].startswith(self.namespace + '-') else network['Name']
            self.results['networks'][key] = dict(name=network['Name'], action='remove', external=False)
        volumes = []
        if self.params['remove_volumes']:
            volumes = (self._request('list the volumes of %s' % self.owner_text, api.volumes,
                                     filters={'label': owner_filters(self.owner)}) or {}).get('Volumes') or []
            for volume in volumes:
                key = volume['Name'][len(self.namespace) + 1:] if volume['Name'].startswith(self.namespace + '-') else volume['Name']
                self.results['volumes'][key] = dict(name=volume['Name'], action='remove', external=False)
        files = os.path.isdir(self.files_dir())
        if files:
            self.results['files'] = dict(directory=dict(path=self.files_dir(), action='remove'))
        self.results['changed'] = bool(removals or networks or volumes or files)
        if self.client.module._diff:
            self.results['diff'] = dict(
                before=dict((name, [c['name'] for c in svc['containers']]) for name, svc in self.results['services'].items()),
                after={})
        if self.check_mode:
            return
        for removal in removals:
            removal['volumes'] = self.params['remove_volumes']
        self._remove_all(removals)
        for network in networks:
            try:
                self._request('remove the network %s' % network['Name'], api.remove_network, network['Id'])
            except NotFound:
                pass
        for volume in volumes:
            try:
                self._request('remove the volume %s' % volume['Name'], api.remove_volume, volume['Name'])
            except NotFound:
                pass
        if os.path.isdir(self.files_dir()):
            shutil.rmtree(self.files_dir(), ignore_errors=True)
        for svc in self.results['services'].values():
            for container in svc['containers']:
                container['state'] = 'absent'


def stack_argument_spec():
    """Return the options of the stack module (a fresh dictionary each call)."""
    return dict(
        namespace=dict(type='str', required=True),
        definition=dict(type='path'),
        definition_content=dict(type='raw'),
        env=dict(type='dict', default={}, no_log=True),
        env_visible=dict(type='list', elements='str', default=[]),
        env_files=dict(type='list', elements='path', default=[]),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        prune=dict(type='bool', default=True),
        pull=dict(type='str', default='missing', choices=['missing', 'always', 'never']),
        wait=dict(type='bool', default=False),
        wait_timeout=dict(type='int', default=120),
        parallel=dict(type='int', default=4),
        remove_volumes=dict(type='bool', default=False),
        lock_timeout=dict(type='int', default=300),
        profiles=dict(type='list', elements='str', default=[]),
        files_dir=dict(type='path', default=DEFAULT_FILES_ROOT),
    )


STACK_MODULE_KWARGS = dict(
    supports_check_mode=True,
    mutually_exclusive=[('definition', 'definition_content')],
    required_if=[('state', 'present', ('definition', 'definition_content'), True)],
)


def run_stack(client):
    """Run the stack module with ``client`` (a ``DockerClient`` built from :func:`stack_argument_spec`); exit the module."""
    params = client.params
    keep_output_unmasked(client.module, ['env'])
    deployer = StackDeployer(client)
    results = deployer.results
    shown = redacted_params(params, ('env', ), params['env_visible'])
    shown['definition_content'] = redact_compose_environment(shown.get('definition_content'), params['env_visible'])
    results['invocation'] = dict(module_args=shown)
    run_deployer(client, deployer, 'hna.cloudos.stack', 'the stack %s' % params['namespace'])


def run_deployer(client, deployer, holder, what):
    """Deploy (or remove, ``state=absent``) what ``deployer`` owns under the namespace's lock; exit the module.

    ``holder`` names the module in the lock, ``what`` the deployment in an unexpected error. The stack module and the
    app module (one app of the app store) both end here.
    """
    params = client.params
    results = deployer.results
    for option, minimum in (('wait_timeout', 0), ('lock_timeout', 0), ('parallel', 1)):
        if params[option] < minimum:
            client.fail('%s must be %d or more, not %s.' % (option, minimum, params[option]), **results)

    lock = namespace_lock(client, params['namespace'], holder, params['lock_timeout'])
    try:
        lock.acquire()
    except LockError as exc:
        client.fail('%s Nothing was changed.' % exc, **results)
    try:
        if params['state'] == 'absent':
            deployer.remove_stack()
        else:
            stack = deployer.load()
            try:
                work = deployer.prepare(stack)
            except ContainerEngineError as exc:
                if 'Nothing was changed' in exc.msg:
                    raise StackError(exc.msg)
                raise StackError('%s. Nothing was changed.' % exc.msg.rstrip('.'))
            deployer.describe(work)
            if not client.check_mode:
                deployer.apply(work)
    except (StackError, SpecError) as exc:
        failure = dict(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        failure = dict(msg='Unexpected error while deploying %s: %s: %s' % (what, type(exc).__name__, one_line(exc)),
                       exception=traceback.format_exc())
    else:
        failure = None
    finally:
        deployer.close()
        lock.release()
    if failure is not None:
        deployer.settle_changed()
        client.fail(failure.pop('msg'), **dict(results, **failure))
    client.close()
    client.module.exit_json(**results)
