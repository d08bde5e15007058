# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter url_host: an address as it goes before ``:port`` (IPv6 in brackets, once).

Its documentation is in ``url_host.yml`` next to this file.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def url_host(address, port=None):
    """``address`` ready for ``host:port`` and URLs: an IPv6 address in brackets (unless it has them), else as it is.

    With ``port``, ``:port`` is appended. An empty address stays empty (and gives ``:port`` with a port).
    """
    if address is None:
        address = ''
    if not isinstance(address, str):
        raise AnsibleFilterError('url_host: the address must be text, not %s: %r.' % (type(address).__name__, address))
    host = address
    if ':' in host and not (host.startswith('[') and host.endswith(']')):
        host = '[%s]' % host
    if port is None or port == '':
        return host
    if isinstance(port, bool) or not str(port).isdigit() or not 0 < int(port) < 65536:
        raise AnsibleFilterError('url_host: the port of %s must be a number from 1 to 65535, not %r.' % (address, port))
    return '%s:%d' % (host, int(port))


class FilterModule(object):
    """The address filter of hna.cloudos."""

    def filters(self):
        return {'url_host': url_host}
