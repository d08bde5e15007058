# This module_utils file is private to the hna.cloudos collection and may change without notice.
# Content outside the collection must not import it.

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runs of the ``hna.cloudos.registry_info``, ``registry_login`` and ``registry_prune`` modules.

Each module file holds its documentation and a ``main()`` that builds the ``AnsibleModule`` from
``registry_*_argument_spec()`` and ``REGISTRY_*_MODULE_KWARGS`` and calls ``run_registry_*``.
The registry itself is reached through :class:`~._registry.RegistryClient`; the Docker engines
that ``registry_prune`` reads or runs the garbage collector on through :meth:`DockerClient.for_engine`.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hna.cloudos.plugins.module_utils._docker_client import (
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    DockerClient,
    DockerClientError,
    parse_docker_host,
)
from ansible_collections.hna.cloudos.plugins.module_utils._registry import (
    registry_common_argument_spec,
    RegistryClient,
    RegistryError,
    compile_patterns,
    decode_auth,
    default_config_path,
    encode_auth,
    is_digest,
    load_credentials,
    matching_pattern,
    one_line,
    parse_registry_url,
    select_prune,
)

try:
    from docker.errors import NotFound
except ImportError:
    pass  # registry_prune reports the missing Docker SDK (HAS_DOCKER) before anything uses it


# -- shared by the modules -------------------------------------------------------------------------


def registry_client(params, username, password):
    """Return a :class:`RegistryClient` to the registry of the connection options in ``params``, as ``username``."""
    return RegistryClient(params['registry_url'], username=username, password=password,
                          validate_certs=params['validate_certs'], ca_path=params['ca_path'], timeout=params['timeout'])


def open_registry(params, result):
    """Return a :class:`RegistryClient` with the given credentials, or else those stored in ``config_path``.

    The registry name goes to ``result['registry']`` first, so that a later failure reports it.
    Raise :class:`RegistryError` when the options cannot be used.
    """
    address = parse_registry_url(params['registry_url'])
    result['registry'] = address.host
    username, password = load_credentials(params, address, params['config_path'] or default_config_path())
    return registry_client(params, username, password)


def repository_names(client, repository, patterns):
    """Return ``[repository]`` when given, else the repositories of the catalog whose whole name matches one of ``patterns``."""
    if repository:
        return [repository]
    return [name for name in client.catalog() if matching_pattern(name, patterns) is not None]


def repository_tags(client, name, listed):
    """Return the tags of repository ``name``, or ``None`` for a repository ``listed`` in the catalog that is gone since.

    A repository named by the user that the registry does not know is an error (:class:`RegistryError`).
    """
    try:
        return client.tags(name)
    except RegistryError as exc:
        if exc.status == 404 and listed:
            return None
        raise


# -- registry_info ---------------------------------------------------------------------------------


def registry_info_argument_spec():
    """Return the options of the registry_info module (a fresh dictionary each call)."""
    spec = registry_common_argument_spec()
    spec.update(
        repository=dict(type='str'),
        repositories=dict(type='list', elements='str'),
        tags=dict(type='list', elements='str'),
        include_details=dict(type='bool', default=False),
    )
    return spec


REGISTRY_INFO_MODULE_KWARGS = dict(
    required_together=[('username', 'password')],
    mutually_exclusive=[('repository', 'repositories')],
    supports_check_mode=True,
)


def run_registry_info(module):
    """Run the registry_info module (an ``AnsibleModule`` built from :func:`registry_info_argument_spec`); exit the module."""
    params = module.params
    result = dict(changed=False, registry=None, repositories=[])
    try:
        client = open_registry(params, result)
        try:
            tag_patterns = compile_patterns(params['tags'], 'tags')
            # Without repositories, every repository of the catalog.
            repo_patterns = compile_patterns(params['repositories'] or ['.*'], 'repositories')
            for name in repository_names(client, params['repository'], repo_patterns):
                entries = []
                for tag in repository_tags(client, name, listed=not params['repository']) or []:
                    if tag_patterns and matching_pattern(tag, tag_patterns) is None:
                        continue
                    entry = dict(tag=tag)
                    if params['include_details']:
                        details = client.image_details(name, tag)
                        details.pop('os', None)
                        details.pop('manifest_digests', None)
                        entry.update(details)
                    entries.append(entry)
                result['repositories'].append(dict(name=name, tags=entries))
        finally:
            client.close()
    except RegistryError as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


# -- registry_login --------------------------------------------------------------------------------

HIDDEN = '<hidden>'


def load_config(module, path):
    """Return the configuration file content (a dict), or an empty dict when the file does not exist."""
    if not os.path.exists(path):
        return {}
    try:
        with open(path, 'rb') as handle:
            raw = handle.read()
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot read the Docker configuration file %s: %s' % (path, one_line(exc)))
    if not raw.strip():
        return {}
    try:
        content = json.loads(raw.decode('utf-8'))
    except ValueError as exc:
        module.fail_json(msg='The Docker configuration file %s is not valid JSON (%s); fix or remove it.' % (path, one_line(exc)))
    if not isinstance(content, dict):
        module.fail_json(msg='The Docker configuration file %s does not hold a JSON object; fix or remove it.' % path)
    return content


def write_config(module, path, content):
    """Write ``content`` to ``path`` atomically, with mode 0600."""
    directory = os.path.dirname(path) or '.'
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        fd, temp_path = tempfile.mkstemp(prefix='.config.json.', dir=directory)
        try:
            with os.fdopen(fd, 'w') as handle:
                handle.write(json.dumps(content, indent='\t') + '\n')
            os.chmod(temp_path, 0o600)
            if os.path.exists(path):
                stat = os.stat(path)
                try:
                    os.chown(temp_path, stat.st_uid, stat.st_gid)
                except OSError:
                    pass
            os.replace(temp_path, path)
        except BaseException:
            if os.path.exists(temp_path):
                os.unlink(temp_path)
            raise
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot write the Docker configuration file %s: %s' % (path, one_line(exc)))


def visible_entry(entry, marker=HIDDEN):
    """The registry entry as shown in the diff: the user name, never the secret."""
    if entry is None:
        return None
    shown = {}
    for key, value in sorted(entry.items()):
        if key == 'auth':
            username, _password = decode_auth(value)
            if username is not None:
                shown['username'] = username
            shown['auth'] = marker
        elif key in ('password', 'identitytoken', 'registrytoken'):
            shown[key] = marker
        else:
            shown[key] = value
    return shown


def registry_login_argument_spec():
    """Return the options of the registry_login module (a fresh dictionary each call)."""
    spec = registry_common_argument_spec()
    spec.update(
        state=dict(type='str', default='present', choices=['present', 'absent']),
        reauthorize=dict(type='bool', default=False),
    )
    return spec


REGISTRY_LOGIN_MODULE_KWARGS = dict(
    required_if=[('state', 'present', ('username', 'password'))],
    supports_check_mode=True,
)


def run_registry_login(module):
    """Run the registry_login module (an ``AnsibleModule`` built from :func:`registry_login_argument_spec`); exit the module."""
    params = module.params
    try:
        address = parse_registry_url(params['registry_url'])
    except RegistryError as exc:
        module.fail_json(msg=str(exc))
    path = params['config_path'] or default_config_path()
    result = dict(changed=False, registry=address.config_key, config_path=path, verified=False)
    if params['timeout'] is None or params['timeout'] <= 0:
        module.fail_json(msg='timeout must be a positive number of seconds, not %s.' % params['timeout'], **result)

    config = load_config(module, path)
    auths = config.get('auths')
    if auths is not None and not isinstance(auths, dict):
        module.fail_json(msg='The Docker configuration file %s has an "auths" entry that is not an object; fix it.' % path, **result)
    current = (auths or {}).get(address.config_key)
    if current is not None and not isinstance(current, dict):
        current = {'invalid': True}

    if params['state'] == 'present':
        wanted = dict(current or {})
        wanted.pop('password', None)
        wanted.pop('username', None)
        wanted['auth'] = encode_auth(params['username'], params['password'])
        same = current is not None and current.get('auth') == wanted['auth'] and wanted == current
        if not same or params['reauthorize']:
            try:
                client = registry_client(params, params['username'], params['password'])
                try:
                    client.check()
                finally:
                    client.close()
            except RegistryError as exc:
                module.fail_json(msg=to_native(exc), **result)
            result['verified'] = True
            if address.base_url.startswith('http://'):
                module.warn('Registry %s is reached over plain HTTP: the password travels unencrypted.' % address.host)
        if config.get('credsStore') or address.config_key in (config.get('credHelpers') or {}):
            module.warn('The Docker configuration file %s delegates credentials to a credential helper (credsStore or '
                        'credHelpers): the Docker CLI will use the helper, not the auths entry written by this module.' % path)
        after_entry = wanted
        changed = not same
        if changed:
            config.setdefault('auths', {})
            if not isinstance(config['auths'], dict):
                config['auths'] = {}
            config['auths'][address.config_key] = wanted
    else:
        after_entry = None
        changed = current is not None
        if changed:
            del config['auths'][address.config_key]

    result['changed'] = changed
    if module._diff:
        secret_changed = changed and current is not None and after_entry is not None
        result['diff'] = dict(
            before_header='%s: auths.%s' % (path, address.config_key),
            after_header='%s: auths.%s' % (path, address.config_key),
            before=json.dumps({address.config_key: visible_entry(current, '<hidden: old value>' if secret_changed else HIDDEN)},
                              indent=2, sort_keys=True) + '\n' if current is not None else '',
            after=json.dumps({address.config_key: visible_entry(after_entry, '<hidden: new value>' if secret_changed else HIDDEN)},
                             indent=2, sort_keys=True) + '\n' if after_entry is not None else '',
        )
    if changed and not module.check_mode:
        write_config(module, path, config)
    elif params['state'] == 'present' and os.path.exists(path) and os.stat(path).st_mode & 0o077:
        # The entry is right but others may read the file: make it private, as the Docker CLI does.
        result['changed'] = True
        if not module.check_mode:
            try:
                os.chmod(path, 0o600)
            except OSError as exc:
                module.fail_json(msg='Cannot set mode 0600 on %s: %s' % (path, one_line(exc)), **result)
    module.exit_json(**result)


# -- registry_prune --------------------------------------------------------------------------------


def created_key(text):
    """Sort key of an RFC 3339 time (any number of fraction digits, any offset); unknown times sort first."""
    if not text:
        return (0, 0.0)
    value = text.strip().replace('z', 'Z')
    fraction = 0.0
    main, zone = value, ''
    if value.endswith('Z'):
        main, zone = value[:-1], '+00:00'
    elif len(value) > 6 and value[-6] in '+-' and value[-3] == ':':
        main, zone = value[:-6], value[-6:]
    if '.' in main:
        main, digits = main.split('.', 1)
        fraction = float('0.' + (digits or '0'))
    try:
        moment = datetime.datetime.fromisoformat(main + zone)
    except ValueError:
        return (0, 0.0)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return (1, moment.timestamp() + fraction)


#: The TLS files of the Docker engines reached with https://, as DockerClient.for_engine names them, and their options here.
ENGINE_TLS_OPTIONS = (('ca_path', 'docker_ca_path'), ('client_cert', 'docker_client_cert'), ('client_key', 'docker_client_key'))


class Engines(object):
    """The Docker engines the module talks to (in_use_hosts and the garbage collector).

    The module has the registry connection options (its ``validate_certs``, ``ca_path`` and ``timeout``
    are the registry's) and may talk to several engines, each named by its address in an option.
    TLS is used for ``https://`` addresses only, with ``docker_ca_path`` (the engine certificate is
    checked only when it is given), ``docker_client_cert`` and ``docker_client_key``.
    Every failure names ``option`` and returns ``partial_results`` (what the module did so far).
    """

    def __init__(self, module):
        self.module = module

    def connect(self, address, option, partial_results=None):
        """Return a :class:`DockerClient` connected to the engine at ``address`` (named by ``option``), or fail the module."""
        results = dict(partial_results or {})
        results.setdefault('changed', False)

        def fail(msg, **extra):
            self.module.fail_json(msg='%s: %s' % (option, msg), **dict(results, **extra))

        if not HAS_DOCKER:
            fail(missing_required_lib('docker') + ' (needed for in_use_hosts and garbage_collect)', exception=DOCKER_IMPORT_ERROR)
        try:
            host = parse_docker_host(address)
        except DockerClientError as exc:
            fail(str(exc))
        params = self.module.params
        tls_files = dict((name, None) for name, _option_name in ENGINE_TLS_OPTIONS)
        if host.scheme == 'https':
            for name, option_name in ENGINE_TLS_OPTIONS:
                path = params[option_name]
                if path and not os.path.isfile(path):
                    fail('%s %s does not exist or is not a file (needed for TLS to the Docker engine at %s).' % (option_name, path, address))
                tls_files[name] = path
        return DockerClient.for_engine(self.module, address, tls=host.scheme == 'https', validate_certs=bool(tls_files['ca_path']),
                                       timeout=params['timeout'], fail_prefix=option, partial_results=results, **tls_files)

    def in_use(self, address):
        """Return ``(by_repo_digest, by_image_id)``: dicts mapping a digest to descriptions of the containers using it."""
        client = self.connect(address, 'in_use_hosts')
        by_digest, by_id = {}, {}
        try:
            with client.api_errors('list its containers and their images'):
                containers = client.api.containers(all=True)
                images = {}
                for container in containers:
                    name = (container.get('Names') or [container.get('Id', '')[:12]])[0].lstrip('/')
                    user = 'container %s on %s' % (name, address)
                    image_id = container.get('ImageID')
                    reference = container.get('Image') or ''
                    if '@' in reference:
                        by_digest.setdefault(reference.rsplit('@', 1)[1], []).append(user)
                    if image_id:
                        by_id.setdefault(image_id, []).append(user)
                        if image_id not in images:
                            try:
                                images[image_id] = client.api.inspect_image(image_id).get('RepoDigests') or []
                            except NotFound:
                                images[image_id] = []
                        for repo_digest in images[image_id]:
                            by_digest.setdefault(repo_digest.rsplit('@', 1)[-1], []).append(user)
        finally:
            client.close()
        return by_digest, by_id

    def garbage_collect(self, settings, result):
        """Run the garbage collector; return ``(ok, text)``. Connection and API failures fail the module with ``result``."""
        address = settings['docker_host']
        client = self.connect(address, 'garbage_collect.docker_host', result)
        command = ['registry', 'garbage-collect']
        if settings['delete_untagged']:
            command.append('--delete-untagged')
        command.append(settings['config'])
        try:
            with client.api_errors('run the garbage collector in container %s' % settings['container']):
                exec_id = client.api.exec_create(settings['container'], command, stdout=True, stderr=True)
                output = client.api.exec_start(exec_id)
                exit_code = client.api.exec_inspect(exec_id).get('ExitCode')
        finally:
            client.close()
        text = output.decode('utf-8', 'replace') if isinstance(output, bytes) else str(output)
        lines = [line for line in text.splitlines() if line.strip()]
        if exit_code != 0:
            return False, 'The garbage collector in container %s on %s failed (exit code %s): %s' % (
                settings['container'], address, exit_code, one_line(' '.join(lines[-3:])) or 'no output')
        summary = [line for line in lines if 'eligible for deletion' in line or 'blobs marked' in line]
        return True, '\n'.join(summary[-1:] or lines[-1:])


def registry_prune_argument_spec():
    """Return the options of the registry_prune module (a fresh dictionary each call)."""
    spec = registry_common_argument_spec()
    spec.update(
        repository=dict(type='str'),
        repositories=dict(type='list', elements='str'),
        keep_last=dict(type='int', required=True),
        keep_patterns=dict(type='list', elements='str', default=[]),
        protected_digests=dict(type='list', elements='str', default=[]),
        in_use_digests=dict(type='list', elements='str', default=[]),
        in_use_hosts=dict(type='list', elements='str', default=[]),
        docker_ca_path=dict(type='path'),
        docker_client_cert=dict(type='path'),
        docker_client_key=dict(type='path', no_log=False),
        garbage_collect=dict(type='dict', options=dict(
            container=dict(type='str', required=True),
            docker_host=dict(type='str', default='unix:///var/run/docker.sock'),
            config=dict(type='str', default='/etc/docker/registry/config.yml'),
            delete_untagged=dict(type='bool', default=False),
        )),
        timeout=dict(type='int', default=60),
    )
    return spec


REGISTRY_PRUNE_MODULE_KWARGS = dict(
    required_together=[('username', 'password'), ('docker_client_cert', 'docker_client_key')],
    required_one_of=[('repository', 'repositories')],
    mutually_exclusive=[('repository', 'repositories')],
    supports_check_mode=True,
)


def _plan_repository(client, name, params, keep_patterns, in_use_by_digest, in_use_by_id):
    """Return ``(deleted, kept)`` for repository ``name``, or ``None`` when a repository of the catalog is gone since."""
    tags = repository_tags(client, name, listed=not params['repository'])
    if tags is None:
        return None
    entries, created, in_use, children = [], {}, {}, {}
    for tag in tags:
        details = client.image_details(name, tag)
        digest = details['digest']
        created[digest] = details['created']
        if details['manifest_digests']:
            children[digest] = details['manifest_digests']
        entries.append(dict(tag=tag, digest=digest, created=created_key(details['created'])))
        users = list(in_use_by_digest.get(digest, []))
        for config_digest in details['config_digests']:
            users.extend('%s (image ID %s)' % (user, config_digest[:19]) for user in in_use_by_id.get(config_digest, []))
        if users:
            in_use[digest] = sorted(set(users))
    deleted, kept = select_prune(entries, params['keep_last'], keep_patterns, params['protected_digests'], in_use, children)
    for item in deleted + kept:
        item['repository'] = name
        item['created'] = created.get(item['digest'])
    for item in deleted:
        item.pop('reasons', None)
    return deleted, kept


def run_registry_prune(module):
    """Run the registry_prune module (an ``AnsibleModule`` built from :func:`registry_prune_argument_spec`); exit the module."""
    params = module.params
    result = dict(changed=False, registry=None, deleted=[], kept=[])
    if params['keep_last'] < 0:
        module.fail_json(msg='keep_last must be 0 or more, not %s.' % params['keep_last'], **result)
    for option in ('protected_digests', 'in_use_digests'):
        for value in params[option]:
            if not is_digest(value):
                module.fail_json(msg='%s: %r is not a digest such as sha256:0123...' % (option, value), **result)

    engines = Engines(module)
    in_use_by_digest, in_use_by_id = {}, {}
    for value in params['in_use_digests']:
        in_use_by_digest.setdefault(value, []).append('in_use_digests')
        in_use_by_id.setdefault(value, []).append('in_use_digests')
    for address in params['in_use_hosts']:
        by_digest, by_id = engines.in_use(address)
        for digest, users in by_digest.items():
            in_use_by_digest.setdefault(digest, []).extend(users)
        for image_id, users in by_id.items():
            in_use_by_id.setdefault(image_id, []).extend(users)

    try:
        client = open_registry(params, result)
        try:
            keep_patterns = compile_patterns(params['keep_patterns'], 'keep_patterns')
            repo_patterns = compile_patterns(params['repositories'], 'repositories')
            plans = []
            for name in repository_names(client, params['repository'], repo_patterns):
                plan = _plan_repository(client, name, params, keep_patterns, in_use_by_digest, in_use_by_id)
                if plan is None:
                    continue
                deleted, kept = plan
                plans.append((name, deleted))
                result['deleted'].extend(deleted)
                result['kept'].extend(kept)
            result['changed'] = bool(result['deleted'])
            if not module.check_mode:
                done = []
                for name, deleted in plans:
                    for item in deleted:
                        try:
                            client.delete_manifest(name, item['digest'])
                        except RegistryError as exc:
                            result['deleted'] = done
                            result['changed'] = bool(done)
                            module.fail_json(msg=str(exc), **result)
                        done.append(item)
        finally:
            client.close()
    except RegistryError as exc:
        module.fail_json(msg=str(exc), **result)

    if params['garbage_collect']:
        result['garbage_collect'] = dict(ran=False, output='')
        if result['deleted'] and not module.check_mode:
            ok, text = engines.garbage_collect(params['garbage_collect'], result)
            if not ok:
                module.fail_json(msg=text, **result)
            result['garbage_collect'] = dict(ran=True, output=text)
    module.exit_json(**result)
