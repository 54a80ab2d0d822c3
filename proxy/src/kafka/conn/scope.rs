//! Which cluster a connection's topic ids belong to.
//!
//! In explicit mode a Kafka listener fronts one cluster (its bootstrap brokers, and the broker
//! listeners it opens), so its ids are kept under the listener's name. Under interception one
//! listener carries the app's connections to every Kafka server its rules let it reach, and any
//! of them can answer Metadata: a server the app controls could say that the id of a topic on
//! the real cluster is `orders`, and a Produce or Fetch by that id would then be judged as
//! `orders`. So there ids are kept per destination (the original address), and learned only
//! from that server's own answers.
//!
//! A cluster of several brokers then knows, at each broker, only the ids that broker named,
//! where a client asks one broker for metadata and fetches from another. So under interception
//! ApiVersions offers Produce and Fetch only up to v12, the last versions that name topics
//! (v13 names them by id alone): clients then name their topics, and ids remain for the few
//! requests that may carry either (Metadata, DeleteTopics) or only ids (the share-group keys),
//! answered UNKNOWN_TOPIC_ID where that broker never named the id.

use std::net::SocketAddr;

use crate::conn::ConnCtx;
use crate::upstream::Target;

/// What a connection's ids are kept under, and why.
#[derive(Debug, Clone)]
pub(super) struct IdScope {
    /// The connection goes to its original destination (interception), not to a cluster the
    /// sidecar was told of.
    pub intercepted: bool,
    /// The key of its ids in [`crate::kafka::topic_ids::TopicIds`].
    pub cluster: String,
}

impl IdScope {
    pub fn of(ctx: &ConnCtx, endpoint: SocketAddr) -> IdScope {
        let brokers = &ctx.shared.kafka_brokers;
        let intercepted = matches!(ctx.target, Target::Original(..))
            && brokers.upstream(&ctx.listener.name).is_none();
        let cluster = if intercepted {
            format!("{}@{endpoint}", ctx.listener.name)
        } else {
            brokers.base(&ctx.listener).name.clone()
        };
        IdScope {
            intercepted,
            cluster,
        }
    }
}
