#!/usr/bin/python
# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mysql_variables
short_description: Set global variables of a running MariaDB or MySQL server, only those that differ
version_added: 0.1.0
description:
  - Reads every variable of O(variables) in one query, compares each with the value the server holds (in the server's
    own spelling - V(ON) for V(true) or V(1), bytes for V(64M), V(0.500000) for V(0.5)) and sets only those that
    differ, over one connection (C(SET GLOBAL), or C(SET PERSIST) on MySQL 8 with O(mode=persist)).
  - A name the server does not have fails the task before anything is set. A value the server rounds or limits
    (it holds another value after the change) is reported in a warning that says which value settles it.
  - A global variable set at runtime is lost when the server restarts; write it into an option file as well (the
    role C(hna.cloudos.mysql_server) does both).
author:
  - HNA CloudOS maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hna.cloudos.mysql
attributes:
  check_mode:
    support: full
    details:
      - Reads the variables and returns the statements it would run in RV(queries), without running them.
  diff_mode:
    support: full
    details:
      - The variables of the task, one C(name = value) line each, before and after.
  platform:
    support: full
    platforms: posix
options:
  variables:
    description:
      - The variables to set and their values. A name may be written with C(-) or C(_) (V(max-connections) is
        V(max_connections)); a boolean is V(ON) or V(OFF); a size may end in V(K), V(M), V(G) or V(T) (powers of 1024).
    type: dict
    required: true
  mode:
    description:
      - V(global) sets the running value (C(SET GLOBAL)); V(persist) also keeps it across restarts (C(SET PERSIST),
        MySQL 8 only; MariaDB has no persisted variables and fails the task with V(persist)).
    type: str
    choices: [global, persist]
    default: global
requirements:
  - PyMySQL on the host that runs the module
seealso:
  - module: hna.cloudos.mysql_replication_info
"""

EXAMPLES = r"""
- name: Make the replica read-only and allow more connections
  hna.cloudos.mysql_variables:
    login_host: 10.231.0.21
    login_password: "{{ mysql_root_password }}"
    variables:
      read_only: true
      max_connections: 300
      max-allowed-packet: 64M
  register: settings

- name: Show what changed
  ansible.builtin.debug:
    msg: "{{ settings.changed_variables }}: {{ settings.queries }}"
"""

RETURN = r"""
variables:
  description: Each variable of the task (its name as the server lists it) with its value C(before) and C(after) the task.
  returned: success
  type: dict
  sample: {max_connections: {before: '151', after: '300'}, read_only: {before: 'OFF', after: 'ON'}}
changed_variables:
  description: The variables that differed and were set (in check mode, would be set).
  returned: success
  type: list
  elements: str
  sample: [max_connections, read_only]
queries:
  description: The statements run (in check mode, that would be run), values as literals.
  returned: always
  type: list
  elements: str
  sample: ["SET GLOBAL max_connections = 300", "SET GLOBAL read_only = 'ON'"]
"""

from ansible_collections.hna.cloudos.plugins.module_utils._mysql_variables import run_variables


def main():
    run_variables()


if __name__ == '__main__':
    main()
