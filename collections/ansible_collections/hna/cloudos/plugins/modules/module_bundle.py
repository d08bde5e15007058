#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: module_bundle
short_description: Install a module with its arguments as one Python file that runs on the host without Ansible
version_added: 0.1.0
description:
  - Builds, on the controller, the self-contained file Ansible sends to a host to run a module (the AnsiballZ
    wrapper, which holds the module, every module_util it imports and the arguments O(module_args) in one Python file), and
    installs it at O(dest) on the host.
  - On the host, C(python3 <dest>) then runs the module with those arguments and prints its JSON result; the exit
    code is 0 on success and 1 when the module fails. Neither Ansible nor the control node is needed there, which
    is what a cron job or a systemd timer on the host wants (role C(db_backup_schedule) uses it for
    M(hna.cloudos.mysql_backup)).
  - Idempotent by a fingerprint (a sha256 over the module name, O(module_args) as sorted JSON, the interpreter line
    and the names and contents of the files in the bundle, not their build times). It is stored beside the bundle
    in C(<dest>.fingerprint); the bundle is written again only when the fingerprint differs, for example after an
    upgrade of the collection or of ansible-core, or a change of an argument.
  - This is an action plugin; the bundle is built on the controller and copied to the host.
author:
  - HNA CloudOS maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details:
      - Reads the stored fingerprint and reports whether the bundle would be written; writes nothing.
  diff_mode:
    support: full
    details:
      - Shows the stored and the new fingerprint, not the bundle's content.
  platform:
    support: full
    platforms: posix
options:
  module:
    description:
      - Fully qualified name of the module to bundle, for example V(hna.cloudos.mysql_backup).
      - Only new-style Python modules can be bundled (every module of this collection and of ansible-core written in
        Python).
    type: str
    required: true
  module_args:
    description:
      - The arguments the module runs with, embedded in the bundle.
      - The bundle is a readable file on the host (mode O(mode)), so give secrets as files the module reads, for example
        C(login_password_file) of M(hna.cloudos.mysql_backup), never as values. Internal C(_ansible_*) arguments are
        refused; the bundle always runs without check mode, without diff mode and with verbosity 0.
    type: dict
    default: {}
  dest:
    description:
      - Absolute path of the bundle on the host. Its directory must exist.
      - The fingerprint is kept in C(<dest>.fingerprint) (mode 0600).
    type: path
    required: true
  mode:
    description:
      - File mode of the bundle, as for M(ansible.builtin.copy).
    type: raw
    default: '0700'
notes:
  - The bundle's interpreter line is the host's Python as Ansible discovers it (or C(ansible_python_interpreter)); the
    libraries the module needs on the host (for example PyMySQL and the Docker SDK) must be installed for that
    Python, as for any module run.
  - Run C(python3 <dest>) as the user the module should run as; the module's own temporary files go under C(/tmp).
seealso:
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Install a bundle of the backup module with its arguments (no password in it)
  hna.cloudos.module_bundle:
    module: hna.cloudos.mysql_backup
    module_args:
      container: mysql
      login_user: root
      login_password_file: /etc/hna-cloudos/backup/mysql/password
      verify: true
      keep_last: 7
    dest: /usr/local/lib/hna-cloudos/backup/mysql.py
    mode: '0700'

# Then, on the host (by hand, from cron or a systemd timer):
#   python3 /usr/local/lib/hna-cloudos/backup/mysql.py > result.json
"""

RETURN = r"""
dest:
  description: Path of the bundle on the host.
  returned: always
  type: str
  sample: /usr/local/lib/hna-cloudos/backup/mysql.py
module:
  description: The bundled module.
  returned: always
  type: str
  sample: hna.cloudos.mysql_backup
fingerprint:
  description: sha256 fingerprint of the bundle (module name, arguments, interpreter, bundled files).
  returned: always
  type: str
  sample: 8748bf02cd03c4ea8359fd40c1ba33c9ea3362cda460534ff86d6bc86fb2994a
size:
  description: Size of the bundle in bytes.
  returned: always
  type: int
  sample: 226534
"""
