#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_login
short_description: Store (or remove) the credentials of an image registry in a Docker client configuration file
version_added: 0.1.0
description:
  - With O(state=present), checks O(username) and O(password) against the registry first, by talking to its
    Docker Registry HTTP API v2 directly (C(GET /v2/), with basic authentication or the bearer token flow the registry
    asks for). Only when the registry accepts them are they written to the C(auths) section of the Docker client
    configuration file O(config_path), the way C(docker login) does. Wrong credentials fail and write nothing.
  - With O(state=absent), removes the entry of the registry from that file (like C(docker logout)); the registry is not contacted.
  - Everything else in the file is kept. The file is written with mode C(0600) (its directory is created with mode C(0700)).
  - The Docker engine is not used, so this works for any registry and on hosts without Docker.
    The Docker CLI, Docker Compose and the Docker SDK for Python read the stored credentials when they pull or push.
  - The password is never returned, shown in the diff or logged.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  registry_url:
    description:
      - Address of the registry, V(HOST:PORT) or V(https://HOST:PORT) (HTTPS), or V(http://HOST:PORT) for a registry
        that serves plain HTTP.
      - The entry in the configuration file is named V(HOST:PORT), as the Docker CLI names it
        (V(https://index.docker.io/v1/) for Docker Hub, V(docker.io)).
    type: str
    required: true
  username:
    description:
      - User name. Required with O(state=present).
    type: str
  password:
    description:
      - Password (or access token) of O(username). Required with O(state=present).
    type: str
  state:
    description:
      - V(present) checks the credentials and stores them; V(absent) removes the entry of the registry.
    type: str
    choices: [present, absent]
    default: present
  config_path:
    description:
      - Docker client configuration file to update, on the target host.
      - Defaults to C($DOCKER_CONFIG/config.json) when the E(DOCKER_CONFIG) environment variable is set, otherwise to
        C(~/.docker/config.json) of the user the module runs as (mind C(become)).
    type: path
  ca_path:
    description:
      - CA certificate (PEM) that signed the certificate of the registry, when it is not signed by a CA the
        target host trusts.
      - This only concerns this module's own check. For the Docker engine to pull from the registry, the engine
        must trust the CA too (for example with the C(docker_host_registry_ca_certs) variable of the docker_host role).
    type: path
  reauthorize:
    description:
      - When the file already holds exactly these credentials for the registry, nothing is requested from the registry
        by default and the task reports no change.
      - With V(true), the credentials are checked against the registry even then (and the task fails if they no longer work).
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.registry
attributes:
  check_mode:
    support: full
    details:
      - The credentials are checked against the registry in check mode too; the file is not written.
  diff_mode:
    support: full
    details:
      - The diff shows the entry of the registry with the user name; the secret is shown as C(<hidden>).
  platform:
    support: full
    platforms: posix
notes:
  - A configuration file that delegates the credentials to a credential helper (C(credsStore) or C(credHelpers) for this
    registry) makes the Docker CLI ignore the C(auths) entry written here; the module warns about it.
  - The Docker CLI stores the credentials in the file only base64-encoded, not encrypted. Protect the file and the account.
seealso:
  - module: hna.cloudos.registry_info
  - module: hna.cloudos.registry_prune
  - name: Docker CLI configuration file
    description: The C(auths) section of C(config.json).
    link: https://docs.docker.com/reference/cli/docker/#configuration-files
"""

EXAMPLES = r"""
- name: Log in to the company registry (root's ~/.docker/config.json)
  hna.cloudos.registry_login:
    registry_url: registry.example.com:5000
    username: deploy
    password: "{{ vault_registry_password }}"
    ca_path: /etc/pki/company-ca.pem
  become: true

- name: Log in for the user app, in a configuration file of its own
  hna.cloudos.registry_login:
    registry_url: https://registry.example.com
    username: app
    password: "{{ vault_app_registry_password }}"
    config_path: /home/app/.docker/config.json

- name: Log out of the registry
  hna.cloudos.registry_login:
    registry_url: registry.example.com:5000
    state: absent
"""

RETURN = r"""
registry:
  description: Name of the entry of the registry in the C(auths) section of the configuration file.
  returned: always
  type: str
  sample: registry.example.com:5000
config_path:
  description: Path of the configuration file.
  returned: always
  type: str
  sample: /root/.docker/config.json
verified:
  description: Whether the credentials were checked against the registry during this run.
  returned: always
  type: bool
  sample: true
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hna.cloudos.plugins.module_utils._registry import (
    registry_common_argument_spec,
    RegistryClient,
    RegistryError,
    decode_auth,
    default_config_path,
    encode_auth,
    one_line,
    parse_registry_url,
)

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


def main():
    argument_spec = registry_common_argument_spec()
    argument_spec.update(
        state=dict(type='str', default='present', choices=['present', 'absent']),
        reauthorize=dict(type='bool', default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[('state', 'present', ('username', 'password'))],
        supports_check_mode=True,
    )
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
                client = RegistryClient(params['registry_url'], username=params['username'], password=params['password'],
                                        validate_certs=params['validate_certs'], ca_path=params['ca_path'], timeout=params['timeout'])
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


if __name__ == '__main__':
    main()
