# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's certificate requests, one normalized list for the certificate role and the web roles.

``certificate_requests`` holds one item per certificate; ``certificate_domains`` + ``certificate_dir`` +
``certificate_webroot`` (+ ``certificate_name``) are the shorthand for a single item. Every consumer reads the
same normalized items, so a certificate is named, placed and served the same way everywhere.
"""

from __future__ import annotations

from ansible_collections.certfleet.tls.plugins.module_utils._tls.keys import normalize_domains
from ansible_collections.certfleet.tls.plugins.module_utils._tls.targets import certificate_name
from ansible_collections.certfleet.tls.plugins.module_utils.errors import CertfleetError

# Keys every item ends up with; web roles and later features add their own keys, which pass through untouched.
DEFAULTS = {"webroot": None, "key_type": None, "profile": None, "challenge": "http-01"}


class RequestError(ValueError):
    """A request item the operator must fix; the message names the item and the key."""


def normalize_requests(requests=None, domains=None, directory=None, webroot=None, name=None):
    """Return the list of request items, each with name, domains (normalized), dir and the DEFAULTS keys."""
    if requests:
        items = list(requests)
        where = "certificate_requests[%d]"
    elif domains:
        items = [{"name": name or None, "domains": domains, "dir": directory, "webroot": webroot}]
        where = "certificate_domains/certificate_dir (item %d)"
    else:
        return []
    normalized, names = [], {}
    for index, item in enumerate(items):
        label = where % index
        if not isinstance(item, dict):
            raise RequestError("%s is not a mapping" % label)
        challenge = item.get("challenge") or DEFAULTS["challenge"]
        if challenge not in ("http-01", "dns-01"):
            raise RequestError("%s: challenge %r is not supported (http-01 or dns-01)" % (label, challenge))
        try:
            item_domains = normalize_domains(item.get("domains") or [], challenge)
        except CertfleetError as error:
            raise RequestError("%s: domains: %s" % (label, error.msg))
        if not item.get("dir"):
            raise RequestError("%s has no dir (the directory of live/, releases/ and next/ on the host)" % label)
        entry = dict(DEFAULTS)
        entry.update(item)
        entry.update(domains=item_domains, name=certificate_name(item_domains, item.get("name")),
                     challenge=challenge)
        if entry["name"] in names:
            raise RequestError("%s has the same name %r as item %d: names identify certificates"
                               % (label, entry["name"], names[entry["name"]]))
        names[entry["name"]] = index
        normalized.append(entry)
    dirs = [entry["dir"] for entry in normalized]
    for entry in normalized:
        if dirs.count(entry["dir"]) > 1:
            raise RequestError("certificate %r shares dir %s with another certificate of this host: each needs its "
                               "own" % (entry["name"], entry["dir"]))
    return normalized


def host_requests(hostvars, host, missing_dir=None):
    """One host's normalized requests, read from ``hostvars[host]``: ``certificate_requests``, or the shorthand
    (``certificate_domains``, ``certificate_dir``, ``certificate_webroot``, ``certificate_name``).

    Every filter that looks across the play's hosts reads them here, so that all see the same certificates.
    ``missing_dir``: the dir to assume when the shorthand gives none (a report probes what is served and needs none).
    Raises RequestError naming the item and key at fault.
    """
    host_vars = hostvars[host]
    return normalize_requests(host_vars.get("certificate_requests"), host_vars.get("certificate_domains"),
                              host_vars.get("certificate_dir") or missing_dir, host_vars.get("certificate_webroot"),
                              host_vars.get("certificate_name"))
