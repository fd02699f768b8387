//! A WebSocket connection's transactions reach the sequencer in the order it sent them.
//!
//! jsonrpsee runs each message of a connection on its own task, so a client that
//! pipelines a sender's nonces over one socket (as bots, market makers and batch scripts
//! do) had them pushed into the ring in whatever order those tasks ran: gaps, the gap
//! queue, and drops. Our patched jsonrpsee-server (`vendor/jsonrpsee-server/PATCH.md`)
//! numbers each message as it arrives ([`MessageTicket`]). The send methods decode and
//! recover the sender in parallel as before, then wait for their [`MessageTicket::turn`]
//! (every earlier message of the connection released), push, and release
//! ([`in_arrival_order`]). The [`ArrivalOrder`] middleware releases every other call at
//! once, so a slow `eth_call` never holds up the sends behind it; a batch that contains
//! a send takes its turn as a whole (jsonrpsee runs a batch's calls one after another).
//! HTTP requests carry no ticket and are not held.

use futures_util::future::Either;
use jsonrpsee::{
    Extensions,
    server::{
        middleware::rpc::{Batch, BatchEntry, Notification, Request, RpcServiceT},
        order::MessageTicket,
    },
};
use std::future::Future;

/// Methods that push into the sequencer and so take their turn.
const SEND_METHODS: [&str; 2] = ["eth_sendRawTransaction", "eth_sendRawTransactionSync"];

fn is_send(method: &str) -> bool {
    SEND_METHODS.contains(&method)
}

/// Runs `push` once every earlier message of the caller's connection has released its
/// ticket, then releases this one (at once for calls without a ticket: HTTP, batches).
pub(crate) async fn in_arrival_order<T>(ext: &Extensions, push: impl FnOnce() -> T) -> T {
    let Some(ticket) = ext.get::<MessageTicket>() else {
        return push();
    };
    ticket.turn().await;
    let out = push();
    ticket.release();
    out
}

/// Lets the messages after the caller's take their turn without it pushing anything (a
/// send that failed before its push).
pub(crate) fn pass_turn(ext: &Extensions) {
    if let Some(ticket) = ext.get::<MessageTicket>() {
        ticket.release();
    }
}

/// RPC middleware: releases the ticket of every call that does not push a transaction.
#[derive(Debug, Clone)]
pub(crate) struct ArrivalOrder<S> {
    pub(crate) service: S,
}

impl<S> RpcServiceT for ArrivalOrder<S>
where
    S: RpcServiceT + Clone + Send + Sync + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        if !is_send(req.method_name())
            && let Some(ticket) = req.extensions().get::<MessageTicket>()
        {
            ticket.release();
        }
        self.service.call(req)
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        // Every entry carries a clone of the message's one ticket: take them out, so that
        // the batch's sends do not release it half-way, and hold it for the whole batch.
        let mut ticket = None;
        let mut sends = false;
        for entry in batch.iter_mut() {
            let ext = match entry {
                Ok(BatchEntry::Call(req)) => {
                    sends |= is_send(req.method_name());
                    req.extensions_mut()
                }
                Ok(BatchEntry::Notification(n)) => n.extensions_mut(),
                Err(_) => continue,
            };
            ticket = ext.remove::<MessageTicket>().or(ticket);
        }
        let ticket = match ticket {
            Some(ticket) if sends => ticket,
            other => {
                if let Some(t) = other {
                    t.release();
                }
                return Either::Left(self.service.batch(batch));
            }
        };
        let service = self.service.clone();
        Either::Right(async move {
            ticket.turn().await;
            let out = service.batch(batch).await;
            ticket.release();
            out
        })
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        if let Some(ticket) = n.extensions().get::<MessageTicket>() {
            ticket.release();
        }
        self.service.notification(n)
    }
}
