//! Arrival order of the messages of one WebSocket connection (a Peregrine patch).
//!
//! The connection task spawns one task per message, so calls of one connection run
//! concurrently and may reach a shared resource in any order. Each message's extensions
//! carry a [`MessageTicket`]: its arrival number on the connection and the connection's
//! [`ConnectionOrder`]. A method that must act in arrival order (Peregrine's
//! `eth_sendRawTransaction`, whose pushes into the sequencer must keep a pipelining
//! sender's nonce order) does its parallel work first, then awaits
//! [`MessageTicket::turn`], which completes once every earlier message of the connection
//! has released its ticket, acts, and releases its own ([`MessageTicket::release`]).
//! Every other message releases at once. A ticket whose every clone is dropped is
//! released, so a message that fails to parse, or whose connection closes, never holds
//! up the ones after it.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// The ordering state of one connection.
#[derive(Debug, Default)]
pub struct ConnectionOrder {
	state: Mutex<OrderState>,
}

#[derive(Debug, Default)]
struct OrderState {
	/// Every message numbered below this has released its ticket.
	frontier: u64,
	/// Released messages above the frontier.
	released: BTreeSet<u64>,
	/// The waker of a message waiting for its turn, by number.
	waiting: HashMap<u64, Waker>,
	/// Numbers handed out so far.
	issued: u64,
}

impl ConnectionOrder {
	fn lock(&self) -> MutexGuard<'_, OrderState> {
		self.state.lock().unwrap_or_else(PoisonError::into_inner)
	}

	/// The ticket of the next message to arrive.
	pub fn next_ticket(self: &Arc<Self>) -> MessageTicket {
		let seq = {
			let mut state = self.lock();
			let seq = state.issued;
			state.issued += 1;
			seq
		};
		MessageTicket(Arc::new(TicketInner { order: self.clone(), seq, released: AtomicBool::new(false) }))
	}

	fn release(&self, seq: u64) {
		let to_wake = {
			let mut state = self.lock();
			// A turn dropped while waiting left its waker.
			state.waiting.remove(&seq);
			if seq != state.frontier {
				state.released.insert(seq);
				return;
			}
			state.frontier += 1;
			loop {
				let next = state.frontier;
				if !state.released.remove(&next) {
					break;
				}
				state.frontier += 1;
			}
			let frontier = state.frontier;
			state.waiting.remove(&frontier)
		};
		if let Some(waker) = to_wake {
			waker.wake();
		}
	}
}

/// One message's place in its connection's arrival order (cheap to clone; the clones
/// share one release).
#[derive(Debug, Clone)]
pub struct MessageTicket(Arc<TicketInner>);

#[derive(Debug)]
struct TicketInner {
	order: Arc<ConnectionOrder>,
	seq: u64,
	released: AtomicBool,
}

impl MessageTicket {
	/// The message's arrival number on its connection, from 0.
	pub fn seq(&self) -> u64 {
		self.0.seq
	}

	/// Completes once every earlier message of the connection has released its ticket.
	pub fn turn(&self) -> Turn<'_> {
		Turn { ticket: self }
	}

	/// Lets the messages after this one take their turn (idempotent).
	pub fn release(&self) {
		self.0.release();
	}
}

impl TicketInner {
	fn release(&self) {
		if !self.released.swap(true, Ordering::AcqRel) {
			self.order.release(self.seq);
		}
	}
}

impl Drop for TicketInner {
	fn drop(&mut self) {
		self.release();
	}
}

/// The future of [`MessageTicket::turn`].
#[derive(Debug)]
pub struct Turn<'a> {
	ticket: &'a MessageTicket,
}

impl Future for Turn<'_> {
	type Output = ();

	fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
		let inner = &self.ticket.0;
		let mut state = inner.order.lock();
		if state.frontier >= inner.seq {
			state.waiting.remove(&inner.seq);
			return Poll::Ready(());
		}
		state.waiting.insert(inner.seq, cx.waker().clone());
		Poll::Pending
	}
}
