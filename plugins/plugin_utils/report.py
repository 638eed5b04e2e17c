# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report of certfleet.tls.report: one document, three renderings; plain Python for the filters.

``fleet_report()`` turns what tls_verify saw (plus, when known, what each host has deployed) into one JSON
document, one entry per host and certificate. ``report_query()`` applies a jmespath expression to it,
``prometheus_textfile()`` renders it for node_exporter's textfile collector and ``report_html()`` as one
self-contained page. Nothing here touches the network or the disk: the playbook probes and writes.
"""

from __future__ import annotations

import base64
import collections
import datetime
import html

from ansible_collections.certfleet.tls.plugins.module_utils._acme.decision import (LIFETIME_DAYS, LIFETIME_FRACTION,
                                                                                   lifetime_rule)
from ansible_collections.certfleet.tls.plugins.module_utils._tls import x509info
from ansible_collections.certfleet.tls.plugins.module_utils.certificate_specs import CERTIFICATE_PREPARE_SPEC
from ansible_collections.certfleet.tls.plugins.plugin_utils.dane import pin_role
from ansible_collections.certfleet.tls.plugins.plugin_utils.requests import RequestError, host_requests

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:  # pragma: no cover - jmespath is in meta/ee-requirements.txt
    HAS_JMESPATH = False

UTC = datetime.timezone.utc
SCHEMA = 1
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# The variable the report playbook registers its read of the deployed certificates in (opt-in, see docs/report.md)
DEPLOYED_READ_VAR = "certfleet_report_deployed"
# Colour bands of days left, shared by the HTML table and timeline: (class, upper bound in days, colour)
BANDS = (("expired", 0, "#7f1d1d"), ("critical", 14, "#dc2626"), ("soon", 30, "#d97706"), ("ok", None, "#16a34a"))
UNKNOWN_COLOUR = "#6b7280"

Validity = collections.namedtuple("Validity", "not_valid_before_utc not_valid_after_utc")
Validity.__doc__ = """The two dates decision.lifetime_rule() reads from a certificate, taken from the served facts, so the
report's next renewal comes from the same rule as the renewal decision."""


class ReportError(ValueError):
    """The report cannot be built or queried; the message names the input."""


def _parse_time(value):
    if not value:
        return None
    return datetime.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)


def _format_time(value):
    return value.strftime(TIME_FORMAT) if value else None


def _host_get(hostvars, host, key, default=None):
    try:
        value = hostvars[host].get(key, default)
    except KeyError:
        return default
    return default if value is None else value


def _request_profile(hostvars, host, certificate):
    """The ACME profile asked for: the certificate_requests item's own, else the host's certificate_acme_profile."""
    try:  # the items fleet_targets made the report's targets from, named the same way (shorthand included)
        items = host_requests(hostvars, host, missing_dir="-")
    except (KeyError, RequestError):  # no vars for the host (as _host_get), or requests the role names as wrong:
        items = []  # the report shows what is served even when the inventory is wrong
    for item in items:
        if item["name"] == certificate and item.get("profile"):
            return item["profile"]
    return _host_get(hostvars, host, "certificate_acme_profile")


def _next_renewal(hostvars, host, not_before, not_after, now):
    """When the lifetime rule makes the served certificate due (ARI, when enabled, can only bring it forward)."""
    if not (not_before and not_after):
        return None, None
    fraction = float(_host_get(hostvars, host, "certificate_renew_at_fraction",
                               CERTIFICATE_PREPARE_SPEC["renew_at_fraction"]["default"]))
    before_days = _host_get(hostvars, host, "certificate_renew_before_days")
    before_days = float(before_days) if before_days not in (None, "") else None
    renew_at = lifetime_rule(Validity(not_before, not_after), now, fraction, before_days)[3]
    return _format_time(renew_at), LIFETIME_DAYS if before_days is not None else LIFETIME_FRACTION


def _deployed_from_read(hostvars, host):
    """certificate name -> (serial or None, error or None) from the playbook's slurp of live/fullchain.pem."""
    read = _host_get(hostvars, host, DEPLOYED_READ_VAR, {}) or {}
    deployed = {}
    for result in read.get("results") or []:
        item = result.get("item") or {}
        name = item.get("name")
        if not name or result.get("skipped"):
            continue
        if result.get("failed") or result.get("unreachable") or not result.get("content"):
            deployed[name] = (None, "could not read %s/live/fullchain.pem: %s"
                              % (item.get("dir"), result.get("msg") or "no content"))
            continue
        try:
            pem = base64.b64decode(result["content"])
            serial = x509info.certificate_facts(x509info.load_certificate(x509info.split_pem_chain(pem)[0]))["serial"]
        except (ValueError, TypeError) as error:
            deployed[name] = (None, "%s/live/fullchain.pem holds no readable certificate: %s" % (item.get("dir"), error))
            continue
        deployed[name] = (serial, None)
    return deployed


def _deployed_from_results(hostvars, host):
    """certificate name -> (serial, None) from the certificate role's certificate_results (same run)."""
    return {entry.get("name"): (entry.get("serial"), None)
            for entry in _host_get(hostvars, host, "certificate_results", []) or []
            if isinstance(entry, dict) and entry.get("name") and entry.get("serial")}


def _deployed(hostvars, host, certificate):
    """(serial, source, error): what the host holds on disk, when this run knows it."""
    read = _deployed_from_read(hostvars, host)
    if certificate in read:
        serial, error = read[certificate]
        return serial, "host_read", error
    results = _deployed_from_results(hostvars, host)
    if certificate in results:
        return results[certificate][0], "certificate_results", None
    return None, None, None


def _store_pins(pins, hostvars, host, certificate):
    """{active, backup} pin-sha256 of the certificate's keys in the key store: from the report's read of the store
    (``pins``, by certificate name), else from the certificate role's certificate_results of the same run."""
    if certificate in (pins or {}):
        known = pins[certificate] or {}
        if "active_pin" in known or "backup_pin" in known:  # a key_store result as it is registered
            known = {"active": known.get("active_pin"), "backup": known.get("backup_pin")}
        return dict((role, pin) for role, pin in known.items() if role in ("active", "backup") and pin)
    for entry in _host_get(hostvars, host, "certificate_results", []) or []:
        if isinstance(entry, dict) and entry.get("name") == certificate and entry.get("pins"):
            return dict((role, pin) for role, pin in entry["pins"].items() if role in ("active", "backup") and pin)
    return {}


# ocsp_status values that say the served staple is wrong: a client that checks revocation refuses the site
OCSP_BAD = ("revoked", "unknown", "stale", "invalid")


def ocsp_status(result):
    """What the report says of OCSP for one tls_verify result, from its ``staple`` (tls_verify check_staple):
    the staple's status when it verified (good, revoked, unknown), else its outcome (not_stapled, stale, invalid,
    not_checked); no_responder when the certificate names no OCSP responder; not_checked without a staple check."""
    if result.get("ocsp_status"):
        return result["ocsp_status"]
    if not result.get("ocsp_responders"):
        return "no_responder"
    staple = result.get("staple")
    if not staple:
        return "not_checked"
    if staple.get("outcome") == "verified":
        return staple.get("status") or "not_checked"
    return staple.get("outcome") or "not_checked"


def ocsp_text(entry):
    """The OCSP cell of the HTML table: responders, then the served staple's status and next update."""
    responders = entry.get("ocsp_responders") or []
    status = entry.get("ocsp_status")
    if not responders:
        return "none (%s)" % status
    text = "%s; staple %s" % (", ".join(responders), status.upper() if status in OCSP_BAD else status)
    if entry.get("ocsp_revocation_reason"):
        text += " (%s)" % entry["ocsp_revocation_reason"]
    if entry.get("ocsp_next_update"):
        text += ", next update %s" % entry["ocsp_next_update"]
    if entry.get("ocsp_error"):
        text += ": %s" % entry["ocsp_error"]
    return text


def report_entry(result, target, hostvars, now, pins=None):
    """One host and certificate: what is served (tls_verify's facts) and, when known, what is deployed and which
    of the key store's keys is served (``pin_role``: active, backup, or neither - a mismatch)."""
    host = target.get("name") or result.get("name")
    certificate = target.get("certificate")
    not_before, not_after = _parse_time(result.get("not_before")), _parse_time(result.get("not_after"))
    next_renewal, rule = _next_renewal(hostvars, host, not_before, not_after, now)
    responders = list(result.get("ocsp_responders") or [])
    staple = result.get("staple") or {}
    deployed_serial, deployed_source, deployed_error = _deployed(hostvars, host, certificate)
    serial = result.get("serial")
    store_pins = _store_pins(pins, hostvars, host, certificate)
    served_role = pin_role(result.get("spki_sha256"), store_pins)
    return {
        "host": host,
        "certificate": certificate,
        "server_name": target.get("server_name") or result.get("server_name"),
        "address": target.get("address"),
        "port": target.get("port", 443),
        "verified": bool(result.get("verified")),
        "chain_verified": result.get("chain_verified"),
        "error": result.get("error"),
        "serial": serial,
        "issuer": result.get("issuer"),
        "domains": list(result.get("domains") or []),
        "not_before": result.get("not_before"),
        "not_after": result.get("not_after"),
        "days_left": round((not_after - now).total_seconds() / 86400.0, 2) if not_after else None,
        "next_renewal": next_renewal,
        "next_renewal_rule": rule,
        "profile": _request_profile(hostvars, host, certificate),
        "sct_count": len(result.get("scts") or []),
        "ocsp_responders": responders,
        "ocsp_status": ocsp_status(result),
        # from the staple served in the handshake (tls_verify check_staple), verified or only stale
        "ocsp_next_update": staple.get("next_update"),
        "ocsp_revocation_reason": staple.get("revocation_reason"),
        "ocsp_error": staple.get("error"),
        "spki_sha256": result.get("spki_sha256"),
        "tlsa_3_1_1": result.get("tlsa_3_1_1"),
        # Which key of the store the host serves (key_policy reuse/pinned): "active", "backup" (the store rotated
        # and this host has not been deployed since), or "neither" (a key the store does not know: every HPKP pin
        # and TLSA 3 1 1 record made from the store misses it). The TLSA 3 1 1 data is the same SHA-256 of the
        # same SPKI (hex instead of base64), so the served TLSA record matches the same role.
        "pin_role": served_role,
        "pin_mismatch": served_role == "neither",
        "store_pins": store_pins or None,
        "deployed_serial": deployed_serial,
        "deployed_source": deployed_source,
        "deployed_error": deployed_error,
        "serial_matches_deployed": (serial == deployed_serial) if (serial and deployed_serial) else None,
    }


def fleet_report(results, targets, hostvars, now=None, pins=None):
    """The report document from tls_verify ``results`` for ``targets`` (same order, as tls_verify returns them).

    ``pins``: {certificate name: {active, backup}} read from the key store, to say which key each host serves."""
    results, targets = list(results or []), list(targets or [])
    if len(results) != len(targets):
        raise ReportError("tls_verify returned %d results for %d targets: pass the targets the results came from"
                          % (len(results), len(targets)))
    for index, (result, target) in enumerate(zip(results, targets)):
        if result.get("name") != target.get("name") or result.get("server_name") != target.get("server_name"):
            raise ReportError("result %d is for %s/%s but target %d is %s/%s: results and targets are not in the same "
                              "order" % (index, result.get("name"), result.get("server_name"), index,
                                         target.get("name"), target.get("server_name")))
    now = now or datetime.datetime.now(UTC)
    entries = [report_entry(result, target, hostvars, now, pins) for result, target in zip(results, targets)]
    issuers = collections.Counter(entry["issuer"] for entry in entries if entry["issuer"])
    expiring = [entry["not_after"] for entry in entries if entry["not_after"]]
    return {
        "schema": SCHEMA,
        "generated_at": _format_time(now),
        "summary": {
            "certificates": len(entries),
            "verified": sum(1 for entry in entries if entry["verified"]),
            "failed": sum(1 for entry in entries if not entry["verified"]),
            "pin_mismatches": sum(1 for entry in entries if entry["pin_mismatch"]),
            "earliest_not_after": min(expiring) if expiring else None,
        },
        "issuers": [{"issuer": issuer, "certificates": count} for issuer, count in sorted(issuers.items())],
        "certificates": entries,
    }


def report_query(document, expression):
    """The jmespath ``expression`` applied to the report document."""
    if not HAS_JMESPATH:
        raise ReportError("report_query needs the Python library jmespath on the control node "
                          "(meta/ee-requirements.txt); install it with pip install jmespath")
    if not isinstance(expression, str) or not expression.strip():
        raise ReportError("report_query must be a jmespath expression (a non-empty string), got %r" % (expression,))
    try:
        return jmespath.search(expression, document)
    except jmespath.exceptions.JMESPathError as error:
        raise ReportError("report_query %r is not a valid jmespath expression over the report: %s"
                          % (expression, str(error).replace("\n", " ")))


# Prometheus text exposition format 0.0.4: label values escape \, " and newline; HELP text escapes \ and newline.
def _label_value(value):
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _help_text(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n")


METRICS = (
    ("certfleet_certificate_not_after_seconds",
     "Expiry (notAfter) of the certificate the host serves for the name, as a Unix time; from certfleet.tls.report."),
    ("certfleet_certificate_verified",
     "1 if the host serves a certificate that verified over TLS for the name (chain when checked, name, serial), "
     "else 0; from certfleet.tls.report."),
    ("certfleet_certificate_pin_mismatch",
     "1 if the host serves a key that is neither the active nor the backup key of the key store (its HPKP pins and "
     "TLSA records miss it), else 0; only for certificates whose keys are in the store; from certfleet.tls.report."),
)


OPTIONAL_METRICS = ("certfleet_certificate_pin_mismatch",)


def prometheus_textfile(document):
    """The report as Prometheus metrics for node_exporter's textfile collector (gauges, labels host/name/server_name)."""
    samples = {name: [] for name, _help in METRICS}
    for entry in document.get("certificates") or []:
        labels = "host=\"%s\",name=\"%s\",server_name=\"%s\"" % (
            _label_value(entry.get("host")), _label_value(entry.get("certificate")),
            _label_value(entry.get("server_name")))
        not_after = _parse_time(entry.get("not_after"))
        if not_after:  # nothing served (no TLS connection): no expiry to export, only verified=0
            samples["certfleet_certificate_not_after_seconds"].append(
                "certfleet_certificate_not_after_seconds{%s} %d" % (labels, int(not_after.timestamp())))
        samples["certfleet_certificate_verified"].append(
            "certfleet_certificate_verified{%s} %d" % (labels, 1 if entry.get("verified") else 0))
        if entry.get("pin_role"):
            samples["certfleet_certificate_pin_mismatch"].append(
                "certfleet_certificate_pin_mismatch{%s,pin_role=\"%s\"} %d"
                % (labels, _label_value(entry["pin_role"]), 1 if entry.get("pin_mismatch") else 0))
    lines = []
    for name, help_text in METRICS:
        if name in OPTIONAL_METRICS and not samples[name]:
            continue  # no certificate in a key store: no pin family at all
        lines += ["# HELP %s %s" % (name, _help_text(help_text)), "# TYPE %s gauge" % name] + samples[name]
    return "\n".join(lines) + "\n"


def days_band(days_left):
    """(class, colour) of a certificate by days left; ('unknown', grey) when nothing was served."""
    if days_left is None:
        return "unknown", UNKNOWN_COLOUR
    for name, limit, colour in BANDS:
        if limit is None or days_left < limit:
            return name, colour
    return BANDS[-1][0], BANDS[-1][2]  # pragma: no cover - the last band has no limit


_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #111827; }
h1 { font-size: 1.4em; margin-bottom: .2em; }
p.summary { color: #374151; margin-top: 0; }
table { border-collapse: collapse; font-size: .85em; margin-top: 1em; }
th, td { border: 1px solid #d1d5db; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
td.mono { font-family: monospace; word-break: break-all; max-width: 22em; }
td.days { color: #fff; font-weight: bold; text-align: right; }
td.days.expired { background: #7f1d1d; } td.days.critical { background: #dc2626; }
td.days.soon { background: #d97706; } td.days.ok { background: #16a34a; } td.days.unknown { background: #6b7280; }
td.failed { color: #b91c1c; }
.legend span { display: inline-block; padding: .1em .5em; margin-right: .5em; color: #fff; font-size: .8em; }
svg text { font-size: 11px; font-family: sans-serif; }
"""


def _timeline(entries, now):
    """An inline SVG: one row per certificate, its validity as a bar coloured by days left, and a line for now."""
    dated = [(e, _parse_time(e.get("not_before")), _parse_time(e.get("not_after"))) for e in entries]
    times = [t for _e, nb, na in dated for t in (nb, na) if t] + [now]
    start, end = min(times), max(times + [now + datetime.timedelta(days=30)])
    span = max((end - start).total_seconds(), 1.0)
    left, width, row = 230, 640, 22
    height = 40 + row * len(entries)

    def x(moment):
        return left + width * (moment - start).total_seconds() / span

    parts = ['<svg id="timeline" width="%d" height="%d" role="img" '
             'aria-label="expiry timeline">' % (left + width + 20, height)]
    for index, (entry, not_before, not_after) in enumerate(dated):
        y = 20 + row * index
        band, colour = days_band(entry.get("days_left"))
        label = "%s %s" % (entry.get("host"), entry.get("certificate"))
        parts.append('<text x="4" y="%d">%s</text>' % (y + 13, html.escape(label[:38])))
        if not_after:
            begin = x(not_before) if not_before else x(not_after) - 4
            # a red outline: served, but it did not verify (self-signed, wrong name, untrusted chain)
            outline = "" if entry.get("verified") else ' stroke="#b91c1c" stroke-width="2"'
            parts.append('<rect class="bar %s" data-host="%s" x="%.1f" y="%d" width="%.1f" height="14" fill="%s"%s>'
                         '<title>%s: not after %s (%s days left)</title></rect>'
                         % (band, html.escape(str(entry.get("host"))), begin, y, max(x(not_after) - begin, 4),
                            colour, outline, html.escape(label), html.escape(entry["not_after"]),
                            entry.get("days_left")))
            renewal = _parse_time(entry.get("next_renewal"))
            if renewal:  # a tick where the lifetime rule makes it due
                parts.append('<line class="renewal" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#111827" '
                             'stroke-width="2"><title>next renewal %s</title></line>'
                             % (x(renewal), y - 2, x(renewal), y + 16, html.escape(entry["next_renewal"])))
        else:
            parts.append('<text class="bar unknown" data-host="%s" x="%d" y="%d" fill="%s">nothing served: %s</text>'
                         % (html.escape(str(entry.get("host"))), left, y + 13, UNKNOWN_COLOUR,
                            html.escape(str(entry.get("error") or "")[:90])))
    now_x = x(now)
    parts.append('<line x1="%.1f" y1="10" x2="%.1f" y2="%d" stroke="#111827" stroke-dasharray="4 3"/>'
                 % (now_x, now_x, height - 14))
    parts.append('<text x="%.1f" y="%d">now %s; a tick marks the next renewal, a red outline a certificate that '
                 'did not verify</text>' % (now_x + 3, height - 2, html.escape(_format_time(now))))
    parts.append('<text x="%d" y="%d">%s</text>' % (left, 12, html.escape(start.strftime("%Y-%m-%d"))))
    parts.append('<text x="%d" y="%d" text-anchor="end">%s</text>'
                 % (left + width, 12, html.escape(end.strftime("%Y-%m-%d"))))
    parts.append("</svg>")
    return "\n".join(parts)


def pin_text(entry):
    """The "store key served" cell: which of the key store's keys the host serves (pin and TLSA 3 1 1 alike)."""
    role = entry.get("pin_role")
    if role is None:
        return "not in a key store"
    if role == "neither":
        return "NEITHER active nor backup: pins and TLSA records miss the served key"
    return role


def _cell(value, css=None):
    text = "" if value is None else (", ".join(value) if isinstance(value, list) else str(value))
    return '<td%s>%s</td>' % (' class="%s"' % css if css else "", html.escape(text))


def report_html(document, title="certfleet.tls fleet report"):
    """One self-contained HTML page (inline CSS and SVG; no script, link or image to fetch): table and timeline."""
    entries = document.get("certificates") or []
    now = _parse_time(document.get("generated_at")) or datetime.datetime.now(UTC)
    summary = document.get("summary") or {}
    rows = []
    for entry in entries:
        band, _colour = days_band(entry.get("days_left"))
        if entry.get("verified"):
            status = "verified" if entry.get("chain_verified") is not False else "names and serial (chain not checked)"
            status_css = None
        else:
            status, status_css = "FAILED: %s" % (entry.get("error") or "not verified"), "failed"
        deployed = entry.get("deployed_serial") or entry.get("deployed_error") or "not read"
        rows.append('<tr data-host="%s" data-certificate="%s">' % (
            html.escape(str(entry.get("host"))), html.escape(str(entry.get("certificate")))) + "".join([
                _cell(entry.get("host")), _cell(entry.get("certificate")), _cell(entry.get("server_name")),
                _cell(status, status_css), _cell(entry.get("serial"), "mono"), _cell(entry.get("issuer")),
                _cell(entry.get("not_after")),
                _cell("" if entry.get("days_left") is None else "%.1f" % entry["days_left"], "days " + band),
                _cell(entry.get("next_renewal")), _cell(entry.get("profile")), _cell(entry.get("sct_count")),
                _cell(ocsp_text(entry), "failed" if entry.get("ocsp_status") in OCSP_BAD else None),
                _cell(entry.get("spki_sha256"), "mono"), _cell(pin_text(entry), "failed" if entry.get("pin_mismatch") else None),
                _cell(entry.get("tlsa_3_1_1"), "mono"),
                _cell(deployed, "mono")]) + "</tr>")
    headers = ["host", "certificate", "served name", "TLS", "serial", "issuer", "not after", "days left",
               "next renewal", "profile", "SCTs", "OCSP", "SPKI pin (sha256)", "store key served", "TLSA 3 1 1",
               "deployed serial"]
    legend = "".join('<span style="background:%s">%s%s</span>' % (
        colour, name, " (&lt; %d days)" % limit if limit else "") for name, limit, colour in BANDS)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>%s</title>" % html.escape(title),
        "<style>%s</style></head><body>" % _STYLE,
        "<h1>%s</h1>" % html.escape(title),
        '<p class="summary">generated %s: %d certificates, %d verified, %d failed; earliest expiry %s</p>' % (
            html.escape(str(document.get("generated_at"))), summary.get("certificates", len(entries)),
            summary.get("verified", 0), summary.get("failed", 0),
            html.escape(str(summary.get("earliest_not_after")))),
        "<h2>Expiry timeline</h2>",
        '<p class="legend">%s<span style="background:%s">unknown</span></p>' % (legend, UNKNOWN_COLOUR),
        _timeline(entries, now),
        "<h2>Certificates</h2>",
        '<table id="certificates"><thead><tr>%s</tr></thead><tbody>' % "".join(
            "<th>%s</th>" % html.escape(h) for h in headers),
        "\n".join(rows),
        "</tbody></table>",
        "</body></html>",
    ]) + "\n"
