//! How a header condition of an L7 rule (`headers`, `headerMatches` without `mismatch`) is met.
//!
//! Allow rules see a header as Envoy does: its values joined with `,`, which must equal the
//! wanted value. Deny rules must not be sidestepped by repeating a field or listing values, so
//! they also match any single field value and any member of a comma-separated list.

use crate::request::Headers;

/// Which view of a request's headers a side's rules match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderMatching {
    /// Allow rules: the joined value ([`Headers::get`]) must equal the wanted value; a header
    /// with a non-text value does not match.
    Joined,
    /// Deny rules: the joined value, any field value, or any comma-separated member of a value
    /// (trimmed of spaces and tabs) equal to the wanted value matches. A non-text value matches
    /// too: it cannot be shown to differ, and a deny rule fails closed.
    AnyValue,
}

impl HeaderMatching {
    /// Whether header `name` meets the condition `want` (`None`: present at all).
    pub(crate) fn matches(self, headers: &dyn Headers, name: &str, want: Option<&str>) -> bool {
        let any_value = self == HeaderMatching::AnyValue;
        let Some(want) = want else {
            return if any_value {
                headers.any_value(name, &mut |_| true)
            } else {
                headers.get(name).is_some()
            };
        };
        headers.get(name).is_some_and(|v| v == want)
            || (any_value
                && headers.any_value(name, &mut |v| v.is_none_or(|v| has_member(v, want))))
    }
}

/// Whether `value`, or one of its comma-separated members (RFC 9110 list syntax, optional
/// whitespace trimmed), equals `want`.
fn has_member(value: &str, want: &str) -> bool {
    value == want
        || value
            .split(',')
            .any(|m| m.trim_matches([' ', '\t']) == want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_trimmed_list_elements() {
        assert!(has_member("yes", "yes"));
        assert!(has_member("no, yes", "yes"));
        assert!(has_member("no,\tyes ,x", "yes"));
        assert!(has_member("a, b", "a, b"));
        assert!(!has_member("yess, no", "yes"));
    }

    #[test]
    fn any_value_matches_each_field_and_the_joined_value() {
        let h: &[(&str, &str)] = &[("x-e", "a"), ("x-e", "b, c")];
        let m = |w| HeaderMatching::AnyValue.matches(&h, "x-e", Some(w));
        assert!(m("a") && m("b") && m("c") && m("b, c") && m("a,b, c"));
        assert!(!m("d"));
        assert!(!HeaderMatching::Joined.matches(&h, "x-e", Some("a")));
        assert!(HeaderMatching::Joined.matches(&h, "x-e", Some("a,b, c")));
    }
}
