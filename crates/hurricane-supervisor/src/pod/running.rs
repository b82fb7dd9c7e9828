//! The pod's loop: starting, promoting, replacing and stopping its processes.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::process::{Process, Reason};
use super::shared::REPLACEMENT_FAILURES;
use super::{
    backoff, Event, PodError, Running, Slot, StopRequest, UNRESPONSIVE_AFTER, UNRESPONSIVE_GRACE,
};
use crate::Notification;

impl Running {
    /// Starts every slot's first process.
    pub(super) fn start_all(&mut self) -> Result<(), PodError> {
        for index in 0..self.config.processes {
            self.slots.push(Slot::default());
            let process = self.spawn(Reason::Start).map_err(PodError::Spawn)?;
            self.slots[index].next = Some(process);
        }
        tracing::info!(
            processes = self.config.processes,
            "Starting {} server processes",
            self.config.processes
        );
        Ok(())
    }

    fn spawn(&self, reason: Reason) -> std::io::Result<Process> {
        Process::spawn((self.command)(), &self.notify, reason, &self.events_tx)
    }

    /// Starts a replacement in `index`; one that cannot even be started is retried.
    fn replace(&mut self, index: usize, reason: Reason) {
        match self.spawn(reason) {
            Ok(process) => self.slots[index].next = Some(process),
            Err(error) => {
                tracing::error!(%error, "cannot start a server process");
                self.failed_start(index, reason);
            }
        }
    }

    /// Runs until asked to stop; an error if a process fails before the pod started.
    pub(super) async fn supervise(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<Event>,
        mut reloads: mpsc::UnboundedReceiver<()>,
        stop: impl Future<Output = Option<StopRequest>>,
    ) -> Result<StopRequest, PodError> {
        tokio::pin!(stop);
        loop {
            let retry = self.next_retry();
            tokio::select! {
                request = &mut stop => {
                    return Ok(request.unwrap_or(StopRequest { signal: libc::SIGINT, accept_for: Duration::ZERO }));
                }
                notification = self.notify.next() => self.notified(notification),
                Some(event) = events.recv() => self.event(event)?,
                Some(()) = reloads.recv() => self.reload(),
                () = sleep_until(retry) => self.retry_due(),
            }
        }
    }

    fn notified(&mut self, notification: Notification) {
        match notification {
            Notification::Ready { pid, .. } => {
                if let Some(index) = self.slot_starting(pid) {
                    self.promote(index);
                }
            }
            Notification::Retire { pid, reason } => {
                let Some(reason) = Reason::asked(&reason) else {
                    return;
                };
                let Some(index) = self.slot_serving(pid) else {
                    return;
                };
                if self.slots[index].next.is_none() {
                    tracing::info!(
                        pid,
                        reason = reason.as_str(),
                        "replacing server process {pid} ({})",
                        reason.as_str()
                    );
                    self.replace(index, reason);
                }
            }
            Notification::Metrics { pid, text } => self.shared.scraped(pid, &text),
        }
    }

    /// The starting process of `index` serves: it takes connections from now on, and
    /// the one it replaces finishes its requests.
    fn promote(&mut self, index: usize) {
        let Some(mut process) = self.slots[index].next.take() else {
            return;
        };
        process.serving(&self.shared, &self.events_tx);
        self.routes.add(process.pid, process.handoff.clone());
        let (pid, reason) = (process.pid, process.reason);
        if let Some(old) = self.slots[index].current.replace(process) {
            let grace = if reason == Reason::Unresponsive {
                UNRESPONSIVE_GRACE
            } else {
                self.config.graceful_timeout
            };
            self.routes.remove(old.pid);
            old.stop(libc::SIGINT, grace);
            tracing::info!(
                pid,
                old_pid = old.pid,
                reason = reason.as_str(),
                "server process {pid} serves in place of {} ({})",
                old.pid,
                reason.as_str()
            );
            self.retiring.insert(old.pid, old);
        } else if reason != Reason::Start {
            tracing::info!(
                pid,
                reason = reason.as_str(),
                "server process {pid} serves ({})",
                reason.as_str()
            );
        }
        if reason != Reason::Start {
            self.shared.replaced(reason);
        }
        self.slots[index].retry_at = None;
        self.publish();
        self.started_once_all_serve();
        if reason == Reason::Reload {
            self.reload_next();
        }
    }

    /// The pod has started the first time every slot has a process serving.
    fn started_once_all_serve(&self) {
        if self.lifecycle.startup_seconds().is_some()
            || !self.slots.iter().all(|s| s.current.is_some())
        {
            return;
        }
        let seconds = self.lifecycle.mark_started();
        self.routes.open();
        tracing::info!(
            processes = self.slots.len(),
            startup_seconds = seconds,
            "all {} server processes serve",
            self.slots.len()
        );
        if let Some(reporter) = &self.reporter {
            reporter.started();
        }
    }

    fn event(&mut self, event: Event) -> Result<(), PodError> {
        match event {
            Event::Exited { pid, status } => self.exited(pid, status),
            Event::Liveness { pid, passing } => {
                self.liveness(pid, passing);
                Ok(())
            }
        }
    }

    fn exited(&mut self, pid: u32, status: std::process::ExitStatus) -> Result<(), PodError> {
        // Its last metrics, sent as it stopped, come before its counts are folded in.
        while let Some(notification) = self.notify.try_next() {
            self.notified(notification);
        }
        self.shared.exited(pid);
        if self.retiring.remove(&pid).is_some() {
            tracing::debug!(pid, %status, "a replaced server process exited");
            return Ok(());
        }
        if let Some(index) = self.slot_serving(pid) {
            self.routes.remove(pid);
            self.slots[index].current = None;
            tracing::error!(pid, %status, "server process {pid} exited unexpectedly ({status}); replacing it");
            if self.slots[index].next.is_none() {
                self.replace(index, Reason::Exited);
            }
        } else if let Some(index) = self.slot_starting(pid) {
            let Some(failed) = self.slots[index].next.take() else {
                return Ok(());
            };
            if self.lifecycle.startup_seconds().is_none() {
                return Err(PodError::StartFailed(status));
            }
            tracing::error!(pid, %status, reason = failed.reason.as_str(), "a new server process exited before it served ({status})");
            self.failed_start(index, failed.reason);
        }
        self.publish();
        Ok(())
    }

    /// A process of `index` failed to start: try again after a back-off, unless it was
    /// a reload and the old one still serves (the reload is abandoned).
    fn failed_start(&mut self, index: usize, reason: Reason) {
        let slot = &mut self.slots[index];
        slot.failures += 1;
        if reason == Reason::Reload && slot.current.is_some() {
            tracing::error!("reload abandoned: still serving the previous code in the processes not yet replaced");
            self.rolling.clear();
            return;
        }
        let reason = if slot.current.is_some() {
            reason
        } else {
            Reason::Exited
        };
        let delay = backoff(slot.failures);
        slot.retry_at = Some((Instant::now() + delay, reason));
        tracing::warn!(
            failures = slot.failures,
            retry_in_s = delay.as_secs_f64(),
            "starting a server process again in {:.1} s",
            delay.as_secs_f64()
        );
    }

    fn liveness(&mut self, pid: u32, passing: bool) {
        let Some(index) = self.slot_serving(pid) else {
            return;
        };
        self.routes.set_failing(pid, !passing);
        let slot = &mut self.slots[index];
        let Some(process) = slot.current.as_mut() else {
            return;
        };
        if passing {
            process.failing_since = None;
            if process
                .ready_at
                .is_some_and(|at| at.elapsed() >= UNRESPONSIVE_AFTER)
            {
                slot.failures = 0;
            }
            return;
        }
        let since = *process
            .failing_since
            .get_or_insert_with(std::time::Instant::now);
        if since.elapsed() < UNRESPONSIVE_AFTER || slot.next.is_some() {
            return;
        }
        tracing::warn!(
            pid,
            seconds = UNRESPONSIVE_AFTER.as_secs(),
            "server process {pid} has failed its liveness checks for {} s; replacing it",
            UNRESPONSIVE_AFTER.as_secs()
        );
        slot.failures += 1;
        self.routes.remove(pid);
        self.replace(index, Reason::Unresponsive);
        self.publish();
    }

    /// SIGHUP: every slot gets a new process, one at a time.
    fn reload(&mut self) {
        if !self.rolling.is_empty() {
            tracing::info!("SIGHUP: a reload is already replacing the processes");
            return;
        }
        tracing::info!(
            processes = self.slots.len(),
            "SIGHUP: replacing the server processes one at a time"
        );
        self.rolling = (0..self.slots.len()).collect();
        self.reload_next();
    }

    fn reload_next(&mut self) {
        while let Some(index) = self.rolling.pop_front() {
            // A slot already starting a process gets the new code from it.
            if self.slots[index].next.is_none() {
                self.replace(index, Reason::Reload);
                return;
            }
        }
    }

    fn retry_due(&mut self) {
        let now = Instant::now();
        for index in 0..self.slots.len() {
            if let Some((at, reason)) = self.slots[index].retry_at {
                if at <= now && self.slots[index].next.is_none() {
                    self.slots[index].retry_at = None;
                    self.replace(index, reason);
                }
            }
        }
    }

    fn next_retry(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| s.retry_at.map(|(at, _)| at))
            .min()
    }

    fn slot_serving(&self, pid: u32) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.current.as_ref().is_some_and(|p| p.pid == pid))
    }

    fn slot_starting(&self, pid: u32) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.next.as_ref().is_some_and(|p| p.pid == pid))
    }

    /// Tells the probes how many processes serve and whether replacing keeps failing.
    fn publish(&self) {
        let failing = self
            .slots
            .iter()
            .filter(|s| s.failures >= REPLACEMENT_FAILURES)
            .count();
        self.shared.set_serving(self.routes.len(), failing);
    }

    /// Readiness fails at once; the processes get the signal; connections are still
    /// handed over for `accept_for`, then the supervisor stops accepting and waits for
    /// every process to finish (a second signal kills them).
    pub(super) async fn stop_all(
        &mut self,
        request: StopRequest,
        acceptor: JoinHandle<()>,
        events: &mut mpsc::UnboundedReceiver<Event>,
        stop_now: impl Future<Output = ()>,
    ) {
        self.lifecycle.start_draining();
        let grace = request.accept_for + self.config.graceful_timeout + Duration::from_secs(1);
        let mut running: Vec<Process> = self
            .slots
            .iter_mut()
            .flat_map(|slot| slot.current.take().into_iter().chain(slot.next.take()))
            .chain(self.retiring.drain().map(|(_, p)| p))
            .collect();
        for process in &running {
            process.stop(request.signal, grace);
        }
        tokio::pin!(stop_now);
        let waited = async {
            tokio::time::sleep(request.accept_for).await;
            acceptor.abort();
            self.routes.clear();
            while !running.is_empty() {
                match events.recv().await {
                    Some(Event::Exited { pid, .. }) => running.retain(|p| p.pid != pid),
                    Some(Event::Liveness { .. }) => {}
                    None => return,
                }
            }
            tracing::info!("all server processes have stopped");
        };
        tokio::select! {
            () = waited => {}
            () = stop_now => {
                tracing::warn!("second signal: killing the server processes");
                // Dropping their control tasks with the runtime kills them.
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
