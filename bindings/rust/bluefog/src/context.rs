// SPDX-License-Identifier: Apache-2.0
// Context: the initialized library (one per process), its queries, topology state, timeline
// activities and every operation in four forms: slices, in place, async on owned Vecs, and raw
// DLPack tensors (device memory) behind unsafe fns.
use std::ffi::CString;
use std::os::raw::c_void;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use bluefog_sys as sys;

use crate::args::{AllreduceArgs, NeighborArgs, OpArgs, Prepared};
use crate::element::{Element, FloatElement};
use crate::error::{check, Error, Result, Status};
use crate::pending::Pending;
use crate::tensor::{Gathered, ManagedTensor, SliceTensor};
use crate::topology::Topology;

/// How operations are matched across ranks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MatchingMode {
    /// `BLUEFOG_MATCHING` from the environment, else ordered.
    #[default]
    Default,
    /// Global operations run in issue order on every rank, as in MPI and NCCL, with no
    /// coordination traffic; neighbor operations match by name.
    Ordered,
    /// Operations match by name and may be issued in different orders on different ranks (as
    /// autograd hooks do); global operations are ordered by negotiation.
    Named,
}

/// Options of [`Context::with_options`]. Zero / default fields mean "library default".
#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    /// Ranks per machine for the local/machine queries; 0: `BLUEFOG_NODES_PER_MACHINE`, else a
    /// shared-memory split.
    pub nodes_per_machine: i32,
    /// Matching mode.
    pub matching_mode: MatchingMode,
    /// Seconds an operation may wait before the engine names it on stderr; 0:
    /// `BLUEFOG_STALL_WARNING_S`, else 60; negative: never.
    pub stall_warning_s: f64,
    /// Writes a Chrome trace to `<prefix><rank>.json`; `None`: `BLUEFOG_TIMELINE`, else none.
    pub timeline_prefix: Option<String>,
    /// Small neighbor messages to one destination are fused while their payloads total at most
    /// this many bytes; 0: `BLUEFOG_FUSION_THRESHOLD`, else 8 MiB; negative: no fusion.
    pub fusion_threshold_bytes: i64,
    /// Milliseconds the engine waits after waking for more operations to fuse with; 0:
    /// `BLUEFOG_CYCLE_TIME`, else 0.
    pub cycle_time_ms: f64,
    /// Compression of neighbor operations whose arguments set none; `None`:
    /// `BLUEFOG_COMPRESSION`, else no compression.
    pub compression: Option<crate::Compression>,
    /// An MPI communicator to adopt instead of `MPI_COMM_WORLD` (the library duplicates it).
    pub mpi_comm: Option<MpiComm>,
}

/// The address of an `MPI_Comm` to adopt at initialization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpiComm(usize);

impl MpiComm {
    /// Wraps a pointer to an `MPI_Comm`.
    ///
    /// # Safety
    /// `comm` must point to a valid `MPI_Comm` of the MPI library libbluefog uses, and stay valid
    /// until the [`Context::with_options`] call that uses it returns.
    pub unsafe fn from_ptr(comm: *const c_void) -> MpiComm {
        MpiComm(comm as usize)
    }
}

/// True while a [`Context`] exists (at most one per process).
static CONTEXT_LIVE: AtomicBool = AtomicBool::new(false);
static GLOBAL: OnceLock<Result<Context>> = OnceLock::new();

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

extern "C" fn finalize_at_exit() {
    // SAFETY: runs once at process exit; a process that initialized MPI must finalize it or
    // mpirun reports failure.
    unsafe { sys::bf_finalize() };
}

/// The initialized library: MPI ranks, the engine thread, the process topology. At most one
/// exists per process; dropping it finalizes (collective: every rank drops it in the same order
/// relative to its operations). All methods take `&self` and may be called from any thread.
#[derive(Debug)]
pub struct Context {
    finalized: bool,
}

/// Which of the elementwise operations (output shaped like the input) to start.
enum Elementwise<'a> {
    Allreduce(&'a AllreduceArgs),
    Broadcast { root: i32, args: &'a OpArgs },
    Neighbor(&'a NeighborArgs),
    Hierarchical(&'a NeighborArgs),
    Gossip { peer: i32, self_weight: f64, pair_weight: f64, args: &'a OpArgs },
}

impl Elementwise<'_> {
    fn prepare(&self) -> Result<Prepared> {
        match self {
            Elementwise::Allreduce(args) => args.prepare(),
            Elementwise::Broadcast { args, .. } | Elementwise::Gossip { args, .. } => {
                args.prepare()
            }
            Elementwise::Neighbor(args) | Elementwise::Hierarchical(args) => args.prepare(),
        }
    }

    /// # Safety
    /// The tensors must be valid until the operation completes; `prepared` came from `prepare`.
    unsafe fn start(
        &self,
        prepared: &Prepared,
        input: *const sys::DLTensor,
        output: *mut sys::DLTensor,
        handle: *mut sys::bf_handle,
    ) -> sys::bf_status {
        match *self {
            Elementwise::Allreduce(_) => {
                sys::bf_allreduce_async(input, output, prepared.allreduce(), handle)
            }
            Elementwise::Broadcast { root, .. } => {
                sys::bf_broadcast_async(input, output, root, prepared.op(), handle)
            }
            Elementwise::Neighbor(_) => {
                sys::bf_neighbor_allreduce_async(input, output, prepared.neighbor(), handle)
            }
            Elementwise::Hierarchical(_) => sys::bf_hierarchical_neighbor_allreduce_async(
                input,
                output,
                prepared.neighbor(),
                handle,
            ),
            Elementwise::Gossip { peer, self_weight, pair_weight, .. } => {
                sys::bf_pair_gossip_async(
                    input,
                    output,
                    peer,
                    self_weight,
                    pair_weight,
                    prepared.op(),
                    handle,
                )
            }
        }
    }
}

/// Which gather to start (the library allocates the result).
enum Gather<'a> {
    All(&'a OpArgs),
    Neighbor(&'a NeighborArgs),
}

impl Gather<'_> {
    fn prepare(&self) -> Result<Prepared> {
        match self {
            Gather::All(args) => args.prepare(),
            Gather::Neighbor(args) => args.prepare(),
        }
    }

    unsafe fn start(
        &self,
        prepared: &Prepared,
        input: *const sys::DLTensor,
        output: *mut *mut sys::DLManagedTensor,
        handle: *mut sys::bf_handle,
    ) -> sys::bf_status {
        match self {
            Gather::All(_) => sys::bf_allgather_async(input, output, prepared.op(), handle),
            Gather::Neighbor(_) => {
                sys::bf_neighbor_allgather_async(input, output, prepared.neighbor(), handle)
            }
        }
    }
}

/// Where the library writes a gather result on completion. Boxed so its address is stable; frees
/// a result nobody took (a Pending dropped after success).
struct GatherSlot(Box<*mut sys::DLManagedTensor>);

// SAFETY: the slot holds a result owned exclusively by whoever holds the slot.
unsafe impl Send for GatherSlot {}

impl GatherSlot {
    fn new() -> GatherSlot {
        GatherSlot(Box::new(ptr::null_mut()))
    }

    fn ptr(&mut self) -> *mut *mut sys::DLManagedTensor {
        &mut *self.0
    }

    fn take(mut self) -> Result<ManagedTensor> {
        let raw = std::mem::replace(&mut *self.0, ptr::null_mut());
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::new(Status::Internal, "gather completed without a result"))?;
        // SAFETY: the library handed the tensor over to us.
        Ok(unsafe { ManagedTensor::from_raw(raw) })
    }
}

impl Drop for GatherSlot {
    fn drop(&mut self) {
        if let Some(raw) = NonNull::new(*self.0) {
            // SAFETY: an untaken result is still ours to free.
            drop(unsafe { ManagedTensor::from_raw(raw) });
        }
    }
}

fn same_length(input: usize, output: usize) -> Result<()> {
    if input == output {
        Ok(())
    } else {
        Err(Error::invalid(format!("output has {output} elements, input has {input}")))
    }
}

fn c_string(what: &str, text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::invalid(format!("{what} {text:?} contains a NUL byte")))
}

impl Context {
    /// Initializes BlueFog with default options (MPI from mpirun, `MPI_THREAD_MULTIPLE`).
    /// Collective over all ranks.
    pub fn init() -> Result<Context> {
        Context::with_options(&InitOptions::default())
    }

    /// Initializes BlueFog with options. Collective. Fails with `InvalidArgument` while another
    /// `Context` exists in this process.
    pub fn with_options(options: &InitOptions) -> Result<Context> {
        if CONTEXT_LIVE.swap(true, Ordering::AcqRel) {
            return Err(Error::invalid("a bluefog::Context already exists in this process"));
        }
        let timeline_prefix =
            match options.timeline_prefix.as_deref().map(|p| c_string("timeline_prefix", p)) {
                Some(Err(error)) => {
                    CONTEXT_LIVE.store(false, Ordering::Release);
                    return Err(error);
                }
                Some(Ok(prefix)) => Some(prefix),
                None => None,
            };
        let raw = sys::bf_init_options {
            mpi_comm: options.mpi_comm.map_or(ptr::null(), |comm| comm.0 as *const c_void),
            nodes_per_machine: options.nodes_per_machine,
            matching_mode: match options.matching_mode {
                MatchingMode::Default => sys::BF_MATCHING_DEFAULT,
                MatchingMode::Ordered => sys::BF_MATCHING_ORDERED,
                MatchingMode::Named => sys::BF_MATCHING_NAMED,
            },
            stall_warning_s: options.stall_warning_s,
            timeline_prefix: timeline_prefix.as_ref().map_or(ptr::null(), |p| p.as_ptr()),
            fusion_threshold_bytes: options.fusion_threshold_bytes,
            cycle_time_ms: options.cycle_time_ms,
            compression: options.compression.map_or(sys::BF_COMPRESSION_DEFAULT, |c| c.raw().0),
            topk_ratio: options.compression.map_or(0.0, |c| c.raw().1),
            ..Default::default()
        };
        match check(unsafe { sys::bf_init(&raw) }) {
            Ok(()) => Ok(Context { finalized: false }),
            Err(error) => {
                CONTEXT_LIVE.store(false, Ordering::Release);
                Err(error)
            }
        }
    }

    /// A process-wide context initialized on first use (thread-safe, once) and finalized when the
    /// process exits. For test harnesses and programs that never tear BlueFog down; a later
    /// [`Context::init`] in the same process fails.
    pub fn global() -> Result<&'static Context> {
        Context::global_with_options(&InitOptions::default())
    }

    /// [`Context::global`] with options, which only the first call (the one that initializes)
    /// uses.
    pub fn global_with_options(options: &InitOptions) -> Result<&'static Context> {
        GLOBAL
            .get_or_init(|| {
                let context = Context::with_options(options)?;
                // SAFETY: registering a plain extern "C" function.
                if unsafe { atexit(finalize_at_exit) } != 0 {
                    return Err(Error::new(Status::Internal, "atexit registration failed"));
                }
                Ok(context)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Finalizes now and reports the status (dropping does the same but ignores it). Collective.
    pub fn finalize(mut self) -> Result<()> {
        self.finalized = true;
        CONTEXT_LIVE.store(false, Ordering::Release);
        check(unsafe { sys::bf_finalize() })
    }

    /// This process's rank.
    pub fn rank(&self) -> i32 {
        unsafe { sys::bf_rank() }
    }

    /// Number of ranks.
    pub fn size(&self) -> i32 {
        unsafe { sys::bf_size() }
    }

    /// Rank within this machine.
    pub fn local_rank(&self) -> i32 {
        unsafe { sys::bf_local_rank() }
    }

    /// Number of ranks on this machine.
    pub fn local_size(&self) -> i32 {
        unsafe { sys::bf_local_size() }
    }

    /// This machine's index (machines are numbered by their lowest world rank).
    pub fn machine_rank(&self) -> i32 {
        unsafe { sys::bf_machine_rank() }
    }

    /// Number of machines.
    pub fn machine_size(&self) -> i32 {
        unsafe { sys::bf_machine_size() }
    }

    /// The matching mode in effect ([`MatchingMode::Ordered`] or [`MatchingMode::Named`]).
    pub fn matching_mode(&self) -> MatchingMode {
        match unsafe { sys::bf_matching_mode_in_effect() } {
            sys::BF_MATCHING_ORDERED => MatchingMode::Ordered,
            sys::BF_MATCHING_NAMED => MatchingMode::Named,
            _ => MatchingMode::Default,
        }
    }

    /// Switches every rank's matching mode at run time (BlueFog's `set_skip_negotiate_stage`).
    /// Collective: every rank calls it at the same point of its global operations, with the same
    /// mode (`Mismatch` on every rank otherwise). `InProgress` if this rank has operations in
    /// flight, or on every rank if some rank has global operations waiting; `InvalidArgument`
    /// for [`MatchingMode::Default`]. The mode is unchanged on failure.
    pub fn set_matching_mode(&self, mode: MatchingMode) -> Result<()> {
        let raw = match mode {
            MatchingMode::Default => sys::BF_MATCHING_DEFAULT,
            MatchingMode::Ordered => sys::BF_MATCHING_ORDERED,
            MatchingMode::Named => sys::BF_MATCHING_NAMED,
        };
        check(unsafe { sys::bf_set_matching_mode(raw) })
    }

    /// True if MPI runs at `MPI_THREAD_MULTIPLE`, so other threads may call MPI alongside the
    /// engine.
    pub fn mpi_threads_supported(&self) -> bool {
        unsafe { sys::bf_mpi_threads_supported() == 1 }
    }

    /// True: windows are served by the engine, which writes peers' data into the one copy of the
    /// window memory that local reads see (unified, in MPI's terms).
    pub fn unified_mpi_window_model_supported(&self) -> bool {
        unsafe { sys::bf_unified_mpi_window_model_supported() == 1 }
    }

    /// Suspends this rank's engine: every operation fails with [`Status::Suspended`] until
    /// [`resume`](Self::resume); queued work finishes, then the engine thread sleeps (waking
    /// every 50 ms while windows exist to serve peers' window requests).
    pub fn suspend(&self) -> Result<()> {
        check(unsafe { sys::bf_suspend() })
    }

    /// Ends [`suspend`](Self::suspend).
    pub fn resume(&self) -> Result<()> {
        check(unsafe { sys::bf_resume() })
    }

    /// True between [`suspend`](Self::suspend) and [`resume`](Self::resume).
    pub fn is_suspended(&self) -> bool {
        unsafe { sys::bf_suspended() == 1 }
    }

    /// True if every machine has the same local size and contiguous ranks (hierarchical
    /// operations need it).
    pub fn is_homogeneous(&self) -> bool {
        unsafe { sys::bf_is_homogeneous() == 1 }
    }

    /// Makes `topology` the process topology (copied). Collective: every rank passes the same graph
    /// and flag (`Mismatch` otherwise). `weighted`: static neighbor_allreduce uses the graph's
    /// weights; else uniform `1/(in-degree+1)`. `InProgress` while operations are in flight.
    pub fn set_topology(&self, topology: &Topology, weighted: bool) -> Result<()> {
        check(unsafe { sys::bf_set_topology(topology.as_ptr(), i32::from(weighted)) })
    }

    /// A copy of the process topology and its weighted flag.
    pub fn topology(&self) -> Result<(Topology, bool)> {
        let mut raw = ptr::null_mut();
        let mut weighted = 0;
        check(unsafe { sys::bf_get_topology(&mut raw, &mut weighted) })?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::new(Status::Internal, "bf_get_topology returned NULL"))?;
        // SAFETY: the copy is ours.
        Ok((unsafe { Topology::from_raw(raw) }, weighted != 0))
    }

    /// Infers the whole communication graph from every rank's destinations (BlueFog's
    /// `InferSourceFromDestinationRanks`): edge i -> j for each declared pair, uniform receive
    /// weights `1 / (in-degree + 1)`. Collective; every rank must declare destinations.
    pub fn infer_topology_from_destinations(&self, destinations: &[i32]) -> Result<Topology> {
        self.infer_topology(destinations, true)
    }

    /// Infers the whole communication graph from every rank's sources (BlueFog's
    /// `InferDestinationFromSourceRanks`). Collective; every rank must declare sources.
    pub fn infer_topology_from_sources(&self, sources: &[i32]) -> Result<Topology> {
        self.infer_topology(sources, false)
    }

    fn infer_topology(&self, ranks: &[i32], are_destinations: bool) -> Result<Topology> {
        let count = i32::try_from(ranks.len()).map_err(|_| Error::invalid("too many ranks"))?;
        let mut out = ptr::null_mut();
        check(unsafe {
            sys::bf_infer_topology(ranks.as_ptr(), count, i32::from(are_destinations), &mut out)
        })?;
        let raw = NonNull::new(out)
            .ok_or_else(|| Error::new(Status::Internal, "bf_infer_topology returned NULL"))?;
        // SAFETY: the inferred topology is ours.
        Ok(unsafe { Topology::from_raw(raw) })
    }

    /// Makes `topology` (over [`machine_size`](Self::machine_size) machines) the machine topology
    /// of static hierarchical operations. Collective, checked like
    /// [`set_topology`](Self::set_topology); needs a homogeneous layout.
    pub fn set_machine_topology(&self, topology: &Topology, weighted: bool) -> Result<()> {
        check(unsafe { sys::bf_set_machine_topology(topology.as_ptr(), i32::from(weighted)) })
    }

    /// A copy of the machine topology and its weighted flag, `None` if none was set.
    pub fn machine_topology(&self) -> Result<Option<(Topology, bool)>> {
        let mut raw = ptr::null_mut();
        let mut weighted = 0;
        check(unsafe { sys::bf_get_machine_topology(&mut raw, &mut weighted) })?;
        // SAFETY: a non-NULL copy is ours.
        Ok(NonNull::new(raw).map(|raw| (unsafe { Topology::from_raw(raw) }, weighted != 0)))
    }

    /// Begins a timeline activity under `name` on this thread (the timeline is on when
    /// `BLUEFOG_TIMELINE` was set at initialization; else `Unsupported`).
    pub fn timeline_start_activity(&self, name: &str, activity: &str) -> Result<()> {
        let name = c_string("name", name)?;
        let activity = c_string("activity", activity)?;
        check(unsafe { sys::bf_timeline_start_activity(name.as_ptr(), activity.as_ptr()) })
    }

    /// Ends the innermost activity this thread began under `name`.
    pub fn timeline_end_activity(&self, name: &str) -> Result<()> {
        let name = c_string("name", name)?;
        check(unsafe { sys::bf_timeline_end_activity(name.as_ptr()) })
    }

    /// Begins an activity that ends when the returned guard is dropped (on this thread).
    pub fn timeline_activity(&self, name: &str, activity: &str) -> Result<TimelineActivity<'_>> {
        self.timeline_start_activity(name, activity)?;
        Ok(TimelineActivity { context: self, name: name.to_owned() })
    }

    // ----- shared paths: every operation starts asynchronously; blocking forms wait at once -----

    /// Starts an elementwise operation; `finish` owns the buffers and yields the result.
    fn launch<'c, R>(
        &'c self,
        op: &Elementwise<'_>,
        input: *const sys::DLTensor,
        output: *mut sys::DLTensor,
        finish: impl FnOnce() -> Result<R> + Send + 'c,
    ) -> Result<Pending<'c, R>> {
        let prepared = op.prepare()?;
        let mut handle = 0;
        // SAFETY: the callers keep the tensors alive until completion (inside `finish`, or by
        // waiting before they return, or by the raw functions' contract).
        check(unsafe { op.start(&prepared, input, output, &mut handle) })?;
        Ok(Pending::new(
            handle,
            Box::new(move || {
                let result = finish();
                drop(prepared);
                result
            }),
        ))
    }

    fn elementwise<T: Element>(
        &self,
        op: Elementwise<'_>,
        input: &[T],
        output: &mut [T],
    ) -> Result<()> {
        same_length(input.len(), output.len())?;
        let input_tensor = SliceTensor::new(input.as_ptr(), input.len());
        let mut output_tensor = SliceTensor::new(output.as_mut_ptr() as *const T, output.len());
        let (input_ptr, output_ptr) = (input_tensor.ptr(), output_tensor.ptr_mut());
        // Waited for before the borrows end.
        self.launch(&op, input_ptr, output_ptr, move || {
            drop((input_tensor, output_tensor));
            Ok(())
        })?
        .wait()
    }

    fn elementwise_in_place<T: Element>(&self, op: Elementwise<'_>, data: &mut [T]) -> Result<()> {
        let mut tensor = SliceTensor::new(data.as_mut_ptr() as *const T, data.len());
        let ptr = tensor.ptr_mut();
        self.launch(&op, ptr, ptr, move || {
            drop(tensor);
            Ok(())
        })?
        .wait()
    }

    fn elementwise_async<T: Element>(
        &self,
        op: Elementwise<'_>,
        mut data: Vec<T>,
    ) -> Result<Pending<'_, Vec<T>>> {
        let mut tensor = SliceTensor::new(data.as_mut_ptr() as *const T, data.len());
        let ptr = tensor.ptr_mut();
        // Moving the Vec into the closure does not move its heap buffer.
        self.launch(&op, ptr, ptr, move || {
            drop(tensor);
            Ok(data)
        })
    }

    /// Starts a gather; `finish` turns the library's result into R.
    fn launch_gather<'c, R>(
        &'c self,
        op: &Gather<'_>,
        input: *const sys::DLTensor,
        finish: impl FnOnce(ManagedTensor) -> Result<R> + Send + 'c,
    ) -> Result<Pending<'c, R>> {
        let prepared = op.prepare()?;
        let mut slot = GatherSlot::new();
        let mut handle = 0;
        // SAFETY: as in `launch`; the slot is boxed and travels with the Pending.
        check(unsafe { op.start(&prepared, input, slot.ptr(), &mut handle) })?;
        Ok(Pending::new(
            handle,
            Box::new(move || {
                drop(prepared);
                finish(slot.take()?)
            }),
        ))
    }

    fn gather<T: Element>(&self, op: Gather<'_>, input: &[T]) -> Result<Gathered<T>> {
        let tensor = SliceTensor::new(input.as_ptr(), input.len());
        let ptr = tensor.ptr();
        self.launch_gather(&op, ptr, move |result| {
            drop(tensor);
            Gathered::new(result)
        })?
        .wait()
    }

    fn gather_async<T: Element>(
        &self,
        op: Gather<'_>,
        data: Vec<T>,
    ) -> Result<Pending<'_, Gathered<T>>> {
        let tensor = SliceTensor::new(data.as_ptr(), data.len());
        let ptr = tensor.ptr();
        self.launch_gather(&op, ptr, move |result| {
            drop((tensor, data));
            Gathered::new(result)
        })
    }

    // ----- allreduce -----

    /// `output` = sum or average over ranks of `input` (same length). Collective over all ranks.
    pub fn allreduce<T: Element>(
        &self,
        input: &[T],
        output: &mut [T],
        args: &AllreduceArgs,
    ) -> Result<()> {
        self.elementwise(Elementwise::Allreduce(args), input, output)
    }

    /// Allreduce in place.
    pub fn allreduce_in_place<T: Element>(
        &self,
        data: &mut [T],
        args: &AllreduceArgs,
    ) -> Result<()> {
        self.elementwise_in_place(Elementwise::Allreduce(args), data)
    }

    /// Starts an in-place allreduce of `data`; the Pending gives the Vec back with the result.
    pub fn allreduce_async<T: Element>(
        &self,
        data: Vec<T>,
        args: &AllreduceArgs,
    ) -> Result<Pending<'_, Vec<T>>> {
        self.elementwise_async(Elementwise::Allreduce(args), data)
    }

    /// Allreduce of raw DLPack tensors (any device the library supports).
    ///
    /// # Safety
    /// `input` and `output` must point to valid DLTensors whose data, shape and strides stay valid
    /// (and `output`'s data unaliased except by `input`) until the call returns.
    pub unsafe fn allreduce_raw(
        &self,
        input: *const sys::DLTensor,
        output: *mut sys::DLTensor,
        args: &AllreduceArgs,
    ) -> Result<()> {
        self.launch(&Elementwise::Allreduce(args), input, output, || Ok(()))?.wait()
    }

    /// Starts an allreduce of raw DLPack tensors.
    ///
    /// # Safety
    /// As [`allreduce_raw`](Self::allreduce_raw), until the returned Pending has completed
    /// (waited or dropped); leaking the Pending leaves the tensors in use forever.
    pub unsafe fn allreduce_raw_async(
        &self,
        input: *const sys::DLTensor,
        output: *mut sys::DLTensor,
        args: &AllreduceArgs,
    ) -> Result<Pending<'_, ()>> {
        self.launch(&Elementwise::Allreduce(args), input, output, || Ok(()))
    }

    // ----- broadcast -----

    /// `output` = `input` of `root` on every rank (same length everywhere). Collective.
    pub fn broadcast<T: Element>(
        &self,
        input: &[T],
        output: &mut [T],
        root: i32,
        args: &OpArgs,
    ) -> Result<()> {
        self.elementwise(Elementwise::Broadcast { root, args }, input, output)
    }

    /// Broadcast in place: `data` becomes root's `data`.
    pub fn broadcast_in_place<T: Element>(
        &self,
        data: &mut [T],
        root: i32,
        args: &OpArgs,
    ) -> Result<()> {
        self.elementwise_in_place(Elementwise::Broadcast { root, args }, data)
    }

    /// Starts an in-place broadcast of `data`.
    pub fn broadcast_async<T: Element>(
        &self,
        data: Vec<T>,
        root: i32,
        args: &OpArgs,
    ) -> Result<Pending<'_, Vec<T>>> {
        self.elementwise_async(Elementwise::Broadcast { root, args }, data)
    }

    /// Broadcast of raw DLPack tensors.
    ///
    /// # Safety
    /// As [`allreduce_raw`](Self::allreduce_raw).
    pub unsafe fn broadcast_raw(
        &self,
        input: *const sys::DLTensor,
        output: *mut sys::DLTensor,
        root: i32,
        args: &OpArgs,
    ) -> Result<()> {
        self.launch(&Elementwise::Broadcast { root, args }, input, output, || Ok(()))?.wait()
    }

    /// Starts a broadcast of raw DLPack tensors.
    ///
    /// # Safety
    /// As [`allreduce_raw_async`](Self::allreduce_raw_async).
    pub unsafe fn broadcast_raw_async(
        &self,
        input: *const sys::DLTensor,
        output: *mut sys::DLTensor,
        root: i32,
        args: &OpArgs,
    ) -> Result<Pending<'_, ()>> {
        self.launch(&Elementwise::Broadcast { root, args }, input, output, || Ok(()))
    }

    // ----- neighbor_allreduce -----

    /// Weighted average with neighbors (see [`NeighborArgs`]); `output` has `input`'s length.
    /// Collective over the ranks involved.
    pub fn neighbor_allreduce<T: FloatElement>(
        &self,
        input: &[T],
        output: &mut [T],
        args: &NeighborArgs,
    ) -> Result<()> {
        self.elementwise(Elementwise::Neighbor(args), input, output)
    }

    /// neighbor_allreduce in place.
    pub fn neighbor_allreduce_in_place<T: FloatElement>(
        &self,
        data: &mut [T],
        args: &NeighborArgs,
    ) -> Result<()> {
        self.elementwise_in_place(Elementwise::Neighbor(args), data)
    }

    /// Starts an in-place neighbor_allreduce of `data` (overlap it with computation).
    pub fn neighbor_allreduce_async<T: FloatElement>(
        &self,
        data: Vec<T>,
        args: &NeighborArgs,
    ) -> Result<Pending<'_, Vec<T>>> {
        self.elementwise_async(Elementwise::Neighbor(args), data)
    }

    /// neighbor_allreduce of raw DLPack tensors.
    ///
    /// # Safety
    /// As [`allreduce_raw`](Self::allreduce_raw).
    pub unsafe fn neighbor_allreduce_raw(
        &self,
        input: *const sys::DLTensor,
        output: *mut sys::DLTensor,
        args: &NeighborArgs,
    ) -> Result<()> {
        self.launch(&Elementwise::Neighbor(args), input, output, || Ok(()))?.wait()
    }

    /// Starts a neighbor_allreduce of raw DLPack tensors.
    ///
    /// # Safety
    /// As [`allreduce_raw_async`](Self::allreduce_raw_async).
    pub unsafe fn neighbor_allreduce_raw_async(
        &self,
        input: *const sys::DLTensor,
        output: *mut sys::DLTensor,
        args: &NeighborArgs,
    ) -> Result<Pending<'_, ()>> {
        self.launch(&Elementwise::Neighbor(args), input, output, || Ok(()))
    }

    // ----- hierarchical_neighbor_allreduce -----

    /// Hierarchical neighbor averaging (homogeneous layouts): the tensor is summed within each
    /// machine, machine sums are neighbor-averaged between machines over the machine topology (or
    /// the dynamic machine lists of `args`, machine ids in place of ranks), and the result,
    /// divided by the local size, is shared within the machine. Collective over all ranks.
    pub fn hierarchical_neighbor_allreduce<T: FloatElement>(
        &self,
        input: &[T],
        output: &mut [T],
        args: &NeighborArgs,
    ) -> Result<()> {
        self.elementwise(Elementwise::Hierarchical(args), input, output)
    }

    /// hierarchical_neighbor_allreduce in place.
    pub fn hierarchical_neighbor_allreduce_in_place<T: FloatElement>(
        &self,
        data: &mut [T],
        args: &NeighborArgs,
    ) -> Result<()> {
        self.elementwise_in_place(Elementwise::Hierarchical(args), data)
    }

    /// Starts an in-place hierarchical_neighbor_allreduce of `data`.
    pub fn hierarchical_neighbor_allreduce_async<T: FloatElement>(
        &self,
        data: Vec<T>,
        args: &NeighborArgs,
    ) -> Result<Pending<'_, Vec<T>>> {
        self.elementwise_async(Elementwise::Hierarchical(args), data)
    }

    /// hierarchical_neighbor_allreduce of raw DLPack tensors.
    ///
    /// # Safety
    /// As [`allreduce_raw`](Self::allreduce_raw).
    pub unsafe fn hierarchical_neighbor_allreduce_raw(
        &self,
        input: *const sys::DLTensor,
        output: *mut sys::DLTensor,
        args: &NeighborArgs,
    ) -> Result<()> {
        self.launch(&Elementwise::Hierarchical(args), input, output, || Ok(()))?.wait()
    }

    /// Starts a hierarchical_neighbor_allreduce of raw DLPack tensors.
    ///
    /// # Safety
    /// As [`allreduce_raw_async`](Self::allreduce_raw_async).
    pub unsafe fn hierarchical_neighbor_allreduce_raw_async(
        &self,
        input: *const sys::DLTensor,
        output: *mut sys::DLTensor,
        args: &NeighborArgs,
    ) -> Result<Pending<'_, ()>> {
        self.launch(&Elementwise::Hierarchical(args), input, output, || Ok(()))
    }

    // ----- pair_gossip -----

    /// `output = self_weight * input + pair_weight * (peer's input)`. Collective over this rank
    /// and `peer`, which must name this rank as its peer. BlueFog's default weights are 0.5, 0.5.
    pub fn pair_gossip<T: FloatElement>(
        &self,
        input: &[T],
        output: &mut [T],
        peer: i32,
        self_weight: f64,
        pair_weight: f64,
        args: &OpArgs,
    ) -> Result<()> {
        self.elementwise(
            Elementwise::Gossip { peer, self_weight, pair_weight, args },
            input,
            output,
        )
    }

    /// pair_gossip in place.
    pub fn pair_gossip_in_place<T: FloatElement>(
        &self,
        data: &mut [T],
        peer: i32,
        self_weight: f64,
        pair_weight: f64,
        args: &OpArgs,
    ) -> Result<()> {
        self.elementwise_in_place(
            Elementwise::Gossip { peer, self_weight, pair_weight, args },
            data,
        )
    }

    /// Starts an in-place pair_gossip of `data`.
    pub fn pair_gossip_async<T: FloatElement>(
        &self,
        data: Vec<T>,
        peer: i32,
        self_weight: f64,
        pair_weight: f64,
        args: &OpArgs,
    ) -> Result<Pending<'_, Vec<T>>> {
        self.elementwise_async(Elementwise::Gossip { peer, self_weight, pair_weight, args }, data)
    }

    /// pair_gossip of raw DLPack tensors.
    ///
    /// # Safety
    /// As [`allreduce_raw`](Self::allreduce_raw).
    pub unsafe fn pair_gossip_raw(
        &self,
        input: *const sys::DLTensor,
        output: *mut sys::DLTensor,
        peer: i32,
        self_weight: f64,
        pair_weight: f64,
        args: &OpArgs,
    ) -> Result<()> {
        let op = Elementwise::Gossip { peer, self_weight, pair_weight, args };
        self.launch(&op, input, output, || Ok(()))?.wait()
    }

    /// Starts a pair_gossip of raw DLPack tensors.
    ///
    /// # Safety
    /// As [`allreduce_raw_async`](Self::allreduce_raw_async).
    pub unsafe fn pair_gossip_raw_async(
        &self,
        input: *const sys::DLTensor,
        output: *mut sys::DLTensor,
        peer: i32,
        self_weight: f64,
        pair_weight: f64,
        args: &OpArgs,
    ) -> Result<Pending<'_, ()>> {
        let op = Elementwise::Gossip { peer, self_weight, pair_weight, args };
        self.launch(&op, input, output, || Ok(()))
    }

    // ----- allgather and neighbor_allgather -----

    /// Concatenation of every rank's `input` in rank order; lengths may differ. Collective.
    pub fn allgather<T: Element>(&self, input: &[T], args: &OpArgs) -> Result<Gathered<T>> {
        self.gather(Gather::All(args), input)
    }

    /// Starts an allgather of `data`.
    pub fn allgather_async<T: Element>(
        &self,
        data: Vec<T>,
        args: &OpArgs,
    ) -> Result<Pending<'_, Gathered<T>>> {
        self.gather_async(Gather::All(args), data)
    }

    /// Allgather of a raw DLPack tensor (concatenated along dim 0; the result is host memory).
    ///
    /// # Safety
    /// `input` must point to a valid DLTensor whose data, shape and strides stay valid until the
    /// call returns.
    pub unsafe fn allgather_raw(
        &self,
        input: *const sys::DLTensor,
        args: &OpArgs,
    ) -> Result<ManagedTensor> {
        self.launch_gather(&Gather::All(args), input, Ok)?.wait()
    }

    /// Starts an allgather of a raw DLPack tensor.
    ///
    /// # Safety
    /// As [`allgather_raw`](Self::allgather_raw), until the returned Pending has completed.
    pub unsafe fn allgather_raw_async(
        &self,
        input: *const sys::DLTensor,
        args: &OpArgs,
    ) -> Result<Pending<'_, ManagedTensor>> {
        self.launch_gather(&Gather::All(args), input, Ok)
    }

    /// Concatenation of the in-neighbors' `input`s (self excluded): ascending rank order in static
    /// mode, the sources' order in dynamic mode. Weights are ignored. Collective over the ranks
    /// involved.
    pub fn neighbor_allgather<T: Element>(
        &self,
        input: &[T],
        args: &NeighborArgs,
    ) -> Result<Gathered<T>> {
        self.gather(Gather::Neighbor(args), input)
    }

    /// Starts a neighbor_allgather of `data`.
    pub fn neighbor_allgather_async<T: Element>(
        &self,
        data: Vec<T>,
        args: &NeighborArgs,
    ) -> Result<Pending<'_, Gathered<T>>> {
        self.gather_async(Gather::Neighbor(args), data)
    }

    /// neighbor_allgather of a raw DLPack tensor.
    ///
    /// # Safety
    /// As [`allgather_raw`](Self::allgather_raw).
    pub unsafe fn neighbor_allgather_raw(
        &self,
        input: *const sys::DLTensor,
        args: &NeighborArgs,
    ) -> Result<ManagedTensor> {
        self.launch_gather(&Gather::Neighbor(args), input, Ok)?.wait()
    }

    /// Starts a neighbor_allgather of a raw DLPack tensor.
    ///
    /// # Safety
    /// As [`allgather_raw_async`](Self::allgather_raw_async).
    pub unsafe fn neighbor_allgather_raw_async(
        &self,
        input: *const sys::DLTensor,
        args: &NeighborArgs,
    ) -> Result<Pending<'_, ManagedTensor>> {
        self.launch_gather(&Gather::Neighbor(args), input, Ok)
    }

    // ----- barrier -----

    /// Returns once every rank has entered the barrier.
    pub fn barrier(&self) -> Result<()> {
        check(unsafe { sys::bf_barrier() })
    }

    /// Starts a barrier.
    pub fn barrier_async(&self) -> Result<Pending<'_, ()>> {
        let mut handle = 0;
        check(unsafe { sys::bf_barrier_async(&mut handle) })?;
        Ok(Pending::new(handle, Box::new(|| Ok(()))))
    }
}

/// Ends a timeline activity when dropped.
#[must_use = "the activity ends when this guard is dropped"]
#[derive(Debug)]
pub struct TimelineActivity<'c> {
    context: &'c Context,
    name: String,
}

impl Drop for TimelineActivity<'_> {
    fn drop(&mut self) {
        let _ = self.context.timeline_end_activity(&self.name);
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if !self.finalized {
            let _ = unsafe { sys::bf_finalize() };
            CONTEXT_LIVE.store(false, Ordering::Release);
        }
    }
}
