// The emulator's runtime (cuda_emulator.h describes what it emulates and what it cannot catch): runs a
// kernel over a grid, block after block, each block's threads as fibers (ucontext) on the calling thread.
// A fiber runs until it reaches a barrier (__syncthreads or a warp shuffle) or returns; the scheduler
// resumes the fibers in rounds, and a round in which no fiber moves is a deadlock, reported as an error
// naming what each waiting thread waits for.
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "cuda_emulator.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define MINILM_EMU_ASAN 1
#endif

namespace minilm_emu {
dim3 grid_dim, block_dim, block_idx;
// One stack per thread of a block, mapped per launch.
std::vector<char*> stacks;

namespace {

enum class Wait { Nothing, Block, Warp };

struct Fiber {
  ucontext_t context;
  dim3 index;
  int warp = 0, lane = 0;
  bool finished = false;
  Wait wait = Wait::Nothing;
  void* stack = nullptr;
#ifdef MINILM_EMU_ASAN
  void* fake_stack = nullptr;
#endif
};

struct Warp {
  uint64_t slots[32];
  int lanes = 32;            // lanes that exist (the last warp of a block may be partial)
  unsigned arrived = 0;      // lanes waiting at the warp's barrier
  unsigned mask = 0;         // the mask they arrived with
  unsigned exited = 0;       // lanes whose thread has returned
  uint64_t generation = 0;   // bumped each time the barrier releases
};

// One launch: the kernel body, and the running block's fibers and barriers.
struct Launch {
  void (*body)(void*);
  void* context;
  size_t stack_bytes;
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  int live = 0;                   // threads of the block that have not returned
  int block_arrived = 0;          // threads waiting at __syncthreads
  uint64_t block_generation = 0;  // bumped each time __syncthreads releases
  uint64_t progress = 0;          // arrivals, releases and exits: a round without any is a deadlock
  Fiber* current = nullptr;
  ucontext_t scheduler;
  std::string error;
#ifdef MINILM_EMU_ASAN
  const void* scheduler_stack = nullptr;
  size_t scheduler_stack_size = 0;
  void* scheduler_fake_stack = nullptr;
#endif
};

Launch* launch = nullptr;
std::string describe_block() {
  return "block (" + std::to_string(block_idx.x) + "," + std::to_string(block_idx.y) + "," + std::to_string(block_idx.z) +
         ")";
}

std::string describe_thread(const Fiber& f) {
  return "thread (" + std::to_string(f.index.x) + "," + std::to_string(f.index.y) + "," + std::to_string(f.index.z) +
         ") of " + describe_block();
}

// From the running fiber back to the scheduler.
void to_scheduler(bool finishing) {
  Fiber* f = launch->current;
#ifdef MINILM_EMU_ASAN
  __sanitizer_start_switch_fiber(finishing ? nullptr : &f->fake_stack, launch->scheduler_stack, launch->scheduler_stack_size);
#endif
  swapcontext(&f->context, &launch->scheduler);
#ifdef MINILM_EMU_ASAN
  __sanitizer_finish_switch_fiber(f->fake_stack, &launch->scheduler_stack, &launch->scheduler_stack_size);
#endif
  (void)finishing;
}

// Stops the running fiber for good with `message`; the launch reports the first such error.
[[noreturn]] void fail(const std::string& message) {
  if (launch->error.empty()) launch->error = message + " (" + describe_thread(*launch->current) + ")";
  launch->current->finished = true;
  to_scheduler(true);
  __builtin_unreachable();
}

void release_block_if_all_arrived() {
  if (launch->block_arrived > 0 && launch->block_arrived >= launch->live) {
    launch->block_arrived = 0;
    launch->block_generation++;
    launch->progress++;
  }
}

void fiber_main() {
  Fiber* f = launch->current;
#ifdef MINILM_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &launch->scheduler_stack, &launch->scheduler_stack_size);
#endif
  launch->body(launch->context);
  f->finished = true;
  launch->live--;
  launch->progress++;
  Warp& w = launch->warps[f->warp];
  w.exited |= 1u << f->lane;
  if (w.arrived != 0 && (w.mask >> f->lane & 1)) {
    if (launch->error.empty()) launch->error = "a thread returned while its warp's lanes wait for it in a shuffle (" + describe_thread(*f) + ")";
  }
  // Threads that have returned count as arrived at __syncthreads, as on the hardware.
  release_block_if_all_arrived();
  to_scheduler(true);
}

void warp_barrier(Fiber* f, Warp& w, unsigned mask) {
  if (w.arrived == 0) {
    w.mask = mask;
  } else if (w.mask != mask) {
    fail("lanes of warp " + std::to_string(f->warp) + " shuffle with different masks");
  }
  const uint64_t generation = w.generation;
  w.arrived |= 1u << f->lane;
  launch->progress++;
  if (w.arrived == mask) {
    w.arrived = 0;
    w.generation++;
  }
  while (w.generation == generation) {
    f->wait = Wait::Warp;
    to_scheduler(false);
  }
  f->wait = Wait::Nothing;
}

std::string lanes(unsigned bits) {
  std::string out;
  for (int lane = 0; lane < 32; lane++) {
    if (bits >> lane & 1) out += (out.empty() ? "" : ",") + std::to_string(lane);
  }
  return out;
}

// What the waiting threads of the block wait for, for a deadlock's error.
std::string describe_deadlock() {
  int at_barrier = 0;
  std::string warps;
  for (size_t i = 0; i < launch->warps.size(); i++) {
    const Warp& w = launch->warps[i];
    if (w.arrived == 0) continue;
    const unsigned missing = w.mask & ~w.arrived;
    warps += "; warp " + std::to_string(i) + " waits in a shuffle for lanes " + lanes(missing) +
             ((missing & w.exited) ? " (returned: " + lanes(missing & w.exited) + ")" : "");
  }
  for (const Fiber& f : launch->fibers) at_barrier += !f.finished && f.wait == Wait::Block;
  return "deadlock in " + describe_block() + ": " + std::to_string(at_barrier) + " of " + std::to_string(launch->live) +
         " live threads wait at __syncthreads" + warps;
}

// Runs `f` until it waits or returns; false once the launch has failed.
bool resume(Fiber& f) {
  if (f.finished) return launch->error.empty();
  launch->current = &f;
#ifdef MINILM_EMU_ASAN
  __sanitizer_start_switch_fiber(&launch->scheduler_fake_stack, f.stack, launch->stack_bytes);
#endif
  swapcontext(&launch->scheduler, &f.context);
#ifdef MINILM_EMU_ASAN
  __sanitizer_finish_switch_fiber(launch->scheduler_fake_stack, nullptr, nullptr);
#endif
  return launch->error.empty();
}

void run_block(unsigned block_number) {
  const unsigned threads = block_dim.x * block_dim.y * block_dim.z;
  launch->fibers.assign(threads, Fiber{});
  launch->warps.assign((threads + 31) / 32, Warp{});
  launch->warps.back().lanes = threads - 32 * (launch->warps.size() - 1);
  launch->live = threads;
  launch->block_arrived = 0;
  for (unsigned i = 0; i < threads; i++) {
    Fiber& f = launch->fibers[i];
    f.index = dim3{i % block_dim.x, i / block_dim.x % block_dim.y, i / (block_dim.x * block_dim.y)};
    f.warp = i / 32;
    f.lane = i % 32;
  }
  // Warps run ahead of each other, in a shuffled order, and the lanes of a warp start in a shuffled
  // order: a read that another thread's write should precede (a missing __syncthreads) then finds the
  // write not yet done, or already overwritten by a warp that ran on into the next phase.
  std::mt19937 random(block_number * 2654435761u + 12345);
  std::vector<std::vector<unsigned>> warp_lanes(launch->warps.size());
  for (unsigned i = 0; i < threads; i++) warp_lanes[i / 32].push_back(i);
  for (auto& lanes : warp_lanes) std::shuffle(lanes.begin(), lanes.end(), random);
  std::shuffle(warp_lanes.begin(), warp_lanes.end(), random);

  for (unsigned i = 0; i < threads; i++) {
    Fiber& f = launch->fibers[i];
    getcontext(&f.context);
    f.stack = stacks[i];
    f.context.uc_stack.ss_sp = stacks[i];
    f.context.uc_stack.ss_size = launch->stack_bytes;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiber_main, 0);
  }
  while (launch->live > 0 && launch->error.empty()) {
    const uint64_t before = launch->progress;
    for (const auto& lanes : warp_lanes) {
      // This warp's lanes, again and again while they move: up to a __syncthreads or their return.
      for (uint64_t moved = ~0ull; moved != launch->progress;) {
        moved = launch->progress;
        for (unsigned i : lanes) {
          if (!resume(launch->fibers[i])) return;
        }
      }
    }
    if (launch->progress == before && launch->live > 0) {
      launch->error = describe_deadlock();
      return;
    }
  }
}

}  // namespace

const dim3& thread_idx() { return launch->current->index; }

int lane_id() { return launch->current->lane; }

void sync_threads() {
  Fiber* f = launch->current;
  const uint64_t generation = launch->block_generation;
  launch->block_arrived++;
  launch->progress++;
  release_block_if_all_arrived();
  while (launch->block_generation == generation) {
    f->wait = Wait::Block;
    to_scheduler(false);
  }
  f->wait = Wait::Nothing;
}

uint64_t warp_exchange(unsigned mask, uint64_t value, int source_lane) {
  Fiber* f = launch->current;
  Warp& w = launch->warps[f->warp];
  const unsigned existing = w.lanes == 32 ? 0xffffffffu : (1u << w.lanes) - 1;
  if (!(mask >> f->lane & 1)) fail("a shuffle's mask leaves out the lane that calls it");
  if (mask & ~existing) {
    fail("a shuffle's mask names lanes " + lanes(mask & ~existing) + " of warp " + std::to_string(f->warp) +
         ", which the block of " + std::to_string(block_dim.x * block_dim.y * block_dim.z) + " threads does not have");
  }
  if (mask & w.exited) fail("a shuffle waits for lanes " + lanes(mask & w.exited) + ", which have returned");
  if (source_lane < 0 || source_lane > 31 || !(mask >> source_lane & 1)) {
    fail("a shuffle reads lane " + std::to_string(source_lane) + ", which its mask leaves out");
  }
  w.slots[f->lane] = value;
  warp_barrier(f, w, mask);
  const uint64_t out = w.slots[source_lane];
  warp_barrier(f, w, mask);  // nobody overwrites a slot before every lane has read
  return out;
}

}  // namespace minilm_emu

// Runs body(context) once per thread of a grid x block launch. Returns 0, or 1 with a message in
// `error` (a deadlock, a bad shuffle, a block over 1024 threads).
extern "C" int minilm_emu_launch(const unsigned grid[3], const unsigned block[3], void (*body)(void*), void* context,
                                 char* error, size_t error_len) {
  using namespace minilm_emu;
  auto report = [&](const std::string& message) {
    snprintf(error, error_len, "%s", message.c_str());
    return 1;
  };
  const unsigned long threads = (unsigned long)block[0] * block[1] * block[2];
  if (threads == 0 || threads > 1024) return report("a block of " + std::to_string(threads) + " threads (1 to 1024 allowed)");
  if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0) return report("an empty grid");
  // Kernels need little stack. Kept small because ASan clears a stack's shadow at every switch to it.
  const size_t stack_bytes = 64 * 1024;
  // One stack per thread of a block, each above a guard page that turns an overflow into a fault.
  const size_t page = (size_t)sysconf(_SC_PAGESIZE), span = stack_bytes + page;
  char* memory = (char*)mmap(nullptr, span * threads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return report("cannot map fiber stacks");
  stacks.assign(threads, nullptr);
  for (unsigned long i = 0; i < threads; i++) {
    mprotect(memory + i * span, page, PROT_NONE);
    stacks[i] = memory + i * span + page;
  }
  Launch state;
  state.body = body;
  state.context = context;
  state.stack_bytes = stack_bytes;
  launch = &state;
  grid_dim = dim3{grid[0], grid[1], grid[2]};
  block_dim = dim3{block[0], block[1], block[2]};
  unsigned block_number = 0;
  for (unsigned z = 0; z < grid[2] && state.error.empty(); z++) {
    for (unsigned y = 0; y < grid[1] && state.error.empty(); y++) {
      for (unsigned x = 0; x < grid[0] && state.error.empty(); x++) {
        block_idx = dim3{x, y, z};
        run_block(block_number++);
      }
    }
  }
  launch = nullptr;
  munmap(memory, span * threads);
  if (!state.error.empty()) return report(state.error);
  return 0;
}
