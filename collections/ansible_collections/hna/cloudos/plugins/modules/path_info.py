#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: path_info
short_description: Read the type, owner, group, mode and checksum of many paths in one task
version_added: 0.1.0
description:
  - Returns for each path of O(paths) whether it exists, its type, owner, group, mode and, for a regular file, the SHA-1
    checksum of its content (the checksum M(ansible.builtin.copy) and M(ansible.builtin.template) compare).
  - Made for roles that manage many files and directories on a host. Each M(ansible.builtin.file),
    M(ansible.builtin.copy) or M(ansible.builtin.template) task costs at least one module run on the host even when
    nothing differs (copy and template cost two); with this module, a role reads every path it manages in one run and
    sends only the tasks whose path differs from what it would write. The tasks that run still decide, change, predict in
    check mode and show the diff as always, so the read only ever saves work, never replaces it.
  - Symbolic links are not followed; a link is reported as such (type V(link)), with the owner, group and mode of the
    link itself.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
options:
  paths:
    description:
      - Absolute paths to read. A path that does not exist is returned with RV(paths.exists=false).
    type: list
    elements: path
    required: true
  checksum:
    description:
      - Compute the SHA-1 checksum of each regular file (reads the whole file).
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads only; check mode reads the same.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
  idempotent:
    description: Whether running the task again with the same options changes nothing.
    support: full
"""

EXAMPLES = r"""
- name: Read the files and directories the role manages, in one task
  hna.cloudos.path_info:
    paths:
      - /etc/app
      - /etc/app/app.conf
  register: __app_paths

- name: Write app.conf (only sent to the host when its content, owner, group or mode differ)
  ansible.builtin.template:
    src: app.conf.j2
    dest: /etc/app/app.conf
    owner: root
    group: root
    mode: "0644"
  when: >-
    __app_paths.paths['/etc/app/app.conf'] is not hna.cloudos.path_matching(owner='root', group='root', mode='0644',
    content=lookup('ansible.builtin.template', 'app.conf.j2'))
"""

RETURN = r"""
paths:
  description:
    - One entry per path of O(paths), keyed by the path as given.
  returned: always
  type: dict
  sample:
    /etc/docker: {exists: true, type: directory, owner: root, group: root, mode: '0755', uid: 0, gid: 0, size: 4096}
    /etc/docker/daemon.json: {exists: true, type: file, owner: root, group: root, mode: '0644', uid: 0, gid: 0, size: 210,
                              checksum: 0c7a3f1d52b0e5f4a04e7d9df1b5c0c52f9aa1a1}
    /etc/docker/missing.json: {exists: false}
  contains:
    exists:
      description: Whether the path exists (a dangling symbolic link exists).
      type: bool
    type:
      description: V(file), V(directory), V(link) or V(other).
      type: str
    owner:
      description: Name of the owner (the uid as a string when it has no name).
      type: str
    group:
      description: Name of the group (the gid as a string when it has no name).
      type: str
    mode:
      description: Permission bits, four octal digits.
      type: str
    uid:
      description: Owner's uid.
      type: int
    gid:
      description: Group's gid.
      type: int
    size:
      description: Size in bytes.
      type: int
    checksum:
      description: SHA-1 of the content; regular files only, with O(checksum=true).
      type: str
"""

import grp
import hashlib
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def _sha1(path):
    digest = hashlib.sha1()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 16), b''):
            digest.update(block)
    return digest.hexdigest()


def path_facts(path, checksum=True):
    """Return what the module returns for one path."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return dict(exists=False)
    kind = ('file' if stat.S_ISREG(info.st_mode) else 'directory' if stat.S_ISDIR(info.st_mode)
            else 'link' if stat.S_ISLNK(info.st_mode) else 'other')
    facts = dict(exists=True, type=kind, owner=_name(pwd.getpwuid, info.st_uid), group=_name(grp.getgrgid, info.st_gid),
                 mode='%04o' % stat.S_IMODE(info.st_mode), uid=info.st_uid, gid=info.st_gid, size=info.st_size)
    if kind == 'file' and checksum:
        facts['checksum'] = _sha1(path)
    return facts


def main():
    module = AnsibleModule(argument_spec=dict(paths=dict(type='list', elements='path', required=True),
                                              checksum=dict(type='bool', default=True)),
                           supports_check_mode=True)
    paths = module.params['paths']
    relative = [path for path in paths if not os.path.isabs(path)]
    if relative:
        module.fail_json(msg='paths must be absolute: %s' % ', '.join(relative))
    results = {}
    for path in paths:
        try:
            results[path] = path_facts(path, module.params['checksum'])
        except OSError as exc:
            module.fail_json(msg='Could not read %s: %s' % (path, exc), paths=results)
    module.exit_json(changed=False, paths=results)


if __name__ == '__main__':
    main()
