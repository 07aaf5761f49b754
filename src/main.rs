// mimalloc: the loader, planner and state build many small maps and
// strings; the system allocator spent a quarter of a large plan in
// malloc/free (docs/benchmarks.md). `--features system-alloc` leaves it out,
// for heap profilers that watch malloc (heaptrack).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pgstack::cli::main()
}
