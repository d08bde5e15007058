#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: stack
short_description: Deploy the services of a Compose file (docker.yml) into a namespace
version_added: 0.1.0
description:
  - Reads a Compose file (the C(docker.yml) or C(compose.yaml) format of Docker Compose), checks all of it, and brings the
    containers, named volumes and extra networks of its services into the namespace O(namespace), one container per
    service (or one per replica with C(deploy.replicas)).
  - The namespace must exist; create it first with M(hna.cloudos.namespace). Every service joins the namespace network and
    is reachable there as C(<service>) and C(<service>.<namespace>).
  - Containers are named C(<namespace>-<service>); with C(deploy.replicas) above 1, that is the first replica and the others
    are C(<namespace>-<service>-<n>) from 2. All the replicas of a service share its network aliases. Named volumes are
    created as C(<namespace>-<volume>) and extra networks as C(<namespace>-<network>).
  - "Nothing is changed before the whole file has been checked: unknown or unsupported keys, bad values, unknown
    C(depends_on) targets, dependency cycles, images that are missing with O(pull=never), containers of the same name that
    do not belong to this stack, and the quotas of the namespace for the whole change (containers, volumes, CPUs, memory).
    A file that fails any of these checks changes nothing."
  - "Services start in C(depends_on) order, level by level; the services of one level are independent and are brought up in
    parallel (see O(parallel)). A dependency with C(condition: service_healthy) must be healthy before its dependents are
    changed, one with C(condition: service_completed_successfully) must have run to completion with exit code 0."
  - Each container is compared with its whole declared configuration (see M(hna.cloudos.container)). Memory and CPU limits,
    the restart policy and networks change in place; anything else replaces the container safely, the new container
    having to be healthy before the old one is removed. If the new container does not become healthy, the old one keeps
    running and the task fails with the output of the last health check.
  - A service that does not change is left alone, so running the task again changes nothing.
  - "Supported Compose keys. Top level: C(services), C(volumes), C(networks), C(version) (ignored), C(name) (must be the
    namespace), and C(x-*) extension fields. Service: C(image), C(command), C(entrypoint), C(environment), C(env_file),
    C(ports), C(volumes), C(networks), C(depends_on), C(healthcheck), C(restart), C(labels), C(deploy.replicas),
    C(deploy.resources.limits.cpus), C(deploy.resources.limits.memory), C(user), C(working_dir), C(hostname), C(init),
    C(stop_grace_period), C(stop_signal), C(logging), the keys of the container options of M(hna.cloudos.container)
    (C(cap_add), C(cap_drop), C(ulimits), C(devices), C(extra_hosts), C(dns), C(dns_search), C(read_only), C(tmpfs),
    C(sysctls), C(shm_size), C(security_opt), C(pid), C(ipc), C(expose), C(tty), C(stdin_open)) and C(x-*). Anything else
    (for example C(build), C(privileged), C(secrets)) fails with a message naming the service and the key."
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  namespace:
    description:
      - Namespace to deploy into. It must exist (see M(hna.cloudos.namespace)).
      - The stack is identified by its namespace; one namespace holds one stack.
    type: str
    required: true
  definition:
    description:
      - Path of the Compose file on the managed host.
      - Relative paths in the file (bind mount sources such as V(./conf), C(env_file) entries) are relative to the
        directory of this file.
      - Required with O(state=present) unless O(definition_content) is given.
    type: path
  definition_content:
    description:
      - The Compose document itself, as a mapping (or as YAML text).
      - Relative paths are refused in it (there is no file they could be relative to); use absolute paths.
      - Ansible templates this value before the module sees it; C(${VAR}) interpolation is left to the module.
    type: raw
  env:
    description:
      - Variables for the interpolation of C(${VAR}), C(${VAR:-default}), C(${VAR-default}), C(${VAR:?message}),
        C(${VAR:+alternative}) and C($VAR) in the values of the Compose file. C($$) is a literal C($).
      - These variables, with those of O(env_files), are the only ones used; the environment of the managed host or of
        the controller is not.
      - Also the values of bare names in C(environment) (V(- NAME) in the list form, V(NAME:) with no value in the mapping
        form) and in C(env_file).
      - A variable used without a default and not set is replaced by an empty string, with a warning.
      - Values are turned into strings (V(true) and V(false) for booleans).
      - Interpolated values appear in the plan, the differences and the diff output.
    type: dict
    default: {}
  env_files:
    description:
      - Files on the managed host in the C(.env) format (C(NAME=value) lines, C(#) comments, optional C(export) and quotes)
        whose variables are used for interpolation, as with C(docker compose --env-file).
      - Later files win over earlier ones, and O(env) wins over all of them.
      - Relative paths are relative to the directory of O(definition).
    type: list
    elements: path
    default: []
  state:
    description:
      - V(present) deploys the file.
      - V(absent) removes every container of the stack of O(namespace) and the networks the stack created. Named volumes are
        kept unless O(remove_volumes=true). O(definition) is not needed and not read.
    type: str
    choices: [present, absent]
    default: present
  prune:
    description:
      - With O(state=present), remove the containers of this stack whose service is no longer in the file (and the
        replicas above C(deploy.replicas)), and the extra networks the stack created that the file no longer declares.
      - Containers are removed before the other services are changed, so that a renamed service can take over the host
        ports of the old one.
      - Named volumes are never pruned.
    type: bool
    default: true
  pull:
    description:
      - V(missing) pulls an image only when the engine does not have it, V(always) pulls every image at each run, V(never)
        never pulls (a missing image fails the task before anything is changed).
      - Images are resolved (and pulled) before any container is changed.
      - In check mode nothing is pulled.
    type: str
    choices: [missing, always, never]
    default: missing
  wait:
    description:
      - Return only when every service runs and is healthy (running, for a service without health check); a service with
        C(service_completed_successfully) dependents only has to have completed.
      - Without it, a changed container must be running, and a service that others depend on with
        C(service_healthy) is still waited for before its dependents are changed.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for a container to become healthy (or to run, or to complete), for O(wait), for C(service_healthy)
        and C(service_completed_successfully) dependencies, and for a replacement container.
    type: int
    default: 120
  parallel:
    description:
      - Most containers changed at the same time within one start level.
    type: int
    default: 4
  remove_volumes:
    description:
      - With O(state=absent), also remove the named volumes the stack created (their data is lost).
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.docker
  - hna.cloudos.docker.docker_sdk
  - hna.cloudos.docker.actiongroup_docker
attributes:
  check_mode:
    support: full
    details:
      - Returns the plan (what would be created, updated, replaced, removed or left unchanged) without changing anything and
        without pulling images. An image that would be pulled shows as a difference of the service.
  diff_mode:
    support: full
    details:
      - The diff shows, for each service that changes, the fields that differ before and after.
  platform:
    support: full
    platforms: posix
notes:
  - The containers of a stack carry the labels C(io.hna.cloudos.stack=<namespace>), C(io.hna.cloudos.namespace),
    C(io.hna.cloudos.service) and C(io.hna.cloudos.managed=true) (and C(io.hna.cloudos.replica) for replicas). Pruning and
    O(state=absent) only touch containers, networks and volumes with these labels.
  - YAML 1.1 reads an unquoted V(22:22) as a number; quote port mappings in the Compose file, as Docker Compose recommends.
  - Anonymous volumes (a C(volumes) entry with only a container path) are not kept when a container is replaced.
  - A replica count above one cannot be combined with a fixed host port; publish only the container port instead.
  - Going from one container to several (C(deploy.replicas) from 1 to 2 or more) keeps the container, which is the first
    replica, and adds the numbered ones; going back to one removes them.
seealso:
  - module: hna.cloudos.namespace
  - module: hna.cloudos.container
  - name: Compose file reference
    description: The format of the file, of which this module supports the subset listed above.
    link: https://docs.docker.com/reference/compose-file/
"""

EXAMPLES = r"""
- name: Create the namespace of the shop
  hna.cloudos.namespace:
    name: shop
    quotas:
      containers: 10
      memory: 4g

- name: Deploy the shop from its Compose file on the managed host
  hna.cloudos.stack:
    namespace: shop
    definition: /srv/shop/docker.yml
    env:
      TAG: "1.4.2"
    wait: true
  register: shop

- name: Show what changed per service
  ansible.builtin.debug:
    msg: "{{ item.key }}: {{ item.value.action }} ({{ item.value.state }})"
  loop: "{{ shop.services | dict2items }}"

- name: Deploy a stack written in the playbook
  hna.cloudos.stack:
    namespace: shop
    definition_content:
      services:
        db:
          image: postgres:16
          environment:
            POSTGRES_PASSWORD: "${DB_PASSWORD}"
          volumes:
            - data:/var/lib/postgresql/data
          healthcheck:
            test: [CMD-SHELL, pg_isready -U postgres]
            interval: 5s
            retries: 10
        web:
          image: "registry.example.com/shop/web:${TAG:-latest}"
          ports:
            - "127.0.0.1:8080:8080"
          depends_on:
            db:
              condition: service_healthy
          deploy:
            resources:
              limits:
                cpus: "0.5"
                memory: 256m
      volumes:
        data: {}
    env:
      DB_PASSWORD: "{{ vault_shop_db_password }}"

- name: Show what a new version of the file would change, without changing anything
  hna.cloudos.stack:
    namespace: shop
    definition: /srv/shop/docker.yml
  check_mode: true
  diff: true
  register: shop_plan

- name: Print the plan
  ansible.builtin.debug:
    msg: "{{ item.key }} would be {{ item.value.action }}: {{ item.value.changes | map(attribute='field') | join(', ') }}"
  loop: "{{ shop_plan.plan | dict2items }}"

- name: Remove the stack, keeping its volumes
  hna.cloudos.stack:
    namespace: shop
    state: absent
"""

RETURN = r"""
namespace:
  description: The namespace of the stack.
  returned: always
  type: str
  sample: shop
services:
  description:
    - One entry per service of the file, plus one per service removed by O(prune) or O(state=absent).
    - In check mode, the containers as they are now.
  returned: always
  type: dict
  contains:
    action:
      description:
        - What was done to the service (what would be done, in check mode).
        - V(create), V(update) (changed in place, or started again), V(replace), V(remove) or V(unchanged).
      type: str
      sample: replace
    changes:
      description: Names of the fields that differ (empty for V(create), V(remove) and V(unchanged)).
      type: list
      elements: str
      sample: [env, image]
    containers:
      description: The containers of the service (one per replica).
      type: list
      elements: dict
      contains:
        name:
          description: Container name.
          type: str
          sample: shop-web
        id:
          description: Container ID (empty when the container does not exist, for example in check mode before a creation).
          type: str
          sample: 3b1c9a5c1f2e5f0d9b4a7e6c8d2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f
        action:
          description: What was done to this container (V(create), V(update), V(replace), V(remove) or V(unchanged)).
          type: str
          sample: unchanged
        state:
          description:
            - V(healthy), V(unhealthy) or V(starting) for a running container with a health check, V(running) for one
              without, V(exited), V(created) or another Docker status otherwise, V(absent) when there is no container.
          type: str
          sample: healthy
        exit_code:
          description: Exit code of the container when it has exited.
          type: int
          sample: 0
    state:
      description: The least ready state among the containers of the service (see RV(services.containers.state)).
      type: str
      sample: healthy
    replicas:
      description: The number of containers the file asks for (0 for a removed service).
      type: int
      sample: 1
plan:
  description:
    - What the task does (or, in check mode, would do) per service, decided before anything changed.
  returned: always
  type: dict
  contains:
    action:
      description: V(create), V(update), V(replace), V(remove) or V(unchanged).
      type: str
      sample: update
    changes:
      description: The fields that differ, with the value now (C(before)) and the declared one (C(after)).
      type: list
      elements: dict
      sample: [{field: env, before: {MODE: a}, after: {MODE: b}, in_place: false}]
    containers:
      description: The action for each container of the service (name -> action).
      type: dict
      sample: {shop-web: replace}
    level:
      description: The start level of the service (0 first; services of one level start in parallel). -1 for a removal.
      type: int
      sample: 1
levels:
  description: The services grouped by start level, in the order they are brought up.
  returned: when O(state=present)
  type: list
  elements: list
  sample: [[db], [api, worker], [web]]
networks:
  description: The extra networks of the file and those removed, with what was done to each.
  returned: always
  type: dict
  sample: {backend: {name: shop-backend, action: create, external: false}}
volumes:
  description: The named volumes of the file (and, with O(state=absent) and O(remove_volumes=true), those removed).
  returned: always
  type: dict
  sample: {data: {name: shop-data, action: unchanged, external: false}}
"""

import os
import threading
import traceback

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.hna.cloudos.plugins.module_utils._compose import (
    ComposeError,
    load_definition,
    parse_stack,
    read_env_files,
)
from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import DockerClient, one_line
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
)
from ansible_collections.hna.cloudos.plugins.module_utils._namespace import (
    NamespaceError,
    check_quota,
    get_namespace,
    validate_name,
)

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


def _public_changes(differences):
    return [dict(field=d['field'], before=d['before'], after=d['after'], in_place=d['in_place']) for d in differences]


def _error_text(exc):
    text = getattr(exc, 'explanation', None) or str(exc) or type(exc).__name__
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    return one_line(text)


# --- the deployment -----------------------------------------------------------------------------------


class StackDeployer(object):
    """Plans and applies one stack (``state=present``) or removes it (``state=absent``)."""

    def __init__(self, client):
        self.client = client
        self.params = client.params
        self.namespace = self.params['namespace']
        self.check_mode = client.check_mode
        self.engine = ContainerEngine(client)
        self.results = dict(changed=False, namespace=self.namespace, services={}, plan={}, networks={}, volumes={})
        self._local = threading.local()
        self._apis = []
        self._apis_lock = threading.Lock()

    # -- requests made by the main thread ------------------------------------------------------------

    def _request(self, what, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except NotFound:
            raise
        except (APIError, RequestException, DockerException, ValueError) as exc:
            raise StackError('The Docker engine at %s could not %s: %s' % (self.client.docker_host, what, _error_text(exc)))

    def _inspect_or_none(self, what, method, name):
        try:
            return self._request(what, method, name)
        except NotFound:
            return None

    def _stack_containers(self):
        """List entries of every container labelled for this stack (any state)."""
        return self._request('list the containers of the stack %s' % self.namespace, self.client.api.containers,
                             all=True, filters={'label': '%s=%s' % (LABEL_STACK, self.namespace)}) or []

    # -- worker threads -----------------------------------------------------------------------------

    def _thread_engine(self):
        engine = getattr(self._local, 'engine', None)
        if engine is None:
            try:
                api = self.client.new_api()
            except (DockerException, RequestException) as exc:
                raise StackError('Cannot open another connection to the Docker engine at %s: %s' % (
                    self.client.docker_host, _error_text(exc)))
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
            return item, None, 'The Docker engine at %s answered with an error: %s' % (self.client.docker_host, _error_text(exc))

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
            stack = parse_stack(document, self.namespace, variables, base_dir)
        except ComposeError as exc:
            raise StackError('%s. Nothing was changed.' % str(exc).rstrip('.'))
        for warning in stack['warnings']:
            self.client.module.warn(warning)
        return stack

    def prepare(self, stack):
        """Inspect everything and decide; change nothing. Return the work to do."""
        namespace = self.namespace
        api = self.client.api
        model = self._namespace_model()
        if model is None:
            raise StackError('Namespace %s does not exist: create it first with hna.cloudos.namespace. Nothing was changed.' % namespace)

        # One-shot services: the targets of service_completed_successfully.
        oneshot = set()
        healthy_targets = set()
        for service in stack['services'].values():
            for dependency, condition in service['depends_on'].items():
                if condition == 'service_completed_successfully':
                    oneshot.add(dependency)
                elif condition == 'service_healthy':
                    healthy_targets.add(dependency)

        # Images, once each (pulled here, before anything else changes).
        images = {}
        for ref in sorted(set(service['image'] for service in stack['services'].values() if service['specs'])):
            images[ref] = self.engine.image(ref, self.params['pull'])

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

        existing = dict(((entry.get('Names') or ['/'])[0].lstrip('/'), entry) for entry in self._stack_containers())

        # Container plans.
        plans = {}
        desired_names = set()
        for name in sorted(stack['services']):
            service = stack['services'][name]
            plans[name] = []
            for spec in service['specs']:
                desired_names.add(spec['name'])
                container = self.engine.find(spec['name'])
                if container is not None:
                    labels = (container.get('Config') or {}).get('Labels') or {}
                    if labels.get(LABEL_STACK) != namespace:
                        raise StackError('A container named %s already exists and does not belong to the stack of namespace %s '
                                         '(it has no %s=%s label): remove or rename it, or rename the service %s. Nothing was '
                                         'changed.' % (spec['name'], namespace, LABEL_STACK, namespace, name))
                state = 'present' if name in oneshot else 'started'
                plan = self.engine.plan(spec, state=state, container=container, image=images.get(service['image']))
                plans[name].append(plan)

        removals = []
        if self.params['prune']:
            for container_name_, entry in sorted(existing.items()):
                if container_name_ not in desired_names:
                    labels = entry.get('Labels') or {}
                    removals.append(dict(name=container_name_, id=entry['Id'], service=labels.get(LABEL_SERVICE) or container_name_,
                                         entry=entry))

        networks = self._plan_networks(stack)
        volumes = self._plan_volumes(stack)

        # Quotas, for the whole change at once.
        kept_or_replaced = [name for name in existing if name in desired_names or self.params['prune']]
        specs = [spec for service in stack['services'].values() for spec in service['specs']]
        try:
            check_quota(api, model, add_containers=len(specs),
                        add_volumes=sum(1 for volume in volumes.values() if volume['action'] == 'create'),
                        add_cpus=sum(spec['cpus'] or 0.0 for spec in specs),
                        add_memory=sum(spec['memory'] or 0 for spec in specs),
                        replacing=kept_or_replaced)
        except NamespaceError as exc:
            raise StackError('%s. Nothing was changed.' % str(exc).rstrip('.'))
        except (APIError, RequestException, DockerException) as exc:
            raise StackError('Could not check the quotas of namespace %s: %s' % (namespace, _error_text(exc)))

        return dict(stack=stack, model=model, plans=plans, removals=removals, networks=networks, volumes=volumes,
                    oneshot=oneshot, healthy_targets=healthy_targets)

    def _namespace_model(self):
        try:
            validate_name(self.namespace)
        except NamespaceError as exc:
            raise StackError(str(exc))
        try:
            return get_namespace(self.client.api, self.namespace)
        except (APIError, RequestException, DockerException) as exc:
            raise StackError('The Docker engine at %s could not inspect the network of namespace %s: %s' % (
                self.client.docker_host, self.namespace, _error_text(exc)))

    def _plan_networks(self, stack):
        result = {}
        api = self.client.api
        for key, network in sorted(stack['networks'].items()):
            actual = self._inspect_or_none('inspect the network %s' % network['name'], api.inspect_network, network['name'])
            if actual is not None and actual.get('Name') != network['name']:
                actual = None  # the engine also matches ID prefixes
            entry = dict(name=network['name'], external=network['external'], action='unchanged', settings=network)
            if network['external']:
                if actual is None:
                    raise StackError('The external network %s (networks.%s) does not exist: create it first. Nothing was '
                                     'changed.' % (network['name'], key))
            elif actual is None:
                entry['action'] = 'create'
            else:
                labels = actual.get('Labels') or {}
                if labels.get(LABEL_STACK) != self.namespace:
                    raise StackError('A network named %s already exists and does not belong to the stack of namespace %s: '
                                     'remove or rename it, or rename networks.%s. Nothing was changed.' % (
                                         network['name'], self.namespace, key))
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
        return self._request('list the networks of the stack %s' % self.namespace, self.client.api.networks,
                             filters={'label': '%s=%s' % (LABEL_STACK, self.namespace)}) or []

    def _plan_volumes(self, stack):
        result = {}
        api = self.client.api
        for key, volume in sorted(stack['volumes'].items()):
            actual = self._inspect_or_none('inspect the volume %s' % volume['name'], api.inspect_volume, volume['name'])
            entry = dict(name=volume['name'], external=volume['external'], action='unchanged', settings=volume)
            if volume['external']:
                if actual is None:
                    raise StackError('The external volume %s (volumes.%s) does not exist: create it first. Nothing was '
                                     'changed.' % (volume['name'], key))
            elif actual is None:
                entry['action'] = 'create'
            else:
                owner = (actual.get('Labels') or {}).get(LABEL_NAMESPACE)
                if owner not in (None, self.namespace):
                    raise StackError('A volume named %s already exists and belongs to namespace %s. Nothing was changed.' % (
                        volume['name'], owner))
                if owner is None:
                    self.client.module.warn('The volume %s exists without the labels of namespace %s; the stack uses it as it '
                                            'is (it is not counted in the quota of the namespace).' % (volume['name'], self.namespace))
            result[key] = entry
        return result

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
                action=action, level=levels.get(name, 0), changes=_public_changes(differences),
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
        self.results['levels'] = stack['levels']
        self.results['changed'] = changed
        if self.client.module._diff:
            self.results['diff'] = self._diff(work)

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
        for key, volume in sorted(work['volumes'].items()):
            if volume['action'] == 'create':
                settings = volume['settings']
                self._request('create the volume %s' % volume['name'], api.create_volume, volume['name'],
                              driver=settings['driver'], driver_opts=settings['driver_opts'] or None, labels=settings['labels'])

        # Containers no longer in the file go first (they may hold host ports the others need).
        failures = []
        outcomes = self._run_parallel(work['removals'], self._remove_container, self.params['parallel'])
        for removal, result, error in outcomes:
            if error:
                failures.append("service '%s': could not remove the container %s: %s" % (removal['service'], removal['name'], error))
        if failures:
            raise StackError(' '.join(failures))

        quota_set = any(value is not None for value in (work['model'].get('quotas') or {}).values())
        stack = work['stack']
        changed_services = set(name for name, plans in work['plans'].items() if any(plan['action'] != 'none' for plan in plans))
        dependents = dict((name, set()) for name in stack['services'])
        for name, service in stack['services'].items():
            for dependency in service['depends_on']:
                dependents[dependency].add(name)

        for level in stack['levels']:
            items = []
            for name in level:
                oneshot = name in work['oneshot']
                healthy_needed = name in work['healthy_targets'] and bool(dependents[name] & changed_services)
                wait = 'healthy' if (self.params['wait'] or healthy_needed) else 'running'
                completion_needed = oneshot and (self.params['wait'] or bool(dependents[name] & changed_services))
                for plan in work['plans'][name]:
                    if plan['action'] == 'none' and not (self.params['wait'] or healthy_needed or completion_needed):
                        continue
                    items.append(dict(service=name, plan=plan, wait=wait, oneshot=oneshot, timeout=timeout,
                                      completion_needed=completion_needed))
            if not items:
                continue
            workers = self.params['parallel']
            if quota_set and any(item['plan']['action'] == 'replace' for item in items):
                workers = 1  # a replacement briefly holds two containers; one at a time keeps within the quota
            for item, facts, error in self._run_parallel(items, self._converge, workers):
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
                entry['state'] = least_ready(c['state'] for c in entry['containers'] if c['action'] != 'remove')
            if failures:
                later = [service for other in stack['levels'][stack['levels'].index(level) + 1:] for service in other]
                note = (' The services %s were not changed.' % ', '.join(later)) if later else ''
                raise StackError(' '.join(failures) + note)

        for key, network in sorted(work['networks'].items()):
            if network['action'] == 'remove':
                try:
                    self._request('remove the network %s' % network['name'], api.remove_network, network['id'])
                except NotFound:
                    pass

    def _remove_container(self, removal, engine):
        plan = engine.plan(dict(name=removal['name']), state='absent', container=engine.find(removal['id']), image=None)
        engine.apply(plan, wait='none')
        return {}

    def _converge(self, item, engine):
        plan = item['plan']
        if not item['oneshot']:
            return engine.apply(plan, wait=item['wait'], timeout=item['timeout'])
        facts = engine.apply(plan, wait='none', timeout=item['timeout'])
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
            result = api.wait(cid, timeout=item['timeout'])
            container = api.inspect_container(cid)
        except NotFound as exc:
            raise StackError('The container %s disappeared while it ran: %s' % (name, _error_text(exc)))
        except RequestException as exc:
            if 'timed out' in str(exc).lower() or 'timeout' in type(exc).__name__.lower():
                raise StackError('The container %s did not complete within %s s; the services that need it to complete '
                                 '(condition service_completed_successfully) were not changed.' % (name, item['timeout']))
            raise StackError('The Docker engine at %s could not %s: %s' % (self.client.docker_host, what, _error_text(exc)))
        except (APIError, DockerException) as exc:
            raise StackError('The Docker engine at %s could not %s: %s' % (self.client.docker_host, what, _error_text(exc)))
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
            volumes = (self._request('list the volumes of the stack %s' % self.namespace, api.volumes,
                                     filters={'label': '%s=%s' % (LABEL_STACK, self.namespace)}) or {}).get('Volumes') or []
            for volume in volumes:
                key = volume['Name'][len(self.namespace) + 1:] if volume['Name'].startswith(self.namespace + '-') else volume['Name']
                self.results['volumes'][key] = dict(name=volume['Name'], action='remove', external=False)
        self.results['changed'] = bool(removals or networks or volumes)
        if self.client.module._diff:
            self.results['diff'] = dict(
                before=dict((name, [c['name'] for c in svc['containers']]) for name, svc in self.results['services'].items()),
                after={})
        if self.check_mode:
            return
        failures = []
        for removal, result, error in self._run_parallel(removals, self._remove_container, self.params['parallel']):
            if error:
                failures.append('could not remove the container %s: %s' % (removal['name'], error))
        if failures:
            raise StackError(' '.join(failures))
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
        for svc in self.results['services'].values():
            for container in svc['containers']:
                container['state'] = 'absent'


def main():
    client = DockerClient(
        argument_spec=dict(
            namespace=dict(type='str', required=True),
            definition=dict(type='path'),
            definition_content=dict(type='raw'),
            env=dict(type='dict', default={}),
            env_files=dict(type='list', elements='path', default=[]),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            prune=dict(type='bool', default=True),
            pull=dict(type='str', default='missing', choices=['missing', 'always', 'never']),
            wait=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=120),
            parallel=dict(type='int', default=4),
            remove_volumes=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
        mutually_exclusive=[('definition', 'definition_content')],
        required_if=[('state', 'present', ('definition', 'definition_content'), True)],
    )
    params = client.params
    deployer = StackDeployer(client)
    results = deployer.results

    if params['wait_timeout'] < 0:
        client.fail('wait_timeout must be 0 or more seconds, not %s.' % params['wait_timeout'], **results)
    if params['parallel'] < 1:
        client.fail('parallel must be 1 or more, not %s.' % params['parallel'], **results)

    try:
        if params['state'] == 'absent':
            deployer.remove_stack()
        else:
            stack = deployer.load()
            try:
                work = deployer.prepare(stack)
            except ContainerEngineError as exc:
                raise StackError('%s. Nothing was changed.' % exc.msg.rstrip('.'))
            deployer.describe(work)
            if not client.check_mode:
                deployer.apply(work)
    except StackError as exc:
        deployer.close()
        results['changed'] = results['changed'] and not client.check_mode
        client.fail(str(exc), **results)
    except SpecError as exc:
        deployer.close()
        client.fail(str(exc), **results)
    except Exception as exc:  # pylint: disable=broad-except
        deployer.close()
        client.fail('Unexpected error while deploying the stack %s: %s: %s' % (params['namespace'], type(exc).__name__, one_line(exc)),
                    exception=traceback.format_exc(), **results)
    deployer.close()
    client.close()
    client.module.exit_json(**results)


if __name__ == '__main__':
    main()
