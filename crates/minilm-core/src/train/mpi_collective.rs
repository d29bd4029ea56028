//! The CPU engine of data-parallel training: MPI (Open MPI, MPICH) through rsmpi, in processes started
//! by `mpirun -np N` or Slurm's `srun`. MPI is initialised once per process, by the first trainer that
//! asks, and finalised by `finalize` (the CLI calls it before the process exits): MPI cannot be
//! initialised again in the same process, so trainers come and go while it stays up.

use std::sync::Mutex;

use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::datatype::Equivalence;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::Threading;

use super::collective::Collective;
use crate::error::{Error, Result};

static UNIVERSE: Mutex<Option<Universe>> = Mutex::new(None);

/// The most values one MPI call moves: its counts are 32-bit.
const PIECE: usize = 1 << 28;

/// The ranks of MPI's world communicator.
pub struct MpiCollective {
    world: SimpleCommunicator,
}

// SAFETY: MPI is initialised with Threading::Serialized: any thread may call it, one at a time. A
// trainer, which owns its collective, is only ever used by one thread at a time (minilm-node keeps it
// behind a mutex), and no other MPI calls are made.
unsafe impl Send for MpiCollective {}

impl MpiCollective {
    /// Joins the run's ranks, initialising MPI on first use.
    pub fn join() -> Result<Self> {
        let mut universe = UNIVERSE.lock().unwrap_or_else(|p| p.into_inner());
        if universe.is_none() {
            if mpi::environment::is_finalized() {
                return Err(Error::usage("MPI was already finalised in this process: a new data-parallel run needs a new process"));
            }
            let (started, threading) = mpi::initialize_with_threading(Threading::Serialized)
                .ok_or_else(|| Error::usage("MPI was initialised outside minilm in this process"))?;
            if threading < Threading::Serialized {
                return Err(Error::usage(format!(
                    "this MPI library offers {threading:?} threading; minilm needs Serialized (calls from one thread at a time)"
                )));
            }
            *universe = Some(started);
        }
        let world = universe.as_ref().expect("set above").world();
        Ok(MpiCollective { world })
    }

    /// Sums over the ranks into rank 0, in MPI's fixed order for this world size and length, then
    /// sends rank 0's sums to all: every rank ends with the same bits (an all-reduce does not promise
    /// that). Long buffers go in pieces that MPI's 32-bit counts can describe.
    fn sum<T: Equivalence + Copy + Default>(&self, values: &mut [T]) -> Result<()> {
        let root = self.world.process_at_rank(0);
        let mut sums = vec![T::default(); values.len().min(PIECE)];
        for piece in values.chunks_mut(PIECE) {
            if self.world.rank() == 0 {
                let sums = &mut sums[..piece.len()];
                root.reduce_into_root(&*piece, sums, SystemOperation::sum());
                piece.copy_from_slice(sums);
            } else {
                root.reduce_into(&*piece, SystemOperation::sum());
            }
            root.broadcast_into(piece);
        }
        Ok(())
    }
}

impl Collective for MpiCollective {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn world(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_f32(&self, values: &mut [f32]) -> Result<()> {
        self.sum(values)
    }

    fn sum_f64(&self, values: &mut [f64]) -> Result<()> {
        self.sum(values)
    }

    fn broadcast_f32(&self, values: &mut [f32], root: usize) -> Result<()> {
        let root = self.world.process_at_rank(root as i32);
        for piece in values.chunks_mut(PIECE) {
            root.broadcast_into(piece);
        }
        Ok(())
    }
}

/// Waits until every rank of the MPI job has come here (initialising MPI on first use): how the other
/// ranks wait for rank 0 to prepare a fine-tuning run's examples.
pub fn barrier() -> Result<()> {
    MpiCollective::join()?.world.barrier();
    Ok(())
}

/// Finalises MPI if a trainer initialised it; nothing otherwise. Call once, before the process exits:
/// mpirun reports a rank that exits without it as failed.
pub fn finalize() {
    UNIVERSE.lock().unwrap_or_else(|p| p.into_inner()).take();
}
