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


def server_name(domains):
    """The SNI to probe a certificate with: its first name that is not a wildcard (RFC 6066 wants a host name);
    for a certificate of wildcards only, a name the first wildcard covers."""
    for domain in domains:
        if not domain.startswith("*."):
            return domain
    return "certfleet-check." + domains[0][2:]


def verify_target(host, certificate, address, domains, port=443):
    """What tls_verify connects to for one certificate of one host (SNI: see server_name)."""
    return {"name": host, "certificate": certificate, "address": address, "server_name": server_name(domains),
            "port": int(port)}
