"""A DNS client on dnspython, for the DNS tests (tests/src/unbound.rs, `dns_query`): a second
stub resolver besides dig, whose message parser is not BIND's.

    dns_query.py IP:PORT NAME TYPE [--tcp] [--payload N | --noedns] [--timeout S]

One query (RD set, id random), over UDP unless --tcp; EDNS0 with a 1232-byte payload unless
--payload N or --noedns. A truncated UDP answer is printed as it came, not retried over TCP.
Prints:

    rcode NOERROR
    flags QR AA RD RA          (TC when truncated)
    answer NAME TTL TYPE DATA  (one line per record, in the order of the answer section)

or "error KIND: DETAIL" when no answer came (timeout, closed connection), and exits 0 either way.
"""

import argparse
import sys

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("name")
    ap.add_argument("type")
    ap.add_argument("--tcp", action="store_true")
    ap.add_argument("--payload", type=int, default=1232)
    ap.add_argument("--noedns", action="store_true")
    ap.add_argument("--timeout", type=float, default=2.0)
    a = ap.parse_args()
    host, _, port = a.server.rpartition(":")
    host = host.strip("[]")
    edns = -1 if a.noedns else 0
    q = dns.message.make_query(a.name, a.type, use_edns=edns, payload=a.payload)
    try:
        if a.tcp:
            r = dns.query.tcp(q, host, port=int(port), timeout=a.timeout)
        else:
            r = dns.query.udp(q, host, port=int(port), timeout=a.timeout, ignore_trailing=True,
                              raise_on_truncation=False)
    except (dns.exception.DNSException, OSError) as e:
        print("error %s: %s" % (type(e).__name__, e))
        return
    print("rcode %s" % dns.rcode.to_text(r.rcode()))
    print("flags %s" % dns.flags.to_text(r.flags))
    for rrset in r.answer:
        for rd in rrset:
            print("answer %s %d %s %s" % (rrset.name, rrset.ttl,
                                          dns.rdatatype.to_text(rrset.rdtype), rd.to_text()))


if __name__ == "__main__":
    sys.exit(main())
