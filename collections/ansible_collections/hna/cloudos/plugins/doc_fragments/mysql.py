# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    """Documentation shared by the hna.cloudos modules that talk to a MySQL or MariaDB server."""

    # Connection options common to every MySQL module.
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or IP address of the MySQL or MariaDB server, reached over TCP.
      - Ignored when O(login_unix_socket) is set.
      - The module runs on the target host, so the address is resolved and reached from there.
    type: str
    default: localhost
  login_port:
    description:
      - TCP port of the server. Ignored when O(login_unix_socket) is set.
    type: int
    default: 3306
  login_user:
    description:
      - Account the module logs in with.
    type: str
    default: root
  login_password:
    description:
      - Password of O(login_user). Never shown in the output and never put on a command line; tools the
        module runs (such as C(mariadb-dump)) get it from a temporary option file readable only by its owner.
      - Without it, the module logs in without a password (for example as V(root) over the Unix socket
        with the C(unix_socket) authentication of MariaDB).
    type: str
  login_unix_socket:
    description:
      - Path of the server's Unix socket on the target host. When set, the module connects through it
        instead of O(login_host) and O(login_port).
    type: path
  ca_cert:
    description:
      - Path of the CA certificate (PEM) that signed the server certificate. Turns TLS on and makes the
        module check the server certificate (and its host name, see O(check_hostname)).
    type: path
  client_cert:
    description:
      - Path of the client certificate (PEM) presented to the server, for accounts that require X.509
        authentication. Turns TLS on. Requires O(client_key).
    type: path
  client_key:
    description:
      - Path of the private key (PEM) of O(client_cert).
    type: path
  check_hostname:
    description:
      - With O(ca_cert), check that the server certificate names O(login_host).
    type: bool
    default: true
  connect_timeout:
    description:
      - Seconds to wait for the connection to the server.
    type: int
    default: 30
notes:
  - MariaDB 10.5 or newer and MySQL 8.0.23 or newer (including 8.4) are supported; older servers are refused
    with a message naming their version.
requirements:
  - PyMySQL (the C(PyMySQL) Python package) on the host that runs the module (the target host; with
    C(connection=local), the Python interpreter that runs Ansible).
"""
