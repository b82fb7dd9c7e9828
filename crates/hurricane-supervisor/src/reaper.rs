//! Reaping orphans while the supervisor is PID 1.
//!
//! In a container the supervisor is often the first process (`CMD ["hurricane", "serve",
//! "--processes", "2"]`, or `python manage.py serve` in the same place), and the kernel
//! makes PID 1 the parent of every process whose own parent died: a subprocess a view
//! started in the background, a worker of a library, whatever the server processes
//! leave behind when they are replaced. Nobody else will wait for those; without this
//! they stay zombies until the pod goes, each holding a process id (a container's
//! `pids.max` is often a few hundred or thousand). tini and dumb-init exist for this.
//!
//! The supervisor's own children are waited for by tokio (their exit status is what
//! the pod acts on), so the reaper must not take them: it waits only for zombies whose
//! pid is not one of [`ChildProcess`](crate::ChildProcess)'s, found in `/proc`. A child
//! is registered when spawned, before the runtime's single thread can run the reaper,
//! and forgotten when its handle is dropped (after tokio has waited for it, or while
//! tokio's own orphan queue will; if the reaper gets there first, tokio's wait finds
//! nothing and moves on).

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Pids of the children whose exit status tokio waits for.
static CHILDREN: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// A backstop for SIGCHLDs that arrive together and are delivered as one.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Marks `pid` as a child whose exit status is ours to read, not the reaper's.
pub(crate) fn register(pid: u32) {
    children().insert(pid);
}

/// `pid`'s handle is gone: if it is still a zombie, the reaper may have it.
pub(crate) fn forget(pid: u32) {
    children().remove(&pid);
}

fn children() -> MutexGuard<'static, BTreeSet<u32>> {
    CHILDREN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// When this process is PID 1: reaps orphaned zombies on every SIGCHLD (and every few
/// seconds) until the runtime stops. Otherwise does nothing: another init reaps them.
pub(crate) fn reap_orphans_if_init() {
    if std::process::id() != 1 {
        return;
    }
    let mut sigchld = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGCHLD: orphaned processes will not be reaped");
            return;
        }
    };
    tracing::debug!("running as PID 1: reaping orphaned processes");
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = sigchld.recv() => {}
                () = tokio::time::sleep(SWEEP_INTERVAL) => {}
            }
            reap_orphans();
        }
    });
}

/// Waits for every zombie child of ours that is not a registered child.
fn reap_orphans() {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let me = std::process::id();
    for pid in entries.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if !is_zombie_child_of(&stat, me) || children().contains(&pid) {
            continue;
        }
        let Ok(raw) = i32::try_from(pid) else {
            continue;
        };
        let mut status = 0;
        // SAFETY: waitpid(2) on a zombie child of ours that no handle of ours refers to;
        // `status` is a valid place for the result.
        if unsafe { libc::waitpid(raw, &mut status, libc::WNOHANG) } == raw {
            tracing::debug!(pid, "reaped an orphaned process");
        }
    }
}

/// Whether `/proc/<pid>/stat` says a zombie whose parent is `parent`. The command name
/// (in parentheses) may hold spaces and parentheses: the fields after the last `)` are
/// the state and the parent's pid.
fn is_zombie_child_of(stat: &str, parent: u32) -> bool {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let mut fields = rest.split_ascii_whitespace();
    fields.next() == Some("Z") && fields.next().and_then(|p| p.parse().ok()) == Some(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zombie_is_recognised_by_the_fields_after_its_command_name() {
        assert!(is_zombie_child_of("42 (sleep) Z 1 42 42 0 -1", 1));
        assert!(is_zombie_child_of("42 (a (weird) name) Z 1 42", 1));
        assert!(!is_zombie_child_of("42 (sleep) S 1 42 42 0 -1", 1));
        assert!(!is_zombie_child_of("42 (sleep) Z 7 42 42 0 -1", 1));
        assert!(!is_zombie_child_of("garbage", 1));
    }

    #[test]
    fn registered_children_are_left_to_their_handle() {
        register(4_000_001);
        assert!(children().contains(&4_000_001));
        forget(4_000_001);
        assert!(!children().contains(&4_000_001));
    }
}
