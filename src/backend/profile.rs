//! Per-step timings of one run (the profiler's output). A session built with
//! `SessionBuilder::profile(true)` (or switched on with `Session::set_profiling`) records, for
//! every step of its last run, the node, op, kernel and time: on the GPU from timestamp queries
//! written at the start and end of each dispatch's compute pass, on the CPU (and for nodes a GPU
//! plan places on the host) from the wall clock around the step. [`Profile::by_op`] sums them
//! per op type and [`Profile::chrome_trace`] writes them as Chrome trace events.

use std::collections::HashMap;

/// Which clock timed a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Clock {
    /// GPU timestamp queries (device time of the dispatch).
    Gpu,
    /// The host's wall clock (CPU backend steps, and host-placed nodes of GPU plans).
    Host,
}

/// One timed step of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct StepTiming {
    /// The stage (0 for plans without run-time barriers) and the step's index in it; host-placed
    /// nodes, which are not steps, count on after the stage's last step.
    pub stage: u32,
    pub step: usize,
    /// The node's name (or `op#index` when unnamed) and op type.
    pub node: String,
    pub op_type: String,
    /// The kernel's label (`host` for host-placed nodes).
    pub kernel: String,
    /// Start, relative to the first step of the run timed by the same clock, and duration.
    pub start_ns: u64,
    pub nanos: u64,
    pub clock: Clock,
}

/// The step timings of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    pub steps: Vec<StepTiming>,
    /// Wall-clock time of the whole run, uploads and read-backs included.
    pub wall_ns: u64,
    /// Why device steps have no timings, where they have none (e.g. no timestamp queries).
    pub note: Option<String>,
}

/// Time spent in one op type.
#[derive(Clone, Debug, PartialEq)]
pub struct OpTime {
    pub op_type: String,
    pub clock: Clock,
    /// Steps (dispatches or host kernels) of this op in the run.
    pub steps: usize,
    pub nanos: u64,
}

impl Profile {
    /// Total time of the steps timed by `clock`.
    pub fn total_ns(&self, clock: Clock) -> u64 {
        self.steps.iter().filter(|s| s.clock == clock).map(|s| s.nanos).sum()
    }

    /// Time per (op type, clock), largest first.
    pub fn by_op(&self) -> Vec<OpTime> {
        let mut m: HashMap<(&str, Clock), (usize, u64)> = HashMap::new();
        for s in &self.steps {
            let e = m.entry((s.op_type.as_str(), s.clock)).or_default();
            e.0 += 1;
            e.1 += s.nanos;
        }
        let mut v: Vec<OpTime> = m
            .into_iter()
            .map(|((op, clock), (steps, nanos))| OpTime { op_type: op.to_string(), clock, steps, nanos })
            .collect();
        v.sort_by(|a, b| b.nanos.cmp(&a.nanos).then_with(|| a.op_type.cmp(&b.op_type)));
        v
    }

    /// The `top` rows of [`Profile::by_op`] as a text table (op, clock, steps, ms, share of the
    /// timed total), each line starting with `indent`.
    pub fn op_table(&self, top: usize, indent: &str) -> String {
        let timed: u64 = self.steps.iter().map(|s| s.nanos).sum();
        let mut t = format!("{indent}{:<28} {:>5} {:>6} {:>11} {:>7}\n", "op", "clock", "steps", "total ms", "share");
        for o in self.by_op().iter().take(top) {
            t += &format!(
                "{indent}{:<28} {:>5} {:>6} {:>11.3} {:>6.1}%\n",
                o.op_type,
                if o.clock == Clock::Gpu { "gpu" } else { "host" },
                o.steps,
                o.nanos as f64 / 1e6,
                100.0 * o.nanos as f64 / timed.max(1) as f64
            );
        }
        t
    }

    /// Chrome trace events (`"ph": "X"`, microseconds) of this run under process `pid` named
    /// `process`: GPU steps on thread 0, host steps on thread 1. Load the document
    /// `{"traceEvents": [...]}` in chrome://tracing or Perfetto.
    pub fn chrome_trace(&self, pid: u32, process: &str) -> Vec<serde_json::Value> {
        use serde_json::json;
        let mut ev = vec![
            json!({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": process}}),
            json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": "gpu (timestamp queries)"}}),
            json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": 1, "args": {"name": "host (wall clock)"}}),
        ];
        for s in &self.steps {
            ev.push(json!({
                "name": s.node,
                "cat": s.op_type,
                "ph": "X",
                "ts": s.start_ns as f64 / 1e3,
                "dur": s.nanos as f64 / 1e3,
                "pid": pid,
                "tid": if s.clock == Clock::Gpu { 0 } else { 1 },
                "args": {"op": s.op_type, "kernel": s.kernel, "stage": s.stage, "step": s.step},
            }));
        }
        ev
    }
}

/// Nanoseconds since a process-wide epoch (the host clock of [`StepTiming::start_ns`] before
/// it is made relative to the run).
pub(crate) fn host_now_ns() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
}

/// A step's raw timing from a backend: step index, start on the backend's clock, duration.
pub(crate) type RawTiming = (usize, u64, u64);

#[cfg(test)]
mod tests {
    use super::*;

    fn st(op: &str, clock: Clock, start: u64, nanos: u64) -> StepTiming {
        StepTiming {
            stage: 0,
            step: 0,
            node: format!("n_{op}"),
            op_type: op.into(),
            kernel: "k".into(),
            start_ns: start,
            nanos,
            clock,
        }
    }

    #[test]
    fn by_op_sums_and_sorts() {
        let p = Profile {
            steps: vec![
                st("Add", Clock::Gpu, 0, 5),
                st("MatMul", Clock::Gpu, 5, 30),
                st("Add", Clock::Gpu, 35, 7),
                st("Shape", Clock::Host, 0, 100),
            ],
            wall_ns: 200,
            note: None,
        };
        let v = p.by_op();
        assert_eq!(v[0].op_type, "Shape");
        assert_eq!((v[1].op_type.as_str(), v[1].nanos), ("MatMul", 30));
        assert_eq!((v[2].op_type.as_str(), v[2].steps, v[2].nanos), ("Add", 2, 12));
        assert_eq!(p.total_ns(Clock::Gpu), 42);
        let ev = p.chrome_trace(3, "m");
        assert_eq!(ev.iter().filter(|e| e["ph"] == "X").count(), 4);
        assert_eq!(ev[4]["dur"], 0.03);
        assert_eq!(ev[6]["tid"], 1);
        let t = p.op_table(2, "  ");
        assert_eq!(t.lines().count(), 3);
        assert!(t.lines().nth(1).unwrap().trim_start().starts_with("Shape"), "{t}");
    }
}
