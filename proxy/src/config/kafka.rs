//! `kafka` in the config file: how much of a Kafka client's stream the proxy holds.
//!
//! The default request bound is Kafka's own `socket.request.max.bytes` (100 MiB): a request the
//! broker would take, the proxy takes too, and one it would refuse is refused before it is
//! buffered.

use serde::{Deserialize, Serialize};

use crate::kafka::DEFAULT_MAX_FRAME;

/// The Kafka path's settings, as the data path uses them (and `/config_dump` shows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSettings {
    /// The largest request frame read (and the largest response read whole: ApiVersions,
    /// Metadata), in bytes.
    pub max_request_bytes: usize,
    /// Whether a Metadata response for every topic lists only the topics this workload's rules
    /// let it touch (where rules on the port name topics), so a denied topic is not even
    /// discoverable.
    pub filter_metadata: bool,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            max_request_bytes: DEFAULT_MAX_FRAME,
            filter_metadata: true,
        }
    }
}

/// The file's form: every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct KafkaFile {
    pub max_request_bytes: Option<usize>,
    pub filter_metadata: Option<bool>,
}

impl KafkaFile {
    /// The settings, or what is wrong with them.
    pub fn settings(&self) -> Result<KafkaSettings, String> {
        let d = KafkaSettings::default();
        let s = KafkaSettings {
            max_request_bytes: self.max_request_bytes.unwrap_or(d.max_request_bytes),
            filter_metadata: self.filter_metadata.unwrap_or(d.filter_metadata),
        };
        // Below a request header's size no request fits; above i32::MAX no length prefix can say it.
        if s.max_request_bytes < 64 || s.max_request_bytes > i32::MAX as usize {
            return Err(format!(
                "kafka.maxRequestBytes must be between 64 and {}, got {}",
                i32::MAX,
                s.max_request_bytes
            ));
        }
        Ok(s)
    }
}
