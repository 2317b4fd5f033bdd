//! The async runtime's size, flattened into [`Config`](super::Config).

use std::num::NonZeroUsize;

use clap::Args;

/// How many threads run the HTTP stack (tokio's workers).
#[derive(Debug, Clone, Args)]
pub struct RuntimeConfig {
    /// Threads that run the HTTP stack and the streams (tokio workers),
    /// 1..=1024. Unset: one fewer than the CPUs this process may use, at
    /// least one, so the database writer thread keeps a core of its own
    /// (issue 14: on 2 cores, one worker made a quarter fewer context
    /// switches for the same load and cost less CPU per stream open: no
    /// wake-ups of an idle sibling worker to steal each task).
    #[arg(long, env = "KEZ_CHAT_WORKER_THREADS",
        value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,
}

impl RuntimeConfig {
    /// The worker count to start: the flag, or [`default_workers`] of the
    /// CPUs this process may run on (`sched_getaffinity`, cgroup quota).
    pub fn workers(&self) -> usize {
        match self.worker_threads {
            Some(n) => usize::from(n),
            None => default_workers(std::thread::available_parallelism().ok()),
        }
    }

    /// A multi-thread tokio runtime with [`Self::workers`] workers, I/O and
    /// timers on. Fails only when the OS refuses threads.
    pub fn build(&self) -> std::io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.workers())
            .enable_all()
            .build()
    }
}

/// One fewer worker than `cpus`, at least one; one when the count is unknown.
pub fn default_workers(cpus: Option<NonZeroUsize>) -> usize {
    cpus.map_or(1, |n| n.get().saturating_sub(1).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_the_writer_a_core() {
        let n = |c: usize| NonZeroUsize::new(c);
        assert_eq!(default_workers(n(1)), 1);
        assert_eq!(default_workers(n(2)), 1);
        assert_eq!(default_workers(n(8)), 7);
        assert_eq!(default_workers(None), 1);
    }

    #[test]
    fn the_flag_takes_1_to_1024() {
        use clap::Parser;
        let parse = |n: &str| super::super::Config::try_parse_from(["k", "--worker-threads", n]);
        assert_eq!(parse("1").unwrap().runtime.workers(), 1);
        assert_eq!(parse("1024").unwrap().runtime.workers(), 1024);
        assert!(parse("0").is_err());
        assert!(parse("1025").is_err());
    }
}
