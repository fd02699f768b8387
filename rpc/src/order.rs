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

/// Like [`in_arrival_order`], for a push that is itself a future (a replica forwarding a
/// write): the future is polled once in the caller's turn, which hands a forwarded
/// request to the client's queue in order, and then awaited outside it.
pub(crate) async fn in_arrival_order_async<F: Future>(
    ext: &Extensions,
    push: impl FnOnce() -> F,
) -> F::Output {
    let Some(ticket) = ext.get::<MessageTicket>() else {
        return push().await;
    };
    ticket.turn().await;
    let mut fut = std::pin::pin!(push());
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
    ticket.release();
    match first {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => fut.await,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use jsonrpsee::{server::order::ConnectionOrder, types::Id};
    use serde_json::{json, value::to_raw_value};
    use std::{
        pin::pin,
        sync::{Arc, Mutex},
        task::{Context, Waker},
    };

    /// Whether `ticket`'s turn has come, without waiting.
    fn turn_now(ticket: &MessageTicket) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        pin!(ticket.turn()).poll(&mut cx).is_ready()
    }

    fn request(method: &str, ticket: &MessageTicket) -> Request<'static> {
        let mut req = Request::owned(
            method.to_owned(),
            Some(to_raw_value(&json!([])).unwrap()),
            Id::Number(1),
        );
        req.extensions_mut().insert(ticket.clone());
        req
    }

    /// The service behind the middleware: records the methods that reach it.
    #[derive(Clone, Default)]
    struct Recording(Arc<Mutex<Vec<String>>>);

    impl RpcServiceT for Recording {
        type MethodResponse = ();
        type NotificationResponse = ();
        type BatchResponse = ();

        fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = ()> + Send + 'a {
            self.0.lock().unwrap().push(req.method_name().to_owned());
            std::future::ready(())
        }

        fn batch<'a>(&self, _: Batch<'a>) -> impl Future<Output = ()> + Send + 'a {
            self.0.lock().unwrap().push("batch".into());
            std::future::ready(())
        }

        fn notification<'a>(&self, _: Notification<'a>) -> impl Future<Output = ()> + Send + 'a {
            std::future::ready(())
        }
    }

    #[test]
    fn a_turn_comes_once_every_earlier_message_released_in_any_order() {
        let order = Arc::new(ConnectionOrder::default());
        let t: Vec<_> = (0..4).map(|_| order.next_ticket()).collect();
        assert!(turn_now(&t[0]));
        assert!(!turn_now(&t[3]));
        t[2].release();
        t[1].release();
        assert!(!turn_now(&t[3]), "message 0 has not released");
        t[0].release();
        assert!(turn_now(&t[3]));
    }

    #[test]
    fn a_message_dropped_without_releasing_releases() {
        let order = Arc::new(ConnectionOrder::default());
        let (first, second) = (order.next_ticket(), order.next_ticket());
        let clone = first.clone();
        drop(first);
        assert!(!turn_now(&second), "a clone still holds the turn");
        drop(clone);
        assert!(turn_now(&second));
    }

    #[tokio::test]
    async fn calls_other_than_sends_release_at_once_sends_keep_their_turn() {
        let order = Arc::new(ConnectionOrder::default());
        let (call, send, after) = (
            order.next_ticket(),
            order.next_ticket(),
            order.next_ticket(),
        );
        let service = ArrivalOrder {
            service: Recording::default(),
        };
        service.call(request("eth_call", &call)).await;
        assert!(turn_now(&send), "eth_call released its turn");
        service.call(request("eth_sendRawTransaction", &send)).await;
        assert!(!turn_now(&after), "the send releases only after its push");
        let pushed = in_arrival_order(request("x", &send).extensions(), || 7).await;
        assert_eq!(pushed, 7);
        assert!(turn_now(&after));
    }

    #[tokio::test]
    async fn a_batch_with_a_send_takes_its_turn_as_a_whole() {
        let order = Arc::new(ConnectionOrder::default());
        let (before, batched, after) = (
            order.next_ticket(),
            order.next_ticket(),
            order.next_ticket(),
        );
        let reached = Recording::default();
        let service = ArrivalOrder {
            service: reached.clone(),
        };
        let mut batch = Batch::new();
        batch.push(request("eth_sendRawTransaction", &batched));
        batch.push(request("eth_chainId", &batched));
        let held = tokio::spawn(service.batch(batch));
        tokio::task::yield_now().await;
        assert!(reached.0.lock().unwrap().is_empty(), "ran before message 0");
        before.release();
        held.await.unwrap();
        assert_eq!(*reached.0.lock().unwrap(), ["batch"]);
        assert!(turn_now(&after));
    }
}
