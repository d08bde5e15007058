# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    # The options that name the release records of one application (release, release_lock, release_info). The
    # argument spec that goes with them is module_utils._release_task's common options.
    DOCUMENTATION = r"""
options:
  root_dir:
    description:
      - Directory that holds the release records of every environment and application on the host.
    type: path
    default: /var/lib/hna-cloudos/releases
  app:
    description:
      - Name of the application - lower-case letters, digits and C(-), starting with a letter.
    type: str
    required: true
  environment:
    description:
      - Name of the environment (same rules as O(app)).
    type: str
    default: production
"""
