// SPDX-License-Identifier: Apache-2.0
//! Dynamic schedules: pure functions of the step (step 0 is the first) that give each rank whom to
//! send to and receive from, identical on every rank and to BlueFog's generators. Feed them to
//! [`NeighborArgs`] with [`SendRecv::neighbor_args`].
use std::os::raw::c_int;

use bluefog_sys as sys;

use crate::args::NeighborArgs;
use crate::error::{check, Result};
use crate::topology::Topology;

/// One step of a dynamic schedule for one rank (or machine).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendRecv {
    /// Ranks (or machines) to send to.
    pub send: Vec<i32>,
    /// Ranks (or machines) to receive from.
    pub recv: Vec<i32>,
}

impl SendRecv {
    /// The uniform weight to pair with this step: `1 / (recv.len() + 1)`.
    pub fn uniform_weight(&self) -> f64 {
        1.0 / (self.recv.len() as f64 + 1.0)
    }

    /// Dynamic neighbor arguments for this step with uniform weights (self included).
    pub fn neighbor_args(&self) -> NeighborArgs {
        let weight = self.uniform_weight();
        let sources: Vec<(i32, f64)> = self.recv.iter().map(|&rank| (rank, weight)).collect();
        NeighborArgs::new().with_weights(weight, &sources).dynamic(&self.send)
    }
}

type ScheduleFn = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    i64,
    *mut c_int,
    *mut c_int,
    *mut c_int,
    *mut c_int,
    c_int,
) -> sys::bf_status;

/// Calls a schedule with `capacity` entries per list and trims the lists to their counts.
fn collect(
    capacity: i32,
    call: impl FnOnce(*mut c_int, *mut c_int, *mut c_int, *mut c_int, c_int) -> sys::bf_status,
) -> Result<SendRecv> {
    let capacity = capacity.max(1);
    let mut send = vec![0; capacity as usize];
    let mut recv = vec![0; capacity as usize];
    let (mut send_count, mut recv_count) = (0, 0);
    check(call(send.as_mut_ptr(), &mut send_count, recv.as_mut_ptr(), &mut recv_count, capacity))?;
    send.truncate(send_count as usize);
    recv.truncate(recv_count as usize);
    Ok(SendRecv { send, recv })
}

fn world_schedule(
    schedule: ScheduleFn,
    world_size: i32,
    local_size: i32,
    rank: i32,
    step: i64,
) -> Result<SendRecv> {
    collect(world_size, |send, send_count, recv, recv_count, capacity| unsafe {
        schedule(world_size, local_size, rank, step, send, send_count, recv, recv_count, capacity)
    })
}

/// One peer per step, cycling through `rank`'s out-neighbors by clockwise distance; receives from
/// every rank whose turn points at `rank`.
pub fn one_peer(topology: &Topology, rank: i32, step: i64) -> Result<SendRecv> {
    collect(topology.size(), |send, send_count, recv, recv_count, capacity| unsafe {
        sys::bf_schedule_one_peer(
            topology.as_ptr(),
            rank,
            step,
            send,
            send_count,
            recv,
            recv_count,
            capacity,
        )
    })
}

/// Machine ids for an exponential-two schedule between machines of `local_size` ranks.
pub fn exp2_machine(world_size: i32, local_size: i32, rank: i32, step: i64) -> Result<SendRecv> {
    world_schedule(sys::bf_schedule_exp2_machine, world_size, local_size, rank, step)
}

/// A ring inside each machine, one rank per step crossing to the next machine. Needs
/// `local_size > 2`.
pub fn inner_outer_ring(
    world_size: i32,
    local_size: i32,
    rank: i32,
    step: i64,
) -> Result<SendRecv> {
    world_schedule(sys::bf_schedule_inner_outer_ring, world_size, local_size, rank, step)
}

/// Exponential-two inside and across machines. Needs `local_size > 2` and two machines or more.
pub fn inner_outer_exp2(
    world_size: i32,
    local_size: i32,
    rank: i32,
    step: i64,
) -> Result<SendRecv> {
    world_schedule(sys::bf_schedule_inner_outer_exp2, world_size, local_size, rank, step)
}
