//! The connection-level frames from the client: SETTINGS, PING, RST_STREAM and WINDOW_UPDATE
//! (RFC 9113 sections 6.4, 6.5, 6.7 and 6.9).

use tokio::time::Instant;

use super::{Conn, ConnError, DRAIN_PING, protocol};
use crate::http::h2codec::Reason;
use crate::http::h2codec::frame;
use crate::http::h2fast::shared::{Recv, lock};

impl<I> Conn<I> {
    /// The second GOAWAY of a graceful close: streams up to the last one opened finish, later
    /// ones are refused. Also when the client never answers the PING (called after the drain
    /// grace).
    pub fn final_goaway(&mut self) {
        if !self.going_away {
            self.going_away = true;
            frame::put_goaway(
                &mut lock(&self.shared).out,
                self.last_stream,
                Reason::NO_ERROR,
                b"",
            );
        }
    }

    /// RST_STREAM: the client ends a stream; counted towards the rapid-reset allowance.
    pub(super) fn reset_frame(&mut self, stream: u32, reason: u32) -> Result<(), ConnError> {
        if stream > self.last_stream {
            return Err(protocol(
                Reason::PROTOCOL_ERROR,
                "RST_STREAM on an idle stream",
            ));
        }
        let mut sh = lock(&self.shared);
        let open = sh.streams.contains_key(&stream);
        if open {
            sh.recv_closed(stream, Recv::Reset(Reason(reason)));
        }
        drop(sh);
        if open {
            self.count_reset()?;
        }
        Ok(())
    }

    /// PING: answered; the answer to our keep-alive PING moves the next one, the answer to the
    /// one after a first GOAWAY brings the final GOAWAY.
    pub(super) fn ping(&mut self, ack: bool, payload: [u8; 8]) {
        if !ack {
            frame::put_ping(&mut lock(&self.shared).out, true, payload);
        } else if payload == DRAIN_PING && self.draining {
            self.final_goaway();
        } else if self.ping_sent {
            self.ping_sent = false;
            let next = Instant::now() + self.settings.keepalive;
            self.ping.set(next);
        }
    }

    /// WINDOW_UPDATE: more send window for a stream or the connection.
    pub(super) fn window_update(&mut self, stream: u32, increment: u32) -> Result<(), ConnError> {
        if stream > self.last_stream {
            return Err(protocol(
                Reason::PROTOCOL_ERROR,
                "WINDOW_UPDATE on an idle stream",
            ));
        }
        if lock(&self.shared).window_update(stream, increment).is_err() {
            if stream == 0 {
                return Err(protocol(
                    Reason::FLOW_CONTROL_ERROR,
                    "connection window over 2^31-1",
                ));
            }
            self.stream_error(stream, Reason::FLOW_CONTROL_ERROR)?;
        }
        Ok(())
    }

    /// SETTINGS: applied and acknowledged.
    pub(super) fn settings(&mut self, params: &[u8]) -> Result<(), ConnError> {
        let mut sh = lock(&self.shared);
        for p in params.chunks_exact(6) {
            let id = u16::from_be_bytes([p[0], p[1]]);
            let value = u32::from_be_bytes([p[2], p[3], p[4], p[5]]);
            match id {
                0x1 => sh.encoder.table_size_changed(),
                0x2 if value > 1 => {
                    return Err(protocol(
                        Reason::PROTOCOL_ERROR,
                        "SETTINGS_ENABLE_PUSH not 0 or 1",
                    ));
                }
                0x4 => sh.set_init_send(value).map_err(|()| {
                    protocol(
                        Reason::FLOW_CONTROL_ERROR,
                        "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1",
                    )
                })?,
                0x5 => {
                    if !(16_384..=16_777_215).contains(&value) {
                        return Err(protocol(
                            Reason::PROTOCOL_ERROR,
                            "SETTINGS_MAX_FRAME_SIZE out of range",
                        ));
                    }
                    sh.max_frame = value as usize;
                }
                // The others concern what we send (we push nothing) or are unknown: ignored.
                _ => {}
            }
        }
        frame::put_head(&mut sh.out, 0, frame::SETTINGS, frame::ACK, 0);
        Ok(())
    }
}
