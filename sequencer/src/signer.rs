//! The log thread's signer: signs closed mini-blocks in order, chaining each to the
//! previous one's hash ([`crate::record::sign_mini_block`]).
//!
//! It runs on the log thread, off the sequencer core, which then writes the batch it
//! signed to the write-ahead log and only then publishes it (sync-send callers,
//! subscribers) and passes it on to the chain service. The sequencer loop never waits for
//! a signature: the bounded channel to the log thread is the only coupling.

use crate::{
    block::ChainEvent,
    feed::Feed,
    record::{SignedMiniBlock, ViewSlot, sign_mini_block},
    view::{ViewBuilder, ViewSeed},
};
use alloy_primitives::B256;
use peregrine_preconf::SequencerKey;
use std::sync::Arc;

/// What the signer hands to the chain service, in the loop's order.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "moved a few times per mini-block; boxing would add an allocation per event"
)]
pub(crate) enum Signed {
    /// A signed mini-block.
    MiniBlock(Arc<SignedMiniBlock>),
    /// Anything else from the loop, passed through.
    Event(ChainEvent),
}

/// Signs closed mini-blocks in order, chaining each to the previous one's hash. Runs on
/// the log thread ([`crate::wal::service`]), which writes each batch it signed and then
/// publishes it: one thread, one hand-off fewer between the loop and the client.
pub(crate) struct Signer {
    pub(crate) key: SequencerKey,
    pub(crate) chain_id: u64,
    pub(crate) parent: B256,
    pub(crate) feed: Arc<Feed>,
    /// The open block's transaction and receipt tries, for its views.
    pub(crate) views: ViewBuilder,
}

impl Signer {
    /// Fills the view slot of `signed` ([`crate::view`]): called in order for every
    /// mini-block, after it is published.
    pub(crate) fn fill_view(&mut self, signed: &SignedMiniBlock) {
        let mini = &signed.mini;
        let parts = self.views.push(
            mini.block.number,
            mini.txs.iter().map(|t| (&t.envelope, &t.receipt)),
        );
        signed.record.view.set(ViewSeed {
            ctx: mini.block,
            parts,
        });
    }

    /// Signs a mini-block; tells sync-send callers about queued and dropped transactions
    /// at once (those are not promises: nothing to make durable); passes the rest on.
    pub(crate) fn sign(&mut self, event: ChainEvent) -> Signed {
        match event {
            ChainEvent::MiniBlock(mini) => {
                let mut record = sign_mini_block(&self.key, self.chain_id, self.parent, &mini);
                record.view = ViewSlot::expecting();
                let record = Arc::new(record);
                self.parent = record.hash;
                // Published once its record is written.
                Signed::MiniBlock(Arc::new(SignedMiniBlock { mini, record }))
            }
            ChainEvent::Queued {
                hash,
                missing_nonce,
            } => {
                self.feed.queued(&hash, missing_nonce);
                Signed::Event(ChainEvent::Queued {
                    hash,
                    missing_nonce,
                })
            }
            ChainEvent::Dropped {
                hash,
                parties,
                reason,
            } => {
                self.feed.dropped(&hash, parties, &reason);
                Signed::Event(ChainEvent::Dropped {
                    hash,
                    parties,
                    reason,
                })
            }
            other => Signed::Event(other),
        }
    }
}
