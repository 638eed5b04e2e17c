# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Attributes shared by the modules that run on managed hosts."""

    DOCUMENTATION = r"""
options: {}
requirements:
  - Python 3 standard library on the managed host (nothing else).
attributes:
  check_mode:
    support: full
    description: Reports what would change and writes nothing.
  diff_mode:
    support: full
    description: Shows the files that would change.
  platform:
    support: full
    platforms: posix
    description: Runs on the managed host.
"""
