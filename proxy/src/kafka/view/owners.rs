//! The consumer groups and transactional ids a request acts for: what decides whether its
//! denial is a group or a transactional-id authorization failure, and what rules on them read.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::COORDINATOR_TRANSACTION;

#[derive(Default)]
pub(super) struct Owners {
    pub groups: Vec<StrBytes>,
    pub transactional_ids: Vec<StrBytes>,
}

impl Owners {
    fn group(&mut self, id: &StrBytes) {
        if !self.groups.contains(id) {
            self.groups.push(id.clone());
        }
    }

    fn txn(&mut self, id: &StrBytes) {
        if !self.transactional_ids.contains(id) {
            self.transactional_ids.push(id.clone());
        }
    }
}

pub(super) fn of(body: &RequestKind) -> Owners {
    let mut o = Owners::default();
    match body {
        RequestKind::Produce(r) => r.transactional_id.iter().for_each(|x| o.txn(x)),
        RequestKind::OffsetCommit(r) => o.group(&r.group_id),
        RequestKind::OffsetFetch(r) => {
            if r.groups.is_empty() {
                o.group(&r.group_id);
            }
            r.groups.iter().for_each(|g| o.group(&g.group_id));
        }
        RequestKind::OffsetDelete(r) => o.group(&r.group_id),
        RequestKind::FindCoordinator(r) => find_coordinator(r, &mut o),
        RequestKind::JoinGroup(r) => o.group(&r.group_id),
        RequestKind::SyncGroup(r) => o.group(&r.group_id),
        RequestKind::Heartbeat(r) => o.group(&r.group_id),
        RequestKind::LeaveGroup(r) => o.group(&r.group_id),
        RequestKind::DescribeGroups(r) => r.groups.iter().for_each(|g| o.group(g)),
        RequestKind::DeleteGroups(r) => r.groups_names.iter().for_each(|g| o.group(g)),
        RequestKind::ConsumerGroupHeartbeat(r) => o.group(&r.group_id),
        RequestKind::ConsumerGroupDescribe(r) => r.group_ids.iter().for_each(|g| o.group(g)),
        RequestKind::ShareGroupHeartbeat(r) => o.group(&r.group_id),
        RequestKind::ShareGroupDescribe(r) => r.group_ids.iter().for_each(|g| o.group(g)),
        RequestKind::ShareFetch(r) => r.group_id.iter().for_each(|g| o.group(g)),
        RequestKind::ShareAcknowledge(r) => r.group_id.iter().for_each(|g| o.group(g)),
        RequestKind::DescribeShareGroupOffsets(r) => {
            r.groups.iter().for_each(|g| o.group(&g.group_id))
        }
        RequestKind::AlterShareGroupOffsets(r) => o.group(&r.group_id),
        RequestKind::DeleteShareGroupOffsets(r) => o.group(&r.group_id),
        RequestKind::InitProducerId(r) => r.transactional_id.iter().for_each(|x| o.txn(x)),
        RequestKind::AddPartitionsToTxn(r) => {
            if r.transactions.is_empty() {
                o.txn(&r.v3_and_below_transactional_id);
            }
            r.transactions
                .iter()
                .for_each(|x| o.txn(&x.transactional_id));
        }
        RequestKind::AddOffsetsToTxn(r) => {
            o.txn(&r.transactional_id);
            o.group(&r.group_id);
        }
        RequestKind::EndTxn(r) => o.txn(&r.transactional_id),
        RequestKind::TxnOffsetCommit(r) => {
            o.txn(&r.transactional_id);
            o.group(&r.group_id);
        }
        RequestKind::DescribeTransactions(r) => r.transactional_ids.iter().for_each(|x| o.txn(x)),
        _ => {}
    }
    o
}

/// v0-3: one key; v4+: `coordinator_keys`. Key type 0 is a group, 1 a transactional id, 2 a
/// share group.
fn find_coordinator(r: &FindCoordinatorRequest, o: &mut Owners) {
    let keys = std::iter::once(&r.key)
        .filter(|k| !k.is_empty() || r.coordinator_keys.is_empty())
        .chain(&r.coordinator_keys);
    for key in keys {
        if r.key_type == COORDINATOR_TRANSACTION {
            o.txn(key);
        } else {
            o.group(key);
        }
    }
}
