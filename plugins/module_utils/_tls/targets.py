# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One source of truth for a certificate's default name and for where its verification over TLS connects.

The decide step, the report filter and the playbooks all go through these two functions, so a certificate
is named and probed the same way everywhere.
"""

from __future__ import annotations


def certificate_name(domains, name=None):
    """The operator's name, else every normalized domain joined by commas.

    The whole list, not its first name: two hosts whose lists merely start alike must not share an order
    (hosts with the same certificate name share one key and one order).
    """
    return name or ",".join(domains)


def verify_target(host, certificate, address, domains, port=443):
    """What tls_verify connects to for one certificate of one host: SNI is the first domain."""
    return {"name": host, "certificate": certificate, "address": address, "server_name": domains[0],
            "port": int(port)}
