// The daemon's allocator settings, read by jemalloc when the process starts (the `malloc_conf`
// symbol; the MALLOC_CONF environment variable, read after it, can override any of them).
//
// Why jemalloc: glibc's per-thread arenas interleave each client's short-lived buffers with
// long-lived objects (Asio keeps one reactor state per socket it has ever seen, pooled, never
// freed), so after 5,000 clients leave almost every page still holds one live object and
// malloc_trim can return nothing. jemalloc keeps each size class on its own pages, so the pages
// the clients used become empty and are returned.
//
// - background_thread: a jemalloc thread returns unused pages on a timer, so memory is given
//   back a second after a burst even when the workers are idle (no allocation to trigger it).
// - dirty_decay_ms / muzzy_decay_ms: freed pages go back to the kernel after about a second
//   (MADV_DONTNEED at once, no lazy "muzzy" stage that would still count in RSS).
extern "C" {
// NOLINTNEXTLINE: the name and type jemalloc looks up
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
