//! `eth_unsubscribe` right after `eth_subscribe` answers `true`.
//!
//! jsonrpsee 0.26's `PendingSubscriptionSink::accept` queues the `eth_subscribe` answer
//! *before* it registers the subscription for `eth_unsubscribe`. A client that unsubscribes
//! the moment the answer arrives can overtake that registration, and is then told `false`
//! while the subscription goes on (336 of 20 000 back-to-back pairs on a busy 2-core
//! machine). So each subscription's id is noted before `accept` and forgotten once it
//! returns ([`Accepting::accept`]), and the [`UnsubscribeAfterAccept`] middleware holds an
//! `eth_unsubscribe` for a noted id until then (at most [`MAX_WAIT`]) before jsonrpsee looks
//! the id up. Every other call goes straight through.

use futures_util::future::Either;
use jsonrpsee::{
    PendingSubscriptionSink, SubscriptionSink,
    core::server::PendingSubscriptionAcceptError,
    server::middleware::rpc::{Batch, BatchEntry, Notification, Request, RpcServiceT},
    types::SubscriptionId,
};
use serde_json::Value;
use std::{
    collections::HashSet,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};
use tokio::sync::Notify;

/// The method whose calls may wait.
const UNSUBSCRIBE: &str = "eth_unsubscribe";

/// Longest an `eth_unsubscribe` waits for its subscription's `accept` (which itself only
/// waits for room in the connection's buffer).
const MAX_WAIT: Duration = Duration::from_secs(2);

/// Subscription ids whose `eth_subscribe` answer may be out while `eth_unsubscribe` cannot
/// find them yet.
#[derive(Debug, Default)]
pub(crate) struct Accepting {
    ids: Mutex<HashSet<String>>,
    accepted: Notify,
}

/// While alive, `eth_unsubscribe` for its id waits; dropped when `accept` returns.
#[derive(Debug)]
struct AcceptGuard {
    accepting: Arc<Accepting>,
    id: String,
}

fn key(id: &SubscriptionId<'_>) -> String {
    match id {
        SubscriptionId::Str(s) => s.to_string(),
        SubscriptionId::Num(n) => n.to_string(),
    }
}

impl Accepting {
    /// `pending.accept()`, with an `eth_unsubscribe` for its id held until it returns.
    pub(crate) async fn accept(
        self: &Arc<Self>,
        pending: PendingSubscriptionSink,
    ) -> Result<SubscriptionSink, PendingSubscriptionAcceptError> {
        let _noted = self.note_id(key(&pending.subscription_id()));
        pending.accept().await
    }

    fn note_id(self: &Arc<Self>, id: String) -> AcceptGuard {
        self.lock().insert(id.clone());
        AcceptGuard {
            accepting: self.clone(),
            id,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns once `id` is not being accepted (at once for any id not noted), or after
    /// [`MAX_WAIT`].
    async fn settled(&self, id: &str) {
        let wait = async {
            loop {
                let accepted = self.accepted.notified();
                tokio::pin!(accepted);
                // Registered before the check, so a guard dropped in between still wakes us.
                accepted.as_mut().enable();
                if !self.lock().contains(id) {
                    return;
                }
                accepted.await;
            }
        };
        let _ = tokio::time::timeout(MAX_WAIT, wait).await;
    }
}

impl Drop for AcceptGuard {
    fn drop(&mut self) {
        self.accepting.lock().remove(&self.id);
        self.accepting.accepted.notify_waiters();
    }
}

/// The subscription id an `eth_unsubscribe` call names, as [`Accepting`] keys it.
fn unsubscribed_id(req: &Request<'_>) -> Option<String> {
    if req.method_name() != UNSUBSCRIBE {
        return None;
    }
    match req.params().one::<Value>().ok()? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// RPC middleware: holds `eth_unsubscribe` until its subscription is registered.
#[derive(Debug, Clone)]
pub(crate) struct UnsubscribeAfterAccept<S> {
    pub(crate) service: S,
    pub(crate) accepting: Arc<Accepting>,
}

impl<S> RpcServiceT for UnsubscribeAfterAccept<S>
where
    S: RpcServiceT + Clone + Send + Sync + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let Some(id) = unsubscribed_id(&req) else {
            return Either::Left(self.service.call(req));
        };
        let (service, accepting) = (self.service.clone(), self.accepting.clone());
        Either::Right(async move {
            accepting.settled(&id).await;
            service.call(req).await
        })
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let ids: Vec<String> = batch
            .iter()
            .filter_map(|entry| match entry {
                Ok(BatchEntry::Call(req)) => unsubscribed_id(req),
                _ => None,
            })
            .collect();
        if ids.is_empty() {
            return Either::Left(self.service.batch(batch));
        }
        let (service, accepting) = (self.service.clone(), self.accepting.clone());
        Either::Right(async move {
            for id in &ids {
                accepting.settled(id).await;
            }
            service.batch(batch).await
        })
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.service.notification(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonrpsee::types::Id;
    use serde_json::{json, value::to_raw_value};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The service behind the middleware: counts the calls that reach it.
    #[derive(Clone, Default)]
    struct Counting(Arc<AtomicUsize>);

    impl RpcServiceT for Counting {
        type MethodResponse = ();
        type NotificationResponse = ();
        type BatchResponse = ();

        fn call<'a>(&self, _: Request<'a>) -> impl Future<Output = ()> + Send + 'a {
            self.0.fetch_add(1, Ordering::SeqCst);
            std::future::ready(())
        }

        fn batch<'a>(&self, _: Batch<'a>) -> impl Future<Output = ()> + Send + 'a {
            self.0.fetch_add(1, Ordering::SeqCst);
            std::future::ready(())
        }

        fn notification<'a>(&self, _: Notification<'a>) -> impl Future<Output = ()> + Send + 'a {
            std::future::ready(())
        }
    }

    fn request(method: &str, params: Value) -> Request<'static> {
        Request::owned(
            method.to_owned(),
            Some(to_raw_value(&params).unwrap()),
            Id::Number(1),
        )
    }

    /// Lets spawned tasks run as far as they can.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    /// The middleware over a counting service, with subscription `0xabc` being accepted
    /// until the guard drops.
    fn accepting_0xabc() -> (UnsubscribeAfterAccept<Counting>, Counting, AcceptGuard) {
        let accepting = Arc::new(Accepting::default());
        let reached = Counting::default();
        let guard = accepting.note_id("0xabc".into());
        let service = UnsubscribeAfterAccept {
            service: reached.clone(),
            accepting,
        };
        (service, reached, guard)
    }

    impl Counting {
        fn calls(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn an_unsubscribe_waits_until_its_subscription_is_accepted() {
        let (service, reached, guard) = accepting_0xabc();
        let held = tokio::spawn(service.call(request(UNSUBSCRIBE, json!(["0xabc"]))));
        settle().await;
        assert_eq!(reached.calls(), 0, "went through before accept");

        // Other calls, and unsubscribes of ids not being accepted, are not held.
        service.call(request(UNSUBSCRIBE, json!(["0xdef"]))).await;
        service.call(request("eth_chainId", json!([]))).await;
        assert_eq!(reached.calls(), 2);

        drop(guard);
        held.await.unwrap();
        assert_eq!(reached.calls(), 3);
    }

    #[tokio::test]
    async fn a_batch_with_such_an_unsubscribe_waits_too() {
        let (service, reached, guard) = accepting_0xabc();
        let mut batch = Batch::new();
        batch.push(request("eth_chainId", json!([])));
        batch.push(request(UNSUBSCRIBE, json!(["0xabc"])));
        let held = tokio::spawn(service.batch(batch));
        settle().await;
        assert_eq!(reached.calls(), 0, "went through before accept");
        drop(guard);
        held.await.unwrap();
        assert_eq!(reached.calls(), 1);
    }

    #[tokio::test]
    async fn the_wait_is_bounded() {
        let accepting = Arc::new(Accepting::default());
        let _never_accepted = accepting.note_id("7".into());
        let settled = tokio::time::timeout(MAX_WAIT * 10, accepting.settled("7")).await;
        assert!(settled.is_ok(), "an unsubscribe waited past MAX_WAIT");
    }
}
