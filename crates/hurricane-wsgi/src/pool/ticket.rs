//! Where one request with a deadline stands: queued, running on a pool thread, or past
//! its deadline. Shared by the tokio side that waits for its response and the Python
//! thread that runs it.
//!
//! The state machine is pure (no Python, no pool) so that it can be tested on its own;
//! [`PythonPool`](super::PythonPool) moves a ticket along and keeps its counts of stuck
//! threads in step with it.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// One request's place in the pool.
#[derive(Debug)]
pub(crate) struct Ticket {
    phase: Mutex<Phase>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting in the queue for a Python thread.
    Queued,
    /// Running on the pool thread `slot`.
    Running { slot: usize },
    /// Its deadline passed while it waited in the queue: it never runs.
    Abandoned,
    /// Its deadline passed while it ran: the thread `slot` is stuck in it until its
    /// Python call returns.
    Stuck { slot: usize, since: Instant },
    /// Its Python call returned (or it was abandoned and skipped).
    Done,
}

/// What a deadline found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// The request was still queued: it is abandoned and will not run.
    Queued,
    /// The request is running on thread `slot`, which is now stuck.
    Running { slot: usize },
    /// Its call had already returned (without a response: a race with the deadline).
    Finished,
}

impl Default for Ticket {
    fn default() -> Self {
        Self {
            phase: Mutex::new(Phase::Queued),
        }
    }
}

impl Ticket {
    /// The phase, locked: the lock orders the deadline against the thread. Held while
    /// the pool's schedule is updated to match, never while waiting for the GIL.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Phase> {
        // Only plain assignments happen under the lock: a poisoned one is consistent.
        self.phase
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Thread `slot` takes the request: true if it should run it, false if its deadline
    /// passed while it was queued (it is then done, never run).
    pub(crate) fn start(&self, slot: usize) -> bool {
        let mut phase = self.lock();
        match *phase {
            Phase::Queued => {
                *phase = Phase::Running { slot };
                true
            }
            _ => {
                *phase = Phase::Done;
                false
            }
        }
    }

    /// Whether the request's deadline passed while it ran and its call has not returned.
    pub(crate) fn is_stuck(&self) -> bool {
        matches!(*self.lock(), Phase::Stuck { .. })
    }
}

impl Phase {
    /// The deadline passed: the phase it moves to, and what it found.
    pub(crate) fn expire(&mut self, now: Instant) -> Expiry {
        match *self {
            Phase::Queued => {
                *self = Phase::Abandoned;
                Expiry::Queued
            }
            Phase::Running { slot } => {
                *self = Phase::Stuck { slot, since: now };
                Expiry::Running { slot }
            }
            // A deadline expires once; anything else has returned.
            Phase::Abandoned | Phase::Stuck { .. } | Phase::Done => Expiry::Finished,
        }
    }

    /// The call returned. `Some(when it got stuck)` if its deadline had passed.
    pub(crate) fn finish(&mut self) -> Option<Instant> {
        let stuck_since = match *self {
            Phase::Stuck { since, .. } => Some(since),
            _ => None,
        };
        *self = Phase::Done;
        stuck_since
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_expired_in_the_queue_never_runs() {
        let ticket = Ticket::default();
        assert_eq!(ticket.lock().expire(Instant::now()), Expiry::Queued);
        assert!(!ticket.start(3), "an abandoned request must not run");
        assert_eq!(*ticket.lock(), Phase::Done);
        assert!(!ticket.is_stuck());
    }

    #[test]
    fn a_request_expired_while_running_is_stuck_until_its_call_returns() {
        let ticket = Ticket::default();
        assert!(ticket.start(2));
        let at = Instant::now();
        assert_eq!(ticket.lock().expire(at), Expiry::Running { slot: 2 });
        assert!(ticket.is_stuck());
        assert_eq!(ticket.lock().finish(), Some(at));
        assert!(!ticket.is_stuck());
    }

    #[test]
    fn a_request_that_returned_in_time_is_not_stuck() {
        let ticket = Ticket::default();
        assert!(ticket.start(0));
        assert_eq!(ticket.lock().finish(), None);
        // a deadline racing with the return finds it finished
        assert_eq!(ticket.lock().expire(Instant::now()), Expiry::Finished);
        assert_eq!(*ticket.lock(), Phase::Done);
    }

    #[test]
    fn a_deadline_expires_once() {
        let ticket = Ticket::default();
        assert!(ticket.start(1));
        let mut phase = ticket.lock();
        assert_eq!(phase.expire(Instant::now()), Expiry::Running { slot: 1 });
        assert_eq!(phase.expire(Instant::now()), Expiry::Finished);
        assert!(matches!(*phase, Phase::Stuck { slot: 1, .. }));
    }
}
