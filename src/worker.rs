//! The dynamic background workers insync starts (segment workers, the catalog writer): one
//! launch helper, one shared-memory layout, one way of treating SIGTERM.
//!
//! Shared memory: `[magic u32][task counter u32][payload length u64][payload]`. The payload
//! is the JSON of what the workers need; the counter hands out tasks to workers that share
//! them. The magic number guards against attaching to a segment that is not insync's.

use pgrx::bgworkers::BackgroundWorkerBuilder;
use pgrx::pg_sys;
use std::sync::atomic::AtomicU32;

const MAGIC: u32 = 0x494e_5359; // "INSY"
const MAGIC_AT: usize = 0;
const COUNTER_AT: usize = 4;
const LENGTH_AT: usize = 8;
const PAYLOAD_AT: usize = 16;

/// Workers started for one piece of work, and the shared memory they read.
#[derive(Clone)]
pub struct Launched {
    pub segment: *mut pg_sys::dsm_segment,
    pub handles: Vec<*mut pg_sys::BackgroundWorkerHandle>,
}

impl Launched {
    /// Detaches this backend from the shared memory (after the workers stopped).
    pub fn detach(&self) {
        // SAFETY: created by `launch` in this backend and not yet detached.
        unsafe { pg_sys::dsm_detach(self.segment) };
    }
}

/// Starts up to `count` workers running `function` (an `extern "C-unwind"` entry point of this
/// library), named by `name(n)`, with `payload` in shared memory. `None` when not one could
/// start (the shared memory is released then).
pub fn launch(
    kind: &str,
    function: &str,
    name: impl Fn(u32) -> String,
    payload: &[u8],
    count: u32,
) -> Option<Launched> {
    // SAFETY: the segment is sized for the header and the payload; it stays attached until
    // the caller detaches it, after every worker has stopped (workers attach themselves).
    let segment = unsafe {
        let segment = pg_sys::dsm_create(PAYLOAD_AT + payload.len(), 0);
        let base = pg_sys::dsm_segment_address(segment) as *mut u8;
        (base.add(MAGIC_AT) as *mut u32).write(MAGIC);
        (base.add(COUNTER_AT) as *mut AtomicU32).write(AtomicU32::new(0));
        (base.add(LENGTH_AT) as *mut u64).write(payload.len() as u64);
        std::ptr::copy_nonoverlapping(payload.as_ptr(), base.add(PAYLOAD_AT), payload.len());
        segment
    };
    let handle = unsafe { pg_sys::dsm_segment_handle(segment) };
    let mut handles = Vec::new();
    for n in 0..count {
        let builder = BackgroundWorkerBuilder::new(&name(n))
            .set_type(kind)
            .set_library("insync")
            .set_function(function)
            .set_argument(Some(pg_sys::Datum::from(handle)))
            .enable_spi_access()
            .set_notify_pid(unsafe { pg_sys::MyProcPid });
        let mut worker: pg_sys::BackgroundWorker = (&builder).into();
        let mut handle_ptr: *mut pg_sys::BackgroundWorkerHandle = std::ptr::null_mut();
        // SAFETY: registers a copy of `worker`; on success `handle_ptr` is valid for this backend.
        if unsafe { pg_sys::RegisterDynamicBackgroundWorker(&mut worker, &mut handle_ptr) } {
            handles.push(handle_ptr);
        } else {
            break;
        }
    }
    let launched = Launched { segment, handles };
    if launched.handles.is_empty() {
        launched.detach();
        return None;
    }
    Some(launched)
}

unsafe extern "C-unwind" {
    /// Postgres' own SIGTERM handler for backends (pgrx wraps `pg_sys::die` as a Rust fn).
    #[link_name = "die"]
    fn postgres_die(signal: std::ffi::c_int);
}

/// What a worker sees of its shared memory.
pub struct Attached {
    segment: *mut pg_sys::dsm_segment,
    pub payload: Vec<u8>,
    /// The task counter shared by the workers of one launch.
    pub counter: &'static AtomicU32,
}

impl Attached {
    pub fn detach(self) {
        // SAFETY: attached by `attach` in this worker.
        unsafe { pg_sys::dsm_detach(self.segment) };
    }
}

/// First thing a worker does: SIGTERM (pg_terminate_backend, a cancelled leader) ends it at
/// the next interrupt check — also while it waits for a lock — aborting its transaction, as for
/// a regular backend; then it attaches to its shared memory. `None` (logged) when the memory is
/// gone or not insync's.
pub fn attach(arg: pg_sys::Datum, kind: &str) -> Option<Attached> {
    // SAFETY: installing the backend's standard handler, then unblocking signals, as
    // bgworker entry points do.
    unsafe {
        pg_sys::pqsignal(pg_sys::SIGTERM as i32, Some(postgres_die));
        pg_sys::BackgroundWorkerUnblockSignals();
    }
    let handle = arg.value() as pg_sys::dsm_handle;
    // SAFETY: the launching backend keeps the segment alive until this worker has stopped;
    // the header is checked before the payload is read.
    unsafe {
        let segment = pg_sys::dsm_attach(handle);
        if segment.is_null() {
            pgrx::log!("{kind}: its shared memory is gone");
            return None;
        }
        pg_sys::dsm_pin_mapping(segment);
        let base = pg_sys::dsm_segment_address(segment) as *mut u8;
        if (base.add(MAGIC_AT) as *const u32).read() != MAGIC {
            pgrx::log!("{kind}: shared memory without insync's magic number");
            pg_sys::dsm_detach(segment);
            return None;
        }
        let len = (base.add(LENGTH_AT) as *const u64).read() as usize;
        let payload = std::slice::from_raw_parts(base.add(PAYLOAD_AT), len).to_vec();
        Some(Attached {
            segment,
            payload,
            counter: &*(base.add(COUNTER_AT) as *const AtomicU32),
        })
    }
}
