//! What can be wrong with the bytes a Kafka client sends, as one typed error.
//!
//! Every reader in the codec returns this instead of panicking; the connection path turns any of
//! them into closing the connection (a Kafka client has no way to be told "your frame was bad":
//! the broker closes too). Where the correlation id was read before the fault, it is kept, so a
//! log line can name the request.

/// Why the codec could not read a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KafkaError {
    /// The length prefix is below zero.
    #[error("frame length {0} is negative")]
    NegativeLength(i32),
    /// The length prefix is over the configured maximum (`socket.request.max.bytes`).
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    FrameTooLarge { len: usize, max: usize },
    /// The stream ended inside a frame.
    #[error("stream ended {missing} bytes short of a whole frame")]
    Truncated { missing: usize },
    /// The frame ended inside the request header.
    #[error("request header cut short: {0}")]
    Header(&'static str),
    /// An API key kafka-protocol does not know.
    #[error("unknown API key {api_key} (correlation id {correlation_id})")]
    UnknownApiKey { api_key: i16, correlation_id: i32 },
    /// A version of a known key that kafka-protocol does not read.
    #[error(
        "API key {api_key} version {api_version} is not supported (correlation id {correlation_id})"
    )]
    UnsupportedVersion {
        api_key: i16,
        api_version: i16,
        correlation_id: i32,
    },
    /// The body does not decode as its key and version say.
    #[error("API key {api_key} v{api_version} body: {reason}")]
    Body {
        api_key: i16,
        api_version: i16,
        reason: String,
    },
    /// A denial response could not be encoded (a bug: the test over every key and version says
    /// it does not happen).
    #[error("cannot encode the response to API key {api_key} v{api_version}: {reason}")]
    Encode {
        api_key: i16,
        api_version: i16,
        reason: String,
    },
}
