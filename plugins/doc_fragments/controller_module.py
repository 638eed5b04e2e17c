# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Attributes shared by the modules that run on the control node and write no files."""

    DOCUMENTATION = r"""
options: {}
attributes:
  diff_mode:
    support: none
    description: Writes no files.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node (C(delegate_to=localhost)); the managed hosts need nothing.
"""
