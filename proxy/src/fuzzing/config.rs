//! The configuration targets: policy files and xDS resources.

use sockmesh_policy::{CompiledPolicy, HttpRequest, Labels, NoHeaders};

use super::{conn, web_labels};

/// `cilium_policy`: a policy file (UTF-8) as the sidecar loads one: parsed, every error
/// formatted, compiled for a workload `app=web`, and a connection and a request checked.
pub fn cilium_policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let policies = match sockmesh_policy::cilium::parse_documents("fuzz.yaml", text) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors {
                let _ = e.to_string();
            }
            return;
        }
    };
    let compiled = match CompiledPolicy::compile(&policies, &web_labels()) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = compiled.check_connection(&conn());
    let request = HttpRequest {
        method: "GET",
        path: "/public/index.html",
        host: Some("web.shop"),
        headers: &NoHeaders,
        grpc: None,
    };
    let _ = compiled.check_http(&conn(), &request);
}

/// `xds_resources`: a resource payload as the xDS client receives one inside an `Any`, decoded
/// as the type the response is for and converted (policies compiled too). Byte 0 picks the type
/// (modulo 5: Cluster, ClusterLoadAssignment, Listener, Secret, NetworkPolicy, the client's
/// subscription order) and, in its next bit (`(byte / 5) % 2`), the workload labels the policy
/// is compiled for (none, or `app=web`); the rest is the protobuf payload.
pub fn xds_resources(data: &[u8]) {
    use sockmesh_xds::types::ResourceType;
    let Some((&control, payload)) = data.split_first() else {
        return;
    };
    let types = ResourceType::SIDECAR;
    let ty = types[usize::from(control) % types.len()];
    let labels = if (usize::from(control) / types.len()).is_multiple_of(2) {
        Labels::default()
    } else {
        web_labels()
    };
    // The `Any` type of the envoy-types crate, which this crate does not name: built by the
    // function the control plane packs resources with, then given the fuzzed type and payload.
    let mut any = sockmesh_xds::proto::any_of(&sockmesh_xds::proto::NetworkPolicy::default());
    any.type_url = ty.url().to_owned();
    any.value = payload.to_vec();
    match sockmesh_xds::convert::decode_resource(ty, &any, &labels) {
        Ok((name, converted)) => {
            let _ = (name, format!("{converted:?}"));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
