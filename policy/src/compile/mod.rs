//! Compilation of the selected policies into per-direction indexes, and the decisions made on them.
//!
//! Decision order is fixed (see the crate docs): deny entries first, then allow entries, then the
//! direction's default. Inside each, the first matching rule in decision order names the verdict;
//! the indexes only find candidates, the order decides.

mod bits;
mod check;
mod cidr;
mod describe;
mod dns;
mod entry;
mod field;
mod group;
mod header;
mod kafka;
mod l7;
mod owners;
mod ports;
mod regexes;
mod side;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use crate::fqdn::Learned;
use crate::model::Policy;
use crate::request::{Direction, Labels};
use crate::selector::selects;
use crate::verdict::RuleId;

use side::Side;

pub use field::check_regex;

/// Why a set of policies cannot be enforced. Each variant names the policy, the rule and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error(
        "policy `{policy}`: invalid regex in `{field}` of {rule}: {message}\n  help: regexes are \
         full-match (anchored at both ends); escape metacharacters such as `.` with `\\`"
    )]
    InvalidRegex {
        policy: String,
        rule: String,
        field: &'static str,
        message: String,
    },
    #[error("policy `{policy}`: `{field}` in {rule} is not supported yet: {reason}")]
    Unsupported {
        policy: String,
        rule: String,
        field: &'static str,
        reason: String,
    },
    #[error("policy `{policy}`: invalid `{field}` in {rule}: {message}")]
    Invalid {
        policy: String,
        rule: String,
        field: &'static str,
        message: String,
    },
    #[error(
        "policy `{policy}` is given twice\n  help: policy names (namespace/name) must be unique \
         across all files, since verdicts name rules by them"
    )]
    DuplicatePolicy { policy: String },
    #[error(
        "the {direction} rules on one port compile to regexes that are too large ({message})\n  \
         help: use fewer or simpler regexes (literal paths cost nothing), or split the port"
    )]
    TooLarge {
        direction: Direction,
        message: String,
    },
}

#[derive(Debug)]
struct DirIndex {
    allow: Side,
    deny: Side,
    default_allowed: bool,
    default_id: RuleId,
}

/// The policies selecting one workload, compiled for fast decisions. `Send + Sync`, immutable:
/// the proxy shares it behind an `ArcSwap` and replaces it whole on reload.
pub struct CompiledPolicy {
    ingress: DirIndex,
    egress: DirIndex,
    rule_count: usize,
    /// Selected policies (name, specs), for [`CompiledPolicy::describe`].
    selected: Vec<(String, usize)>,
    /// What DNS answers taught about `toFQDNs` names (shared across reloads).
    learned: Arc<Learned>,
    /// Whether any rule has a `toFQDNs` selector (the DNS path learns only then).
    has_fqdn: bool,
}

impl Default for CompiledPolicy {
    /// Same as [`CompiledPolicy::allow_all`].
    fn default() -> Self {
        CompiledPolicy::allow_all()
    }
}

impl fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledPolicy")
            .field("rule_count", &self.rule_count)
            .field("ingress_default_allowed", &self.ingress.default_allowed)
            .field("egress_default_allowed", &self.egress.default_allowed)
            .finish_non_exhaustive()
    }
}

impl CompiledPolicy {
    /// Selects the policies (and specs) that apply to `workload` and compiles them. Takes
    /// `Policy` values or shared ones (`Arc<Policy>`), so callers holding models need no copy.
    pub fn compile<P: std::borrow::Borrow<Policy>>(
        policies: &[P],
        workload: &Labels,
    ) -> Result<CompiledPolicy, CompileError> {
        CompiledPolicy::compile_with(policies, workload, Arc::new(Learned::default()))
    }

    /// [`CompiledPolicy::compile`] with the table `toFQDNs` selectors read: the one the DNS
    /// path fills, so that what was learned outlives a reload.
    pub fn compile_with<P: std::borrow::Borrow<Policy>>(
        policies: &[P],
        workload: &Labels,
        learned: Arc<Learned>,
    ) -> Result<CompiledPolicy, CompileError> {
        let policies: Vec<&Policy> = policies.iter().map(|p| p.borrow()).collect();
        let mut names = std::collections::HashSet::new();
        for p in &policies {
            if !names.insert(p.qualified_name()) {
                return Err(CompileError::DuplicatePolicy {
                    policy: p.qualified_name(),
                });
            }
        }
        let selected: Vec<(&Policy, Vec<&crate::model::Spec>)> = policies
            .iter()
            .map(|&p| {
                let specs = p
                    .specs
                    .iter()
                    .filter(|s| selects(p, &s.endpoint_selector, workload))
                    .collect::<Vec<_>>();
                (p, specs)
            })
            .filter(|(_, specs)| !specs.is_empty())
            .collect();
        let build = |direction: Direction| -> Result<DirIndex, CompileError> {
            let allow = entry::flatten(&selected, direction, false)?;
            let deny = entry::flatten(&selected, direction, true)?;
            let any_selects = selected.iter().any(|(_, specs)| {
                specs
                    .iter()
                    .any(|s| s.allow(direction).is_some() || s.deny(direction).is_some())
            });
            let default_deny = selected
                .iter()
                .any(|(_, specs)| specs.iter().any(|s| s.default_deny(direction)));
            let default_id = if default_deny {
                RuleId::default_deny(direction)
            } else if any_selects {
                RuleId::default_allow(direction, "enableDefaultDeny is false")
            } else {
                RuleId::default_allow(
                    direction,
                    &format!("no policy selects this workload for {direction}"),
                )
            };
            Ok(DirIndex {
                allow: Side::build(allow, direction, false)?,
                deny: Side::build(deny, direction, true)?,
                default_allowed: !default_deny,
                default_id,
            })
        };
        let ingress = build(Direction::Ingress)?;
        let egress = build(Direction::Egress)?;
        let rule_count = [&ingress, &egress]
            .iter()
            .flat_map(|d| d.allow.entries.iter().chain(&d.deny.entries))
            .map(|e| e.l7.as_ref().map_or(1, |l| l.len()))
            .sum();
        let has_fqdn = [&ingress, &egress]
            .iter()
            .flat_map(|d| d.allow.entries.iter().chain(&d.deny.entries))
            .any(|e| !e.fqdns.is_empty());
        Ok(CompiledPolicy {
            ingress,
            egress,
            rule_count,
            selected: describe::summarize(&selected),
            learned,
            has_fqdn,
        })
    }

    /// The decision set when no policy selects the workload: everything allowed, each verdict
    /// naming `default-allow`. Handy before the first policy load.
    pub fn allow_all() -> CompiledPolicy {
        let dir = |direction: Direction| DirIndex {
            allow: Side::empty(false),
            deny: Side::empty(true),
            default_allowed: true,
            default_id: RuleId::default_allow(
                direction,
                &format!("no policy selects this workload for {direction}"),
            ),
        };
        let (ingress, egress) = (dir(Direction::Ingress), dir(Direction::Egress));
        CompiledPolicy {
            ingress,
            egress,
            rule_count: 0,
            selected: Vec::new(),
            learned: Arc::new(Learned::default()),
            has_fqdn: false,
        }
    }

    fn dir(&self, direction: Direction) -> &DirIndex {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// Whether a rule has a `toFQDNs` selector: only then must the DNS path learn addresses.
    pub fn has_fqdn(&self) -> bool {
        self.has_fqdn
    }

    /// The table `toFQDNs` selectors read.
    pub fn learned(&self) -> &Arc<Learned> {
        &self.learned
    }

    /// Number of rules that can decide a verdict: L4-only port entries plus L7 rules, both
    /// directions, allow and deny (defaults not counted).
    pub fn rule_count(&self) -> usize {
        self.rule_count
    }

    /// The effective compiled rules, for the admin `/policy` endpoint.
    pub fn describe(&self) -> serde_json::Value {
        describe::describe(&self.selected, [&self.ingress, &self.egress])
    }
}
