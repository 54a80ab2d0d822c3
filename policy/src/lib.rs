//! Sockmesh policy: the model, the CiliumNetworkPolicy parser and the compiled matchers the proxy
//! consults on every connection and request.
//!
//! The crate is pure (no I/O, no async): the proxy reads files or xDS resources, hands text to
//! [`cilium::parse_documents`] (or builds [`model::Policy`] values itself), compiles them for its
//! workload with [`CompiledPolicy::compile`], and swaps the result in atomically.
//!
//! # Why Cilium's semantics
//! Users already write CiliumNetworkPolicy; taking its shapes *and* its decisions means a policy
//! behaves the same under Sockmesh as under Cilium, and Cilium's documentation applies. Where we go
//! beyond Cilium it is spelled out below.
//!
//! # Semantics
//! * **Selection.** `endpointSelector` (`matchLabels`, `matchExpressions` with `In`, `NotIn`,
//!   `Exists`, `DoesNotExist`; `k8s:`/`any:` key prefixes ignored; `{}` selects all) is matched
//!   against the workload's [`Labels`] once, at compile time: a sidecar serves exactly one workload,
//!   so unselected policies are dropped instead of being re-checked per request.
//! * **Peers (L3).** `fromCIDR`/`toCIDR`, `fromCIDRSet`/`toCIDRSet` (with `except`),
//!   `fromEndpoints`/`toEndpoints: [{}]` and `fromEntities`/`toEntities: [all]` are enforced. Peer
//!   addresses that are IPv4-mapped IPv6 are folded to IPv4 first, so a dual-stack listener sees the
//!   same peer as an IPv4 one. A rule without any L3 field matches every peer. Non-empty endpoint
//!   selectors need peer identities (mTLS) and are refused: silently widening them to "all" would
//!   allow traffic the author meant to restrict. Note that `fromEndpoints: [{}]` means *every
//!   peer* here, while in a cluster Cilium limits it to Cilium-managed endpoints (of the policy's
//!   namespace): without identities a sidecar cannot tell them apart, so combine it with CIDR
//!   rules (or deny rules) where that difference matters.
//! * **Ports (L4).** `toPorts[].ports[]`: `port` (number or numeric string; `0` or absent = all),
//!   `endPort` (range), `protocol` `TCP`/`UDP`/`SCTP`/`ANY` (default `ANY`). No `toPorts` = all
//!   ports, L4 only.
//! * **HTTP (L7).** `method`, `path`, `host` are regular expressions matched against the *whole*
//!   value (they are anchored as `^(?:…)$`, as Cilium/Envoy do): `path: /api` does **not** match
//!   `/api/v1`; write `/api/.*`. `path` sees path *and query* as the proxy hands it over; a `CONNECT` request has no path, so a rule with a `path` never matches one (the proxy normalises the path first, as Envoy's `normalize_path` and `merge_slashes` do). `host` sees the
//!   whole `Host`/`:authority` value, port included (`web\.example(:80)?`). `headers` entries are
//!   `"Name"` (must be present) or `"Name: value"` / `"Name value"` (exact value; split at the
//!   first blank as Cilium does; `"Name : value"`, which that split reads as the value
//!   `": value"`, is an error, and so is a name that is no field name). A `toPorts` entry whose `rules` hold no rule (`rules: {}`) is
//!   L4 only. `headerMatches` `{name, value, mismatch}`: without `mismatch` the header must equal
//!   `value` (no `value`: must be present); with `mismatch: LOG|ADD|DELETE|REPLACE` a mismatch does
//!   not stop the rule from matching but yields a [`HeaderAction`] for the proxy to apply. Header
//!   names are case-insensitive. Allow rules and header actions match a header sent more than
//!   once as its values joined with `,` ([`Headers::get`]); deny rules also match any single value
//!   or comma-separated member, and a non-text value, so repetition cannot sidestep them
//!   ([`Headers::any_value`]).
//! * **gRPC (our extension).** `rules.grpc: [{service, method, serviceRegex, methodRegex}]`:
//!   `service`/`method` are exact, `*Regex` full-match; absent = any. They only match requests the
//!   proxy identified as gRPC ([`HttpRequest::grpc`]), whose `:path` is exactly
//!   `/Service/Method` ([`GrpcCall::from_path`]; the proxy refuses other gRPC paths). A port may carry `http` and `grpc` rules
//!   together: the request passes L7 if any `http` rule or (for gRPC calls) any `grpc` rule matches.
//! * **DNS (L7).** `rules.dns: [{matchName, matchPattern}]` on a port make every query on it go
//!   through [`CompiledPolicy::check_dns`] (`check_connection` says `l7: Dns`). `matchName` is
//!   exact, `matchPattern`'s `*` matches within one label and a leading `**.` one or more labels,
//!   both case-insensitive with a trailing dot ignored; names are matched label by label
//!   ([`dns`] says why). A port speaks one L7 protocol: `dns` next to `http`/`grpc` is an error.
//! * **Kafka (L7).** `rules.kafka: [{role, apiKey, apiVersion, clientID, topic}]` on a port make
//!   every request on it go through [`CompiledPolicy::check_kafka`] (`check_connection` says
//!   `l7: Kafka`), with Cilium's semantics ([`kafka`] cites the source): `role`
//!   (`produce`/`consume`) and `apiKey` (Cilium's names, or a number) exclude each other;
//!   `apiVersion`, `clientID` and `topic` are exact. A request naming several topics passes
//!   only if every topic is allowed by some rule; a rule's `topic` is ignored for keys that
//!   name no topic (JoinGroup, Heartbeat, ...), and a request of a topic key naming none is not
//!   allowed by a rule with a `topic`. Roles expand to Cilium's keys **plus** what current
//!   clients send for the same job: `produce` adds InitProducerId (idempotent producers),
//!   `consume` adds OffsetForLeaderEpoch and ConsumerGroupHeartbeat (KIP-848); the table,
//!   with the reasons, is [`kafka::ROLES`]. The proxy decodes request bodies only for the keys
//!   [`CompiledPolicy::kafka_topic_keys`] names. A port speaks one L7 protocol: `kafka` next
//!   to `http`/`grpc`/`dns` is an error.
//! * **Deny rules with L7 (our extension).** `ingressDeny`/`egressDeny` entries may carry `rules`;
//!   such a deny rule only denies requests that match one of its L7 rules (a `*` in a deny
//!   rule's `matchPattern` stands for any byte, so an odd byte in a name cannot escape it; a
//!   deny `rules.kafka` entry with a `topic` denies a request naming that topic among others,
//!   or asking for every topic, and never one of a key that names no topic). Deny rules without L7
//!   rules deny at L3/L4 (Cilium's only kind).
//! * **Precedence.** (1) A matching deny rule wins. (2) Otherwise a matching allow rule allows; a
//!   port entry without L7 rules allows all of L7 on that port, and L7 rules on the same port/peer
//!   add up. (3) Otherwise the direction's default applies: **default deny** if any selected policy
//!   puts the direction into default deny, else **default allow** (`default-allow (ingress: no policy
//!   selects this workload for ingress)`).
//! * **Default deny and deny-only policies.** We follow Cilium's documented behaviour
//!   (`enableDefaultDeny`, Cilium ≥ 1.15; "Deny Policies": "Pods will enter default-deny mode as
//!   soon as a single policy selects it"): a spec puts a direction into default deny when it has an
//!   allow *or* deny section for it (even an empty list), unless its `enableDefaultDeny.<direction>`
//!   says `false`; an explicit `true` enables it even without rules. If several policies select the
//!   workload, default deny is on when any of them requests it. So a policy with only `ingressDeny`
//!   denies what it names *and* everything not allowed elsewhere; to write a pure "block list", set
//!   `enableDefaultDeny: {ingress: false}`, as in Cilium.
//! * **Rule ids.** Every verdict names the deciding rule: `namespace/name: ingress[0]`,
//!   `…: ingress[0].toPorts[1]` (an L4 port entry) or `…: ingress[0].toPorts[1].rules.http[2]`;
//!   with several specs the path starts with `specs[i].` (counting a `spec` given next to `specs`
//!   first). Ties are broken deterministically: the first matching rule in (policy order, spec
//!   order, rule index, `toPorts` index, `http` before `grpc`, rule index) wins, among deny rules
//!   first, then among allow rules. Header actions come from that deciding rule.
//! * **Connections.** [`CompiledPolicy::check_connection`] decides at accept time with the rules
//!   that need no L7: a deny rule without L7 rules denies; an allow entry without L7 rules allows
//!   (`l7: None`, the proxy may splice); if only entries with L7 rules match, or a matching
//!   deny rule has L7 rules, the verdict names the protocol of the first of them in decision
//!   order (`l7: Http`, `Dns` or `Kafka`) and each request goes through
//!   [`CompiledPolicy::check_http`] (or `check_dns`, `check_kafka`).
//! * **FQDNs (egress).** `toFQDNs: [{matchName, matchPattern}]` selects the addresses that
//!   allowed DNS answers gave for the names it matches, until their TTL runs out ([`fqdn`]); with
//!   `toPorts` (and L7 rules under it) as any peer selector. In `egressDeny` (our extension) its
//!   wildcards take any byte, as deny `rules.dns` do: a learned name is what an answer said (a
//!   CNAME target is the answering server's choice), and an odd byte in it must not carry its
//!   addresses past the deny rule. Compile with [`CompiledPolicy::compile_with`] to share the
//!   table the DNS path fills.
//! * **Not supported yet.** `toServices`, `toGroups`, `fromNodes`/`toNodes`, `icmps`,
//!   `authentication`, `fromRequires`/`toRequires`, `rules.l7proto`,
//!   `headerMatches[].secret`, `originatingTLS`/`terminatingTLS`, `listener`, `serverNames`, named
//!   ports, entities other than `all`, `nodeSelector`. They are parsed and refused with an error at
//!   their position, never ignored: ignoring a rule changes what a policy allows.
//!
//! # Example
//! ```
//! use sockmesh_policy::{cilium, CompiledPolicy, ConnMeta, Direction, HttpRequest, L4Protocol,
//!                       L7Kind, Labels, NoHeaders};
//!
//! let yaml = r#"
//! apiVersion: cilium.io/v2
//! kind: CiliumNetworkPolicy
//! metadata: {name: web, namespace: prod}
//! spec:
//!   endpointSelector: {matchLabels: {app: web}}
//!   ingress:
//!   - fromCIDR: [10.0.0.0/8]
//!     toPorts:
//!     - ports: [{port: "8080", protocol: TCP}]
//!       rules:
//!         http: [{method: GET, path: "/api/.*"}]
//! "#;
//! let policies = cilium::parse_documents("web.yaml", yaml).map_err(|e| e[0].to_string())?;
//! let labels: Labels = [Labels::parse_kv("app=web")?].into_iter().collect();
//! let policy = CompiledPolicy::compile(&policies, &labels).map_err(|e| e.to_string())?;
//!
//! let conn = ConnMeta { direction: Direction::Ingress, peer: "10.1.2.3".parse().map_err(|_| "ip")?,
//!                       port: 8080, protocol: L4Protocol::Tcp, identity: None };
//! let accept = policy.check_connection(&conn);
//! assert!(accept.allowed && accept.l7 == L7Kind::Http);
//! let req = HttpRequest { method: "GET", path: "/api/orders?id=7", host: None,
//!                         headers: &NoHeaders, grpc: None };
//! let v = policy.check_http(&conn, &req);
//! assert!(v.allowed);
//! assert_eq!(v.rule.as_str(), "prod/web: ingress[0].toPorts[0].rules.http[0]");
//! let v = policy.check_http(&conn, &HttpRequest { path: "/admin", ..req });
//! assert!(!v.allowed);
//! assert_eq!(v.rule.as_str(), "default-deny (ingress)");
//! # Ok::<(), String>(())
//! ```
//!
//! # Performance
//! Compilation builds, per direction and per allow/deny, a port index (binary search over port
//! segments, each with its own candidate group), per group a CIDR index (hash lookups per prefix
//! length) and an L7 index: for each HTTP field, literal patterns in a hash map and regexes in one
//! forward lazy DFA per bucket (path regexes are bucketed by first segment), combined by bitset
//! intersection. Evaluation cost therefore grows with the number of
//! distinct prefix lengths and regex automaton size, not linearly with the number of rules.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod cilium;
mod compile;
pub mod dns;
pub mod fqdn;
pub mod kafka;
pub mod model;
mod request;
mod selector;
mod verdict;

pub use cilium::ParseError;
pub use compile::{CompileError, CompiledPolicy, check_regex};
pub use request::{
    ConnMeta, Direction, GrpcCall, Headers, HttpRequest, Identity, KafkaRequest, L4Protocol,
    Labels, NoHeaders, join_values,
};
pub use selector::NAMESPACE_LABEL;
pub use verdict::{ConnVerdict, HeaderAction, L7Kind, RuleId, Verdict};
