//! Two threads without a spawn per call: one worker thread made once, woken
//! through a channel for every call while the calling thread does its own
//! share, so a benchmark of many calls measures the hand-over (a wake-up and
//! a reply, microseconds) rather than `std::thread::spawn` (tens of
//! microseconds) each time.

use std::sync::mpsc;

/// The caller's side of a running worker (see [`with_worker`]).
pub struct Worker {
    go: Option<mpsc::Sender<()>>,
    done: mpsc::Receiver<()>,
}

impl Worker {
    /// Wakes the worker to run its job once, runs `mine` on this thread
    /// meanwhile, and returns when both have finished.
    ///
    /// # Panics
    /// If the worker's job panicked.
    pub fn run(&mut self, mine: impl FnOnce()) {
        self.go.as_ref().expect("worker alive").send(()).expect("worker thread ended");
        mine();
        self.done.recv().expect("worker thread panicked");
    }
}

/// Starts one thread that runs `job` each time [`Worker::run`] asks, hands
/// the [`Worker`] to `body`, and joins the thread when `body` returns.
/// `job` may borrow from the caller (it lives in a [`std::thread::scope`]),
/// e.g. its half of an output buffer, split once before.
pub fn with_worker<R>(mut job: impl FnMut() + Send, body: impl FnOnce(&mut Worker) -> R) -> R {
    let (go, wake) = mpsc::channel::<()>();
    let (reply, done) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            for () in wake {
                job();
                if reply.send(()).is_err() {
                    break;
                }
            }
        });
        let mut worker = Worker { go: Some(go), done };
        let result = body(&mut worker);
        worker.go = None; // closes the channel: the worker's loop ends and the scope joins it
        result
    })
}

#[cfg(test)]
mod tests {
    use super::with_worker;

    #[test]
    fn worker_runs_its_job_once_per_call() {
        let mut data = [0u32; 8];
        let (theirs, mine) = data.split_at_mut(4);
        let mut calls = 0;
        with_worker(
            || theirs.iter_mut().for_each(|x| *x += 1),
            |w| {
                for _ in 0..3 {
                    w.run(|| mine.iter_mut().for_each(|x| *x += 10));
                    calls += 1;
                }
            },
        );
        assert_eq!(calls, 3);
        assert_eq!(data, [3, 3, 3, 3, 30, 30, 30, 30]);
    }
}
